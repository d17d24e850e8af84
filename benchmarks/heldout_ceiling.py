"""Point 7's noise ceiling against the held-out reference: how well a perfect proxy could rank like it, through
both fidelities' seed noise.

The fidelity report prints this line only where its journal holds the baseline at two reference seeds or more,
and the held-out study trains one. The baseline's five reference seeds on the same 10,000 held-out images are in
``reference-noise/runs.jsonl`` (its ``extra_top1``, the same preset, data and held-out spec, trained by
``reference-noise/eval_noise.py``): their SD stands for every genome's reference seed noise here, as the
baseline's alone does in the fidelity report. The proxy's seed SD is pooled over every genome's two proxy seeds in
the journal. Set beside the observed Spearman, the ceiling says whether the proxy's disagreement with the reference
is noise (observed near the ceiling) or the two fidelities ranking by different things (observed far under it).
``--proxy-runs`` takes the proxy's runs from another journal instead, e.g. a proxy variant's (``proxy_variant.py``'s
folders hold one variant at two seeds of every genome).

    python benchmarks/heldout_ceiling.py [JOURNAL] [--proxy-runs VARIANT_JOURNAL]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
from collections import defaultdict
from pathlib import Path
from typing import NoReturn

from evaluators.fidelity import SeedNoise, held_out_references, noise_ceiling_line, pooled_seed_noise, read_journal
from evaluators.ranking import spearman

HERE = Path(__file__).resolve().parent
HELD_OUT = "synthetic:seed=1,train=1,val=1000"
HELD_OUT_IMAGES = 10_000
DEFAULT_IMAGES = 1_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("journal", nargs="?", type=Path, default=HERE / "fidelity-heldout" / "runs.jsonl")
    parser.add_argument("--baseline-seeds", type=Path, default=HERE / "reference-noise" / "runs.jsonl",
                        help="the baseline's reference seeds on the held-out images (eval_noise.py's journal)")
    parser.add_argument("--proxy-runs", type=Path, default=None,
                        help="the journal whose proxy runs to judge (default: JOURNAL's own)")
    args = parser.parse_args()
    for flag, path in (("JOURNAL", args.journal), ("--proxy-runs", args.proxy_runs),
                       ("--baseline-seeds", args.baseline_seeds)):
        if path is not None and not path.is_file():
            parser.exit(2, f"error: {flag}: no such file {path}\n")

    try:
        runs = synthetic_runs(args.journal)
        references = held_out_references(runs)
        elsewhere = any(record["held_out"] != HELD_OUT for record in references.values())
    except (KeyError, ValueError, IndexError) as error:
        refuse_journal(parser, args.journal, error)
    if elsewhere:
        parser.exit(2, f"error: {args.journal}: the baseline's seeds are on {HELD_OUT}'s images, its reference runs "
                       f"are not\n")
    held_out = {genome: record["held_out_top1"] for genome, record in references.items()}
    proxy_runs: dict[str, dict[int, float]] = defaultdict(dict)
    proxy_names = set()
    try:
        for record in synthetic_runs(args.proxy_runs) if args.proxy_runs else runs:
            if record["fidelity"].startswith("proxy"):
                proxy_runs[record["genome_id"]][record["seed"]] = record["top1"]
                proxy_names.add(record["fidelity"])
    except (KeyError, ValueError, IndexError) as error:
        refuse_journal(parser, args.proxy_runs or args.journal, error, "--proxy-runs" if args.proxy_runs else "")
    if len(proxy_names) != 1:
        parser.exit(2, f"error: --proxy-runs must hold one proxy preset's runs, found {sorted(proxy_names)}\n")
    name = proxy_names.pop()
    try:
        baseline_lines = [json.loads(line) for line in args.baseline_seeds.read_text().splitlines() if line.strip()]
        baseline_id = baseline_lines[0]["genome_id"] if baseline_lines else None
        baseline_held_out = [line["extra_top1"] for line in baseline_lines if line["status"] == "ok"]
    except (KeyError, ValueError) as error:
        refuse_journal(parser, args.baseline_seeds, error, "--baseline-seeds")
    if len(baseline_held_out) < 2:
        parser.exit(2, f"error: --baseline-seeds {args.baseline_seeds}: {len(baseline_held_out)} finished run(s) of "
                       f"the baseline; a seed SD needs 2 or more\n")

    genomes = [genome for genome in held_out if {0, 1} <= proxy_runs[genome].keys()]
    if len(genomes) < 3:
        parser.exit(2, f"error: {len(genomes)} genome(s) with a held-out reference in {args.journal} and {name} seeds 0 "
                       f"and 1; a ceiling needs 3 or more\n")
    reference = [held_out[genome] for genome in genomes]
    proxy_noise = pooled_seed_noise({genome: list(runs.values()) for genome, runs in proxy_runs.items()})
    reference_noise = SeedNoise(statistics.stdev(baseline_held_out), len(baseline_held_out) - 1, (baseline_id,))
    print(f"{len(genomes)} genomes with a held-out reference ({HELD_OUT}) in {args.journal} and {name} seeds 0 and "
          f"1; {name}'s seed noise from {len(proxy_runs)} genomes' seeds in {args.proxy_runs or args.journal}, the "
          f"reference's from the baseline's {len(baseline_held_out)} seeds on the same held-out images "
          f"({args.baseline_seeds})")
    # A mean of two seeds carries the seed noise over the square root of two (the same 1,000 evaluation images).
    for label, seeds, noise in ((f"{name} (seed 0)", (0,), proxy_noise),
                                (f"{name} (mean of seeds 0 and 1)", (0, 1),
                                 dataclasses.replace(proxy_noise, sd=proxy_noise.sd / math.sqrt(2)))):
        proxy = [statistics.fmean(proxy_runs[genome][seed] for seed in seeds) for genome in genomes]
        print(f"observed: {label} vs reference on the held-out images, spearman {spearman(proxy, reference):.3f}")
        print(noise_ceiling_line([(label, proxy), ("reference on held-out images", reference)],
                                 [list(proxy_runs[baseline_id].values()), baseline_held_out],
                                 [noise, reference_noise], [DEFAULT_IMAGES, HELD_OUT_IMAGES]))


def refuse_journal(parser: argparse.ArgumentParser, path: Path, error: Exception, flag: str = "") -> NoReturn:
    """A journal that cannot be read as one, in one line naming it (``read_journal``'s own message names it
    already): a record without a field this script reads, or what ``read_journal`` or ``held_out_references``
    found wrong."""
    text = f"a record lacks the field {error}" if isinstance(error, KeyError) else str(error)
    if not text.startswith(f"{path}:"):
        text = f"{path}: {text}"
    parser.exit(2, f"error: {' '.join(filter(None, [flag, text]))}\n")


def synthetic_runs(journal: Path) -> list[dict]:
    """The journal's finished trainings on the default data (a key is [genome, preset, data, seed, ...])."""
    return [record for record in read_journal(journal).values()
            if record["status"] == "ok" and json.loads(record["key"])[2] == "synthetic"]


if __name__ == "__main__":
    main()
