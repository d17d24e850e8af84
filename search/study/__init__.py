"""The Optuna side of a search: the study's storage, its samplers, its fixed baselines, the search space,
settling what a stopped run left open, the runs that share it (owners, heartbeats, the lock), the
successive-halving rungs its trials climb, and the trained weights its folder keeps."""

from ._baselines import enqueue_baselines
from ._objectives import (DEFAULT_OBJECTIVES, OBJECTIVES, Objective, check_objectives, directions, metrics,
                          parse_objectives, study_objectives)
from ._rungs import (CONTINUE, PENDING, RUNG_ACCURACY, SCHEDULERS, STOP, Halving, Ladder, Standing, chance_floor,
                     promoted, promotion_order, rung_units)
from ._samplers import SAMPLERS, make_sampler
from ._settle import (ENDED, INTERRUPTED, conclude, continued_halving, finished_trials, load_ladder,
                      settle_unfinished)
from space import SearchSpace, default_space, genome_params, suggest

from ._space import load_space
from ._storage import (DIRECTIONS, METRICS, StudyError, check_same_settings, default_storage, load_existing_study,
                       open_study, record_settings, study_exists, write_study_pointer)
from ._weights import KEEP_WEIGHTS, kept_trials, prune_weights, trial_weights, weights_folder, weights_name
from ._workers import DEFAULT_GRACE, DONE, SAMPLE, WAIT, WORKER, Worker

__all__ = ["CONTINUE", "DEFAULT_GRACE", "DEFAULT_OBJECTIVES", "DIRECTIONS", "DONE", "ENDED", "INTERRUPTED",
           "KEEP_WEIGHTS", "METRICS", "OBJECTIVES", "PENDING", "RUNG_ACCURACY", "SAMPLE", "SAMPLERS", "SCHEDULERS",
           "STOP", "WAIT", "WORKER", "Halving", "Ladder", "Objective", "SearchSpace", "Standing", "StudyError",
           "Worker", "chance_floor", "check_objectives", "check_same_settings", "conclude", "continued_halving",
           "default_space", "default_storage",
           "directions", "enqueue_baselines", "finished_trials", "genome_params", "kept_trials",
           "load_existing_study", "load_ladder", "load_space", "make_sampler", "metrics", "open_study",
           "parse_objectives", "promoted", "promotion_order", "prune_weights", "record_settings", "rung_units",
           "settle_unfinished",
           "study_exists", "study_objectives", "suggest", "trial_weights", "weights_folder", "weights_name", "write_study_pointer"]
