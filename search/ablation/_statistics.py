"""Per-arm statistics of an ablation: each arm's change against the baseline arm over the seeds they share."""

from __future__ import annotations

import pandas as pd

from ..results import paired_comparison
from ._levels import Arm


def arm_statistics(frame: pd.DataFrame, arms: list[Arm], latencies: dict[str, float] | None = None) -> pd.DataFrame:
    """Per arm over its successful runs only: n, top-1 mean and std, seconds' mean and std, and the paired change
    against the baseline arm with its interval and Holm-adjusted p-value (``search.results.paired_comparison``);
    with ``latencies``, each arm's latency in ms."""
    latencies = latencies or {}
    ok = frame[frame["status"] == "ok"]
    runs = pd.DataFrame({"arm": [arm.name for arm in arms], "seed": -1, "accuracy": float("nan")})
    runs = pd.concat([runs, ok[["arm", "seed", "accuracy"]]], ignore_index=True)  # every arm, even without runs
    reference = next(arm.name for arm in arms if arm.is_baseline)
    compared = paired_comparison(runs, reference).set_index("arm")
    rows = []
    for arm in arms:
        row = compared.loc[arm.name]
        seconds = ok.loc[ok["arm"] == arm.name, "seconds"].astype(float)
        rows.append({"arm": arm.name, "label": arm.label, "level": arm.level, "is_baseline": arm.is_baseline,
                     "macs": arm.macs, "latency_ms": latencies.get(arm.name, float("nan")), "params": arm.params,
                     "n": int(row["n"]), "mean": row["mean"],
                     "std": row["sd"], "n_paired": int(row["n_paired"]), "delta": row["delta"],
                     "ci_low": row["ci_low"], "ci_high": row["ci_high"], "p": row["p"], "p_holm": row["p_holm"],
                     "seconds": float(seconds.mean()) if len(seconds) else float("nan"),
                     "seconds_sd": float(seconds.std(ddof=1)) if len(seconds) > 1 else float("nan")})
    return pd.DataFrame(rows)
