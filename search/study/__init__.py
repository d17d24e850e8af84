"""The Optuna side of a search: the study's storage, its samplers, its fixed baselines, the search space,
and settling what a stopped run left open."""

from ._baselines import enqueue_baselines
from ._samplers import SAMPLERS, make_sampler
from ._settle import INTERRUPTED, finished_trials, settle_unfinished
from ._space import SearchSpace, default_space, genome_params, load_space, suggest
from ._storage import (DIRECTIONS, METRICS, StudyError, check_same_settings, default_storage, load_existing_study,
                       open_study, write_study_pointer)

__all__ = ["DIRECTIONS", "INTERRUPTED", "METRICS", "SAMPLERS", "SearchSpace", "StudyError", "check_same_settings",
           "default_space", "default_storage", "enqueue_baselines", "finished_trials", "genome_params",
           "load_existing_study", "load_space", "make_sampler", "open_study", "settle_unfinished", "suggest",
           "write_study_pointer"]
