"""What a study optimises: top-1 accuracy against MACs, against predicted latency, or against both.

A study records its objectives when it is created (user attr ``objectives``) and every part of the search
reads them from there: the Optuna directions, the result keys Ray Tune hands the searcher, the values a
stopped trial is completed with, the Pareto flags, the hypervolume and the plots. A study created before
objectives were recorded optimised the default pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import optuna

from ._storage import StudyError


@dataclass(frozen=True)
class Objective:
    name: str
    metric: str
    """The trial's result key (and trials.csv column) holding the value."""
    direction: str
    label: str


OBJECTIVES = {
    "accuracy": Objective("accuracy", "accuracy", "maximize", "top-1 %"),
    "macs": Objective("macs", "macs", "minimize", "MACs"),
    "latency": Objective("latency", "latency_ms", "minimize", "latency (ms, predicted)"),
}
CHOICES = (("accuracy", "macs"), ("accuracy", "latency"), ("accuracy", "macs", "latency"))
DEFAULT_OBJECTIVES = CHOICES[0]


def parse_objectives(text: str) -> tuple[str, ...]:
    """``accuracy,macs`` | ``accuracy,latency`` | ``accuracy,macs,latency``; anything else is a one-line error."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if names not in CHOICES:
        raise ValueError(f"--objectives: must be one of {' | '.join(','.join(c) for c in CHOICES)}, got {text!r}")
    return names


def metrics(objectives: tuple[str, ...]) -> list[str]:
    return [OBJECTIVES[name].metric for name in objectives]


def directions(objectives: tuple[str, ...]) -> list[str]:
    return [OBJECTIVES[name].direction for name in objectives]


def check_objectives(study: optuna.Study, objectives: tuple[str, ...]) -> None:
    """Refuse to continue a study with other objectives than it was run with; record them on a new one."""
    started = bool(study.get_trials(deepcopy=False)) or "objectives" in study.user_attrs
    recorded = study_objectives(study) if started else tuple(objectives)
    if recorded != tuple(objectives) or len(study.directions) != len(objectives):
        raise StudyError(f"study '{study.study_name}' was run with --objectives {','.join(recorded)}, not "
                         f"{','.join(objectives)}; use another --study-name")
    study.set_user_attr("objectives", list(objectives))


def study_objectives(study: optuna.Study) -> tuple[str, ...]:
    """The objectives a study records (the default pair for studies from before they were recorded)."""
    return tuple(study.user_attrs.get("objectives") or DEFAULT_OBJECTIVES)
