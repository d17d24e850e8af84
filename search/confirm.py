"""``python -m search.confirm results/<study> --seeds K``: re-train the front and the baseline with fresh seeds.

Every Pareto genome of the study and its baseline train again with the same K training seeds, which no
search trial used, as Ray Tune trials; each finished run is saved at once under ``<study>/confirm/runs``,
so running the command again trains only what is missing. It writes ``confirmed.csv`` (per genome: mean
± SD over the seeds, the paired change vs the baseline with its 95 % interval, a verdict) and rebuilds the
study's reports, whose summary then quotes confirmed figures. By default it trains at the fidelity the
study was searched at; ``--fidelity`` and the per-setting flags train at another.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from evaluators.arguments import refuse
from evaluators.data import default_cache_dir
from evaluators.presets import add_fidelity_arguments, fidelity_from_args, recorded_fidelity

from ._cli import add_cluster_arguments, check_cluster, finish, resources_from_args


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m search.confirm", description=__doc__.splitlines()[0])
    p.add_argument("study_dir", type=Path, help="results folder of the study (holds study.json)")
    p.add_argument("--seeds", type=int, default=3, help="training seeds per genome, shared by all (default 3)")
    p.add_argument("--storage", help="Optuna storage URL (default: from study.json)")
    p.add_argument("--study-name", help="study name in the storage (default: from study.json)")
    add_cluster_arguments(p)
    add_fidelity_arguments(p, default=None, default_help="the study's")
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    try:
        if args.seeds < 2:
            raise ValueError(f"--seeds: must be >= 2 (a paired interval needs two seeds), got {args.seeds}")
        fidelity_from_args(args, base=None) if args.fidelity else None  # a bad override fails here, before Ray
        check_cluster(args)
    except ValueError as error:
        refuse(p, error, args)

    from .confirmation import ConfirmationError, confirm_front
    from .results import confirmation_section, write_report
    from .study import StudyError, load_existing_study

    try:
        study = load_existing_study(args.study_dir, args.storage, args.study_name)
        fidelity = fidelity_from_args(args, base=recorded_fidelity(study.user_attrs["fidelity"])
                                      if "fidelity" in study.user_attrs else None)
        if args.show_fidelity:
            print(fidelity.describe())
            return 0
        outcome = confirm_front(study, args.study_dir, args.seeds, fidelity, resources_from_args(args),
                                str(default_cache_dir().resolve()))
    except (StudyError, ConfirmationError, ValueError) as error:
        refuse(p, error, args)
    print(confirmation_section(outcome.table))
    paths = {"confirmed_csv": outcome.path, **write_report(study, args.study_dir)}
    return finish(paths, not outcome.complete, "train the missing confirmation runs")


if __name__ == "__main__":
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    sys.exit(main())
