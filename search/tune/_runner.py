"""Running a study's remaining trials as Ray Tune trials, driven by the study's sampler."""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Callable, Literal

import optuna
from optuna.trial import TrialState
from ray import tune

from evaluators.latency import LatencyPredictor
from evaluators.trainer import Units

from .._config import SearchConfig
from ..study import Worker, directions, finished_trials, load_ladder, make_sampler, metrics, weights_folder
from ._cluster import concurrent_trials, ensure_ray, trial_resources
from ._moasha import MultiObjectiveASHA
from ._progress import StudyProgress
from ._searcher import StudySearch, define_by_run
from ._trial import TrialSettings, run_trial

Ending = Literal["finished", "interrupted", "time limit"]
"""How a run's trials ended: all trained, stopped by Ctrl-C or a signal, or stopped at ``--time-limit``."""


def run_trials(config: SearchConfig, study: optuna.Study, storage: str, remaining: int, study_dir: Path,
               worker: Worker, tidy: Callable[[optuna.Study], None], latency: LatencyPredictor | None = None
               ) -> Ending:
    """Train at most ``remaining`` more trials, fewer when other runs share the study (``worker``: this run's
    claim on it; ``tidy`` settles abandoned trials and queues missing baselines before each new trial);
    returns how the run ended. ``latency`` predicts each trial's latency when the study optimises it."""
    ensure_ray(config.address)
    resources = trial_resources(config.cpus_per_trial, config.gpus_per_trial)
    concurrent = concurrent_trials(resources, config.max_concurrent)
    # Trial k is sampled once trials 0..k-window are told. Twice the concurrency lets a free CPU start the
    # next trial while a slow one (a CondConv net trains ~3x longer on a CPU) is still running, yet keeps
    # a seed's study the same whatever order trials finish in.
    window = 2 * concurrent
    halving = config.halving
    # Rebuilt from the storage, so decisions after a stop are the ones an unstopped run would make.
    ladder = load_ladder(study, halving) if halving.stops else None
    searcher = StudySearch(
        space=define_by_run(config.space, config.num_classes, config.search_training, config.train_seed),
        metric=metrics(config.objectives), mode=modes(config.objectives),
        sampler=make_sampler(config.sampler, config.seed + worker.ordinal),  # see Worker.join
        study_name=config.study_name, storage=optuna.storages.RDBStorage(storage), window=window,
        total=remaining, halving=halving, ladder=ladder, worker=worker, budget=config.budget, tidy=tidy,
    )
    scheduler = MultiObjectiveASHA(ladder, searcher) if ladder is not None else None
    settings = TrialSettings(data=config.data, fidelity=config.fidelity, cache_dir=config.cache_dir,
                             device=config.device, units=Units(halving.max_units, evaluate=halving.rungs),
                             weights_dir=None if config.keep_weights == "none" else str(weights_folder(study_dir)),
                             latency=latency)
    trainable = tune.with_resources(tune.with_parameters(run_trial, settings=settings), resources)
    points = [tuple(t.values) for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    progress = StudyProgress(total=config.budget, already_done=finished_trials(study), points=points,
                             objectives=config.objectives)
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(search_alg=searcher, scheduler=scheduler, num_samples=remaining,
                                    max_concurrent_trials=concurrent, reuse_actors=True,
                                    time_budget_s=config.time_limit),
        run_config=tune.RunConfig(name=f"{config.study_name}-{os.getpid()}", storage_path=str(study_dir / "ray"),
                                  verbose=0, callbacks=[progress], log_to_file=True),
    )
    started = time.monotonic()
    try:
        with warnings.catch_warnings():
            # Ray flags a define-by-run space that takes over a second: with the GP sampler that second is the
            # sampler fitting its model, as intended, not training misplaced in the searcher.
            warnings.filterwarnings("ignore", message="Define-by-run function passed in the `space`")
            tuner.fit()
    except KeyboardInterrupt:
        worker.settle(study, halving, mine=True)
        return "interrupted"
    # Ray Tune stops gracefully on Ctrl-C and at the time limit, and returns: the trials it cut short are still
    # RUNNING in the study, never told to the searcher (this run's are settled, never another live run's).
    cut_short = worker.settle(study, halving, mine=True)
    if config.time_limit is not None and time.monotonic() - started >= config.time_limit:
        return "time limit"
    return "interrupted" if cut_short else "finished"


def modes(objectives: tuple[str, ...]) -> list[str]:
    """Ray Tune's spelling of the objectives' directions."""
    return ["max" if direction == "maximize" else "min" for direction in directions(objectives)]
