"""The Table 1 baselines as fixed trials of a study: queued once, trained exactly as Table 1."""

from __future__ import annotations

from collections import Counter

import optuna
from optuna.trial import TrialState

from space import SearchSpace, baseline, genome_params

from ._settle import INTERRUPTED


def enqueue_baselines(study: optuna.Study, blocks: list[str], num_classes: int, space: SearchSpace,
                      training: dict[str, float] | None = None, replicates: int = 1) -> list[str]:
    """Queue ``replicates`` trials of each requested baseline, less those the study already ran, failed, queued
    or is training (in this run or another: call it under the study's lock when runs share the study, so two
    runs never both queue the same replicate).

    Each replicate is a trial of its own and so trains with its own seed: the reports give the baseline's
    mean and SD over them, the yardstick a single-seed trial of the search is read against.

    A baseline carries its whole genome in its user attrs, so it is trained exactly as Table 1 whatever the
    space's bounds are; where the space can express it, it also carries the params that describe it.
    ``training`` is the fidelity's LR, weight decay and label smoothing when the search samples those too:
    the baseline trains with them, so they are its params.
    """
    present = Counter(t.user_attrs.get("baseline_block") for t in study.get_trials(deepcopy=False)
                      if t.user_attrs.get("is_baseline")
                      and (t.state in (TrialState.COMPLETE, TrialState.WAITING, TrialState.RUNNING)
                           or (t.state == TrialState.FAIL and t.user_attrs.get("reason") != INTERRUPTED)))
    queued = []
    for block in [b for b in blocks for _ in range(replicates - present[b])]:
        genome = baseline(block).replace(num_classes=num_classes)
        params = genome_params(genome, space, training)
        study.enqueue_trial(params or {}, user_attrs={"is_baseline": True, "baseline_block": block,
                                                      "genome": genome.to_dict(), "genome_id": genome.id,
                                                      "in_space": params is not None,
                                                      "params_training": training is not None},
                            skip_if_exists=False)
        queued.append(block)
    return queued
