"""Runs a study: opens its storage, queues the baselines, drives Ray Tune trials, writes the results."""

from __future__ import annotations

import dataclasses
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import optuna
import ray
from optuna.trial import TrialState
from ray import tune

from evaluators.presets import Fidelity

from .progress import StudyProgress
from .ray_session import ensure_ray
from .report import pareto_table, trials_frame, write_report
from .search_space import SearchSpace
from .study import (METRICS, StudySearch, default_storage, define_by_run, enqueue_baselines, settle_unfinished,
                    finished_trials, make_sampler, open_study, write_study_pointer)
from .trial import TrialSettings, run_trial


@dataclass(frozen=True)
class SearchConfig:
    study_name: str
    study_dir: Path
    storage: str | None
    resume: bool
    budget: int
    data: str
    num_classes: int
    fidelity: Fidelity
    space: SearchSpace
    search_training: bool
    sampler: str
    seed: int
    baseline_blocks: list[str]
    address: str | None
    cpus_per_trial: float
    gpus_per_trial: float
    max_concurrent: int | None
    cache_dir: str | None
    device: str = "auto"


@dataclass
class Outcome:
    completed: int
    failed: int
    pareto_table: str
    interrupted: bool
    paths: dict[str, Path | str] = field(default_factory=dict)


def run_search(config: SearchConfig) -> Outcome:
    """Run the study up to ``config.budget`` trials and rebuild its result files; safe to call again."""
    study_dir = config.study_dir.resolve()
    storage = config.storage or default_storage(study_dir)
    study_dir.mkdir(parents=True, exist_ok=True)
    exists = config.study_name in optuna.get_all_study_names(storage) if _storage_exists(storage) else False
    if config.resume and not exists:
        raise ValueError(f"--resume: no study '{config.study_name}' in {storage}")
    study = open_study(config.study_name, storage, make_sampler(config.sampler, config.seed))
    _check_same_settings(study, config)
    write_study_pointer(study_dir, config.study_name, storage)

    settle_unfinished(study)
    fidelity = config.fidelity
    training = dict(lr=fidelity.lr, weight_decay=fidelity.weight_decay, label_smoothing=fidelity.label_smoothing)
    enqueue_baselines(study, config.baseline_blocks, config.num_classes, config.space,
                      training if config.search_training else None)
    remaining = config.budget - finished_trials(study)
    interrupted = False
    if remaining > 0:
        interrupted = _run_trials(config, study, storage, remaining, study_dir)
    paths = write_report(optuna.load_study(study_name=config.study_name, storage=storage), study_dir)
    frame = trials_frame(study)
    return Outcome(
        completed=int((frame["state"] == "COMPLETE").sum()) if len(frame) else 0,
        failed=int((frame["state"] == "FAIL").sum()) if len(frame) else 0,
        pareto_table=pareto_table(frame),
        interrupted=interrupted,
        paths=paths,
    )


def _run_trials(config: SearchConfig, study: optuna.Study, storage: str, remaining: int, study_dir: Path) -> bool:
    ensure_ray(config.address)
    cpus = ray.cluster_resources().get("CPU", 1)
    concurrent = config.max_concurrent or max(1, int(cpus // config.cpus_per_trial))
    # Trial k is sampled once trials 0..k-window are told. Twice the concurrency lets a free CPU start the
    # next trial while a slow one (a CondConv net trains ~3x longer on a CPU) is still running, yet keeps
    # a seed's study the same whatever order trials finish in.
    window = 2 * concurrent
    searcher = StudySearch(
        space=define_by_run(config.space, config.num_classes, config.search_training),
        metric=METRICS, mode=["max", "min"], sampler=make_sampler(config.sampler, config.seed),
        study_name=config.study_name, storage=optuna.storages.RDBStorage(storage), window=window,
        total=remaining,
    )
    settings = TrialSettings(data=config.data, fidelity=config.fidelity, seed=config.seed,
                             cache_dir=config.cache_dir, device=config.device)
    trainable = tune.with_resources(tune.with_parameters(run_trial, settings=settings),
                                    {"cpu": config.cpus_per_trial, "gpu": config.gpus_per_trial})
    done = finished_trials(study)
    points = [(t.values[0], t.values[1]) for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    progress = StudyProgress(total=config.budget, already_done=done, points=points)
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(search_alg=searcher, num_samples=remaining, max_concurrent_trials=concurrent,
                                    reuse_actors=True),
        run_config=tune.RunConfig(name=f"{config.study_name}-{os.getpid()}", storage_path=str(study_dir / "ray"),
                                  verbose=0, callbacks=[progress], log_to_file=True),
    )
    try:
        with warnings.catch_warnings():
            # Ray flags a define-by-run space that takes over a second: with the GP sampler that second is the
            # sampler fitting its model, as intended, not training misplaced in the searcher.
            warnings.filterwarnings("ignore", message="Define-by-run function passed in the `space`")
            tuner.fit()
    except KeyboardInterrupt:
        settle_unfinished(study)
        return True
    # Ray Tune stops gracefully on Ctrl-C and returns: trials it cut short are still RUNNING in the study.
    return settle_unfinished(study) > 0


def _check_same_settings(study: optuna.Study, config: SearchConfig) -> None:
    """A study mixes results only from one data set and one fidelity: refuse to continue it with others."""
    recorded = study.user_attrs
    current = {"data": config.data, "fidelity": dataclasses.asdict(config.fidelity)}
    for key, value in current.items():
        if key in recorded and recorded[key] != value:
            raise ValueError(f"study '{config.study_name}' was run with {key} {recorded[key]!r}, not {value!r}; "
                             "use another --study-name")
    for key, value in {**current, "sampler": config.sampler, "seed": config.seed,
                       "num_classes": config.num_classes}.items():
        if key not in recorded:
            study.set_user_attr(key, value)


def _storage_exists(storage: str) -> bool:
    if storage.startswith("sqlite:///"):
        return Path(storage[len("sqlite:///"):]).exists()
    return True

