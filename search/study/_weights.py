"""Trained weights a search keeps in its study folder: ``weights/<genome id>-seed<train seed>.safetensors``.

Every trial writes its weights there (atomically, after each evaluation: the last file is the weights its
recorded accuracy was measured on). A study folder then keeps, by ``--keep-weights``: ``front`` (default)
the weights of the completed trials on the Pareto front and of the baseline trials, ``all`` every trial's,
``none`` nothing (trials write none). Pruning removes the files of finished trials outside what is kept;
a trial that is still running, here or in another process on the same study, is never touched. A trial
that leaves the front can never come back to it (more trials only add dominating points), so a file pruned
now is never wanted later.
"""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from space import Genome

from ..pareto import minimise_form, nondominated_mask
from ._objectives import directions, study_objectives

KEEP_WEIGHTS = ("front", "all", "none")
FOLDER = "weights"
FINISHED = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)


def weights_folder(study_dir: Path) -> Path:
    return Path(study_dir) / FOLDER


def weights_name(genome_id: str, train_seed: int) -> str:
    """A trial's weights file name: its genome and its training seed (unique per trial of a study)."""
    return f"{genome_id}-seed{train_seed}.safetensors"


def trial_weights(study_dir: Path, trial: FrozenTrial) -> Path | None:
    """Where a trial's weights are (or would be); None for a trial that never got a genome or a seed."""
    genome, seed = trial.user_attrs.get("genome"), trial.user_attrs.get("train_seed")
    if genome is None or seed is None:
        return None
    # The id as the trial computes it from the genome it trained (not a stored id an older version wrote).
    return weights_folder(study_dir) / weights_name(Genome.from_dict(genome).id, seed)


def kept_trials(study: optuna.Study, keep: str) -> set[int]:
    """The numbers of the trials whose weights ``keep`` keeps (``front``: the front's and the baselines')."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if keep == "all":
        return {trial.number for trial in study.get_trials(deepcopy=False)}
    if keep == "none" or not complete:
        return set()
    on_front = nondominated_mask(minimise_form([t.values for t in complete], directions(study_objectives(study))))
    return {trial.number for trial, front in zip(complete, on_front) if front or trial.user_attrs.get("is_baseline")}


def prune_weights(study: optuna.Study, study_dir: Path, keep: str) -> list[Path]:
    """Remove the weights of finished trials that ``keep`` does not keep; returns the removed files.

    ``none`` prunes nothing: it only stops new trials from writing weights.
    """
    if keep not in KEEP_WEIGHTS:
        raise ValueError(f"--keep-weights: must be one of {', '.join(KEEP_WEIGHTS)}, got {keep!r}")
    if keep == "none":
        return []
    kept = kept_trials(study, keep)
    removed = []
    for trial in study.get_trials(deepcopy=False, states=FINISHED):
        path = trial_weights(study_dir, trial)
        if trial.number not in kept and path is not None and path.exists():
            path.unlink()
            removed.append(path)
    return removed
