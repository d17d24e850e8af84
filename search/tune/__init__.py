"""The Ray Tune side of a search: one trial's training, the searcher that asks the study for genomes, the
successive-halving scheduler, progress lines, and running a study's trials on a Ray cluster."""

from ._cluster import ensure_ray
from ._moasha import MultiObjectiveASHA
from ._progress import StudyProgress
from ._runner import Ending, run_trials
from ._searcher import StudySearch, define_by_run
from ._seeded import Resources, check_settings, load_runs, save_run, train_runs
from ._trial import RECORDED, TrialSettings, run_trial

__all__ = ["RECORDED", "Ending", "MultiObjectiveASHA", "Resources", "StudyProgress", "StudySearch", "TrialSettings",
           "check_settings", "define_by_run", "ensure_ray", "load_runs", "run_trial", "run_trials", "save_run",
           "train_runs"]
