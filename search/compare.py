"""``python -m search.compare results/a results/b ...``: runs of a search side by side, at equal wall time.

For each run: genomes screened (sampled and finished) per CPU-hour and the hypervolume of its front after
the same wall time T (default: the shortest run's); per arm (the settings in which the runs differ) the mean +-
SD over its runs, and each arm against the first run's, paired by sampler seed, with 95 % intervals. The runs
ran on one machine, one after another or at once with its CPUs split (``--cpus`` is what each had); runs
whose trials trained on different hosts are flagged.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evaluators.arguments import positive_float, refuse

from .results import comparison_markdown
from .study import StudyError, load_existing_study


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m search.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("study_dirs", type=Path, nargs="+", help="results folders of the runs (each holds study.json)")
    parser.add_argument("--seconds", type=positive_float, default=None,
                        help="the equal wall time T, in seconds (default: the shortest run's)")
    parser.add_argument("--cpus", type=positive_float, default=2, help="CPUs each run had (default 2)")
    args = parser.parse_args(argv)
    folders = [folder.resolve() for folder in args.study_dirs]
    repeated = next((given for given, folder in zip(args.study_dirs, folders) if folders.count(folder) > 1), None)
    if repeated:
        parser.exit(2, f"error: study_dirs: {repeated} is given twice; each run is compared once, with other runs\n")
    try:
        studies = [load_existing_study(folder, named_by_flags=False) for folder in args.study_dirs]
        print(comparison_markdown(studies, args.seconds, args.cpus))
    except StudyError as error:
        refuse(parser, error, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
