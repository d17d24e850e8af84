"""Print what the two proxy-noise experiments in this folder measured (their journals: eval-runs.jsonl and
recipe-runs.jsonl):

    python benchmarks/proxy-noise/summarise.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from search.results import TEST, paired_comparison

HERE = Path(__file__).resolve().parent


def main() -> None:
    evaluations()
    recipes()


def evaluations() -> None:
    runs = [json.loads(line) for line in (HERE / "eval-runs.jsonl").read_text().splitlines()]
    runs = [run for run in runs if run["status"] == "ok"]
    print(f"Evaluating the final weights otherwise, minus as trained (top-1 points), over {len(runs)} proxy runs "
          f"(genome/seed): {', '.join(str(r['genome_id']) + '/' + str(r['seed']) for r in runs)}")
    variants = [key for key in runs[0] if isinstance(runs[0][key], dict) and key != "stock"]
    for variant in variants:
        differences = np.array([run[variant]["top1"] - run["stock"]["top1"] for run in runs if variant in run])
        print(f"  {variant:20s} n = {len(differences)}: {' '.join(f'{d:+.1f}' for d in differences)}; "
              f"mean {differences.mean():+.2f}")


def recipes() -> None:
    runs = pd.DataFrame([json.loads(line) for line in (HERE / "recipe-runs.jsonl").read_text().splitlines()])
    for block, group in runs.groupby("block"):
        frame = group.assign(accuracy=group["top1"].where(group["status"] == "ok"))
        table = paired_comparison(frame[["arm", "seed", "accuracy"]], reference="stock")
        print(f"\nRecipe arms on the {block} baseline at the proxy, paired by training seed ({TEST}):")
        for row in table.itertuples():
            line = f"  {row.arm:8s} n = {row.n}: {row.mean:.2f} +- {row.sd:.2f} %"
            if row.arm != "stock":
                line += (f"; minus stock {row.delta:+.2f} [{row.ci_low:+.2f}, {row.ci_high:+.2f}] (n = {row.n_paired}"
                         f" pairs), Holm p {row.p_holm:.3f}")
            print(line)
        for arm, arm_runs in group.groupby("arm", sort=False):
            arm_runs = arm_runs.sort_values("seed")
            early = [np.mean([point[1] for point in curve[:2]]) for curve in arm_runs["curve"]]
            print(f"  {arm:8s} by seed: top-1 {' '.join(f'{v:.1f}' for v in arm_runs['top1'])}; evaluation loss "
                  f"{' '.join(f'{v:.2f}' for v in arm_runs['loss'])}; training loss over the first fifth of the "
                  f"steps {' '.join(f'{v:.2f}' for v in early)}")


if __name__ == "__main__":
    main()
