"""A latency predictor for any genome: measured table rows where there are some, a fitted estimate elsewhere.

The estimate is a non-negative least-squares fit of the measured pieces' milliseconds on their features
(``_features``): non-negative because every feature costs time, least squares on milliseconds
because a network's error is the sum of its pieces' errors. (Weighting residuals by 1/sqrt(ms) fitted single
pieces better on a shared machine here, median leave-one-out error 16.5% against 19.1% over 272 pieces, but
the 143 fitted pieces of 12 random genomes then summed to 10.4% less than measured, against 0.4% more
unweighted.) The predictor is plain data (rows and coefficients), so it pickles into every search trial and
predicts without torch or a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from space import Genome

from ._features import FEATURES
from ._pieces import Piece, pieces
from ._timing import Machine

MIN_ROWS_PER_FEATURE = 3
"""A fit needs at least this many measured pieces per feature it uses."""


class MissingRows(LookupError):
    """A genome has pieces the table lacks and no fit can estimate (too few measured pieces of that kind)."""


@dataclass(frozen=True)
class Prediction:
    """Predicted latency in ms and the share of it that comes from measured rows rather than the fit."""

    ms: float
    measured_share: float


@dataclass(frozen=True)
class LatencyPredictor:
    """Milliseconds per piece from ``rows`` (measured), else from ``coefficients`` (fitted; None: no fit)."""

    machine: Machine
    rows: Mapping[str, float]
    coefficients: Mapping[str, float] | None = None
    fitted_rows: int = 0
    fit_error: Mapping[str, float] = field(default_factory=dict)

    def piece_ms(self, piece: Piece) -> tuple[float, bool]:
        """(ms, whether measured) for one piece."""
        if piece.key in self.rows:
            return self.rows[piece.key], True
        unfitted = [name for name in piece.features if self.coefficients is None or name not in self.coefficients]
        if unfitted:
            raise MissingRows(f"latency table for {self.machine.key} lacks piece {piece.key!r} and has too few "
                              f"measured pieces to estimate {', '.join(unfitted)}; build it for such genomes first")
        return sum(self.coefficients[name] * value for name, value in piece.features.items()), False

    def predict(self, genome: Genome) -> Prediction:
        """The genome's predicted latency: the sum over its pieces."""
        parts = [self.piece_ms(piece) for piece in pieces(genome)]
        total = sum(ms for ms, _ in parts)
        measured = sum(ms for ms, was_measured in parts if was_measured)
        return Prediction(total, measured / total if total > 0 else 1.0)

    def to_dict(self) -> dict[str, Any]:
        return {"machine": self.machine.to_dict(), "rows": dict(self.rows), "coefficients": self.coefficients,
                "fitted_rows": self.fitted_rows, "fit_error": dict(self.fit_error)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "LatencyPredictor":
        coefficients = data.get("coefficients")
        return cls(Machine(**data["machine"]), dict(data["rows"]), dict(coefficients) if coefficients else None,
                   int(data.get("fitted_rows", 0)), dict(data.get("fit_error", {})))

    def describe(self) -> str:
        if self.coefficients is None:
            return f"{len(self.rows)} measured pieces, no fit (too few)"
        return (f"{len(self.rows)} measured pieces; fit on {self.fitted_rows}: median |error| per piece "
                f"{self.fit_error['median_abs_pct']:.1f}%, sum of pieces {self.fit_error['sum_pct']:+.1f}%")


def fit_predictor(machine: Machine, rows: Mapping[str, Mapping[str, Any]]) -> LatencyPredictor:
    """A predictor from table rows (``{"ms": ..., "features": {...}}``); features used by too few rows are
    left out of the fit, so a piece that needs one is not estimated at all rather than extrapolated."""
    measured = {key: float(row["ms"]) for key, row in rows.items()}
    with_features = [row for row in rows.values() if row.get("features")]
    used = [name for name in FEATURES
            if sum(1 for row in with_features if row["features"].get(name)) >= MIN_ROWS_PER_FEATURE]
    if not used or len(with_features) < MIN_ROWS_PER_FEATURE * len(used):
        return LatencyPredictor(machine, measured)
    # Imported here, not with the module: every trial process imports the predictor to use one, and would pay
    # about a second for scipy.optimize that only fitting uses.
    from scipy.optimize import nnls

    usable = [row for row in with_features if set(row["features"]) <= set(used)]
    design = np.array([[row["features"].get(name, 0.0) for name in used] for row in usable])
    target = np.array([float(row["ms"]) for row in usable])
    scale = np.abs(design).max(axis=0)
    scale[scale == 0] = 1.0
    solution, _ = nnls(design / scale, target)
    coefficients = dict(zip(used, (solution / scale).tolist()))
    estimate = design @ (solution / scale)
    error = {"median_abs_pct": float(np.median(np.abs(estimate / target - 1)) * 100),
             "sum_pct": float((estimate.sum() / target.sum() - 1) * 100)}
    return LatencyPredictor(machine, measured, coefficients, len(usable), error)
