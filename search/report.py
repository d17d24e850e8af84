"""``python -m search.report results/<study>``: rebuild every result file of a study from its storage alone.

The study's storage is the single source of truth (every trial keeps its genome and measurements as
user attrs), so the files can be regenerated at any time, during a run or after it, from any machine
that can reach the storage::

    python -m search.report results/<study>                    # storage and name from study.json
    python -m search.report results/<study> --storage postgresql://... --study-name NAME
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evaluators.arguments import refuse

from .results import pareto_table, trials_frame, write_report
from .study import StudyError, load_existing_study


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m search.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("study_dir", type=Path, help="results folder of the study (holds study.json)")
    parser.add_argument("--storage", help="Optuna storage URL (default: from study.json)")
    parser.add_argument("--study-name", help="study name in the storage (default: from study.json)")
    args = parser.parse_args(argv)
    try:
        study = load_existing_study(args.study_dir, args.storage, args.study_name)
    except StudyError as error:
        refuse(parser, error, args)
    paths = write_report(study, args.study_dir)
    print(pareto_table(trials_frame(study)))
    print()
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
