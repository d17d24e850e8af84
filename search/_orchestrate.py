"""A search, as the story of one run: open the study, settle what stopped or dead runs left, queue the
baselines, run the trials (other runs may share the study), confirm the front (when asked), write the report
(of the whole study), keep the weights asked for. Each step is one call into the package that owns it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import optuna

from evaluators.data import load_data
from evaluators.trainer import check_units_fit

from . import confirmation, results, study, tune
from ._config import SearchConfig
from ._latency import prepare_latency


@dataclass
class Outcome:
    completed: int
    failed: int
    pareto_table: str
    interrupted: bool
    time_limited: bool = False
    paths: dict[str, Path | str] = field(default_factory=dict)
    stopped: int = 0
    rung_correlation: str = ""


def run_search(config: SearchConfig) -> Outcome:
    """Run the study up to ``config.budget`` trials and rebuild its result files; safe to call again."""
    study_dir = config.study_dir.resolve()
    made = _outermost_missing(study_dir)
    study_dir.mkdir(parents=True, exist_ok=True)
    storage = config.storage or study.default_storage(study_dir)
    try:
        the_study, config = _open_checked(config, storage)
    except ValueError:  # refused before anything ran: the empty folders this call made go again
        _remove_empty(study_dir, made)
        raise
    study.write_study_pointer(study_dir, config.study_name, storage)

    worker = study.Worker(storage, config.study_name, config.heartbeat_grace)
    try:
        ending = _run_as_worker(config, the_study, storage, study_dir, worker)
    finally:
        worker.close()
    interrupted = ending == "interrupted"
    if config.confirm_seeds and ending == "finished":
        interrupted = not confirmation.confirm_front(
            the_study, study_dir, config.confirm_seeds, config.fidelity,
            tune.Resources(config.address, config.cpus_per_trial, config.gpus_per_trial), config.cache_dir).complete

    paths = results.write_report(study.load_existing_study(study_dir, storage, config.study_name), study_dir)
    study.prune_weights(the_study, study_dir, config.keep_weights)
    if study.weights_folder(study_dir).is_dir():
        paths["weights"] = study.weights_folder(study_dir)
    frame = results.trials_frame(the_study)
    return Outcome(completed=int((frame["state"] == "COMPLETE").sum()), failed=int((frame["state"] == "FAIL").sum()),
                   pareto_table=results.pareto_table(frame), interrupted=interrupted,
                   time_limited=ending == "time limit", paths=paths,
                   stopped=int((frame["state"] == "PRUNED").sum()),
                   rung_correlation=results.rung_correlation_line(frame))


def _outermost_missing(folder: Path) -> Path | None:
    """The outermost of ``folder`` and its parents that does not exist yet: what ``mkdir(parents=True)`` makes."""
    missing = None
    for path in (folder, *folder.parents):
        if path.exists():
            break
        missing = path
    return missing


def _remove_empty(folder: Path, outermost: Path | None) -> None:
    """``folder`` and its parents up to ``outermost``, each only while empty: never a file, so never a study
    another run started in the same new folder meanwhile."""
    if outermost is None:
        return
    for path in (folder, *folder.parents):
        try:
            path.rmdir()
        except OSError:
            return
        if path == outermost:
            return


def _open_checked(config: SearchConfig, storage: str) -> tuple[optuna.Study, SearchConfig]:
    """The study, refused in one line when it cannot continue as asked (missing on --resume, other objectives,
    data or fidelity, rungs the run cannot fit); the config with the rungs a continued study keeps. A new study's
    rungs are checked before it is created, so that a refusal leaves no empty study in the storage; a continued
    study's (or one another run created meanwhile) once its rungs are read."""
    checked = None
    if not config.resume and not study.study_exists(config.study_name, storage):
        _check_rungs_fit(config)
        checked = config.halving
    the_study = study.open_study(config.study_name, storage, study.make_sampler(config.sampler, config.seed),
                                 must_exist=config.resume, directions=study.directions(config.objectives))
    study.check_objectives(the_study, config.objectives)
    config = dataclasses.replace(config, halving=study.continued_halving(the_study, config.halving,
                                                                         config.halving_given))
    settings = {"data": config.data, "fidelity": dataclasses.asdict(config.fidelity),
                "halving": dataclasses.asdict(config.halving)}
    study.check_same_settings(the_study, settings)
    if config.halving != checked:  # the rungs the study keeps: a continued one's, or those of a run that made it
        _check_rungs_fit(config)
    study.record_settings(the_study, settings, {"sampler": config.sampler, "seed": config.seed,
                                                "train_seed": config.train_seed, "num_classes": config.num_classes})
    return the_study, config


def _check_rungs_fit(config: SearchConfig) -> None:
    check_units_fit(config.halving.max_units, config.fidelity,
                    len(load_data(config.data, config.cache_dir).train_labels), "halving.max_units")


def _run_as_worker(config: SearchConfig, the_study: optuna.Study, storage: str, study_dir: Path,
                   worker: study.Worker) -> tune.Ending:
    """This run's part of the study, which other runs may share: settle what abandoned runs left, queue the
    missing baselines, train trials while the budget has room (and the time limit, if any); returns how it
    ended."""

    def tidy(shared: optuna.Study) -> None:
        with worker.lock:
            worker.settle(shared, config.halving)
            study.enqueue_baselines(shared, config.baseline_blocks, config.num_classes, config.space,
                                    _searched_training(config), replicates=config.baseline_seeds)

    if config.halving.stops:
        # Each run's successive-halving ladder holds the trials it knows: another run's would never settle on it.
        worker.wait_alone(the_study, "successive halving (--scheduler moasha) runs one run per study; use "
                                     "--scheduler fifo for several")
    worker.join(the_study)
    tidy(the_study)
    remaining = config.budget - study.finished_trials(the_study)
    if remaining <= 0:
        return "finished"
    latency = None
    if "latency" in config.objectives:
        latency = prepare_latency(config, the_study, study_dir, worker.lock)
    return tune.run_trials(config, the_study, storage, remaining, study_dir, worker, tidy, latency)


def _searched_training(config: SearchConfig) -> dict[str, float] | None:
    """The fidelity's training knobs when the search samples them too: the baselines train with these."""
    if not config.search_training:
        return None
    fidelity = config.fidelity
    return dict(lr=fidelity.lr, weight_decay=fidelity.weight_decay, label_smoothing=fidelity.label_smoothing)
