"""The Optuna side of a search: the study's storage, its samplers, its fixed baselines, the search space,
settling what a stopped run left open, and the trained weights its folder keeps."""

from ._baselines import enqueue_baselines
from ._samplers import SAMPLERS, make_sampler
from ._settle import INTERRUPTED, finished_trials, settle_unfinished
from ._space import SearchSpace, default_space, genome_params, load_space, suggest
from ._storage import (DIRECTIONS, METRICS, StudyError, check_same_settings, default_storage, load_existing_study,
                       open_study, write_study_pointer)
from ._weights import KEEP_WEIGHTS, kept_trials, prune_weights, trial_weights, weights_folder, weights_name

__all__ = ["DIRECTIONS", "INTERRUPTED", "KEEP_WEIGHTS", "METRICS", "SAMPLERS", "SearchSpace", "StudyError",
           "check_same_settings", "default_space", "default_storage", "enqueue_baselines", "finished_trials",
           "genome_params", "kept_trials", "load_existing_study", "load_space", "make_sampler", "open_study",
           "prune_weights", "settle_unfinished", "suggest", "trial_weights", "weights_folder", "weights_name",
           "write_study_pointer"]
