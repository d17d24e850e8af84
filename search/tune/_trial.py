"""What one Ray Tune trial does: build the genome, train the proxy, report accuracy, MACs, params, seconds
(and, when the study optimises latency, the latency its predictor gives the genome: predicted, never measured).

The trial never raises for a genome that is invalid or diverges: it reports ``status = failed`` with the
reason, so the study records the failure and goes on. Anything else it raises is caught the same way.
"""

from __future__ import annotations

import socket
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray import tune

from evaluators.data import load_data
from evaluators.latency import LatencyPredictor, MissingRows
from evaluators.presets import Fidelity
from evaluators.saving import training_details
from evaluators.trainer import SnapshotFn, Units, train
from space import Genome, cost_of, save_weights

from ..study import weights_name

RECORDED = ("status", "reason", "accuracy", "best_accuracy", "top5", "macs", "params", "seconds", "epochs",
            "steps", "units", "fidelity", "data", "precision", "device", "train_seed", "latency_ms",
            "latency_measured_share", "latency_machine", "node", "host")
"""Result keys copied into the Optuna trial's user attrs: the study alone must rebuild every report."""


@dataclass(frozen=True)
class TrialSettings:
    """What every trial of one study shares (passed once through ``tune.with_parameters``).

    Not the training seed: each trial's config carries its own (``train_seed``), so trials of one study do not
    all draw the same initialisation and batches, and a genome can be re-trained with fresh seeds.
    """

    data: str
    fidelity: Fidelity
    cache_dir: str | None
    device: str = "auto"
    weights_dir: str | None = None
    """Where the trial writes its weights (``search.study.weights_name``) after each evaluation; None: nowhere."""
    units: Units | None = None
    """Train in these units (a search's rungs), reporting after each; else report after each epoch."""
    latency: LatencyPredictor | None = None
    """The study's latency predictor when it optimises latency (built before trials start): each trial
    predicts its genome's latency from it, and never measures one."""


def run_trial(config: dict[str, Any], settings: TrialSettings) -> None:
    """Ray Tune function trainable: progress reports after every unit (or epoch), then one final report with
    the objectives. A report after a unit carries ``units`` (trained so far) and the accuracy when the unit
    ends a rung (else None); the last unit's report is the final one, so the top rung is recorded once.

    ``config``: ``genome`` (a genome dict), ``train_seed``, optionally ``training`` (fidelity overrides);
    or ``invalid`` (why the sampled params make no genome), reported as a failure.
    """
    if config.get("invalid"):
        tune.report(_failure(config["invalid"], settings))
        return
    genome = Genome.from_dict(config["genome"])
    fidelity = settings.fidelity.replace(**config.get("training", {}))
    threads = max(1, int(tune.get_context().get_trial_resources().required_resources.get("CPU", 1)))
    costs = cost_of(genome)
    try:
        latency = _latency(genome, settings.latency)
    except MissingRows as error:
        tune.report({**_failure(str(error), settings), "macs": costs.total_macs, "params": costs.total_params})
        return

    def progress(record: dict[str, Any]) -> None:
        # Ray Tune wants the objectives in every report; the final report's values are the trial's.
        report = {"accuracy": record["top1"], "macs": costs.total_macs, **latency, "status": "running"}
        if "unit" not in record:
            tune.report({**report, "epoch": record["epoch"]})
        elif record["unit"] < record["units"]:
            tune.report({**report, "units": record["unit"]})

    try:
        data = load_data(settings.data, cache_dir=settings.cache_dir)
        result = train(genome, data, fidelity, seed=config["train_seed"], device=_device(settings.device),
                       threads=threads, progress=progress, units=settings.units,
                       snapshot=_weights_writer(genome, fidelity, config["train_seed"], settings))
    except Exception as error:  # a trial's crash must not stop the study
        line = traceback.format_exception_only(type(error), error)[-1].strip()
        tune.report({**_failure(line, settings), "macs": costs.total_macs, "params": costs.total_params, **latency})
        return
    report = {key: value for key, value in result.to_dict(with_history=False).items() if key in RECORDED}
    report.update(latency)
    report.update(_where())
    report["train_seed"] = config["train_seed"]
    if not result.ok:
        report["accuracy"] = None
    tune.report(report)


def _weights_writer(genome: Genome, fidelity: Fidelity, seed: int, settings: TrialSettings) -> SnapshotFn | None:
    """The trainer's snapshot callback that keeps the latest weights: the last ones are those the trial's
    accuracy was measured on. Written atomically, so a stopped trial never leaves half a file."""
    if not settings.weights_dir:
        return None
    path = Path(settings.weights_dir) / weights_name(genome.id, seed)
    details = training_details(fidelity, settings.data, seed)

    def write(model: Any, evaluation: dict[str, Any]) -> None:
        save_weights(path, model, model.genome, epoch=evaluation["epoch"], top1=evaluation["top1"], **details)

    return write


def _latency(genome: Genome, predictor: LatencyPredictor | None) -> dict[str, Any]:
    """The genome's predicted latency and the machine it is predicted for; nothing without a predictor."""
    if predictor is None:
        return {}
    prediction = predictor.predict(genome)
    return {"latency_ms": prediction.ms, "latency_measured_share": prediction.measured_share,
            "latency_machine": predictor.machine.describe()}


def _device(asked: str) -> str:
    """``auto``: the GPU Ray assigned the trial (Ray sets CUDA_VISIBLE_DEVICES, so it is torch's cuda:0), or
    the CPU when Ray assigned none, even on a machine with GPUs."""
    if asked != "auto":
        return asked
    return "cuda" if ray.get_gpu_ids() else "cpu"


def _where() -> dict[str, str]:
    """The Ray node (its id: nodes of one machine share an IP) and the host the trial trained on."""
    return {"node": ray.get_runtime_context().get_node_id(), "host": socket.gethostname()}


def _failure(reason: str, settings: TrialSettings) -> dict[str, Any]:
    return {"status": "failed", "reason": reason, "accuracy": None, "macs": None, "fidelity": settings.fidelity.name,
            "data": settings.data, **_where()}
