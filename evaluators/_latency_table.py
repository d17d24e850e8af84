"""A per-block latency lookup table: a genome's predicted latency is the sum of its pieces' measured latencies.

Pieces (``_latency_pieces``) are measured in isolation with the protocol the whole network gets (same threads,
batch, device, input shape and layout, warmed up and timed repeatedly), so the sum matches the network up to
what the isolation cannot reproduce; ``python -m evaluators.latency --validate N`` measures how far that is.

The table is one JSON file per machine fingerprint under ``<cache dir>/latency/``; every measured row is
written as soon as it is measured (atomic replace, merged under a file lock with any other writer), so an
interrupted build loses nothing and two processes building tables for the same machine both keep their rows.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable

from space import Genome

from ._latency_fit import LatencyPredictor, MissingRows, fit_predictor
from ._latency_measure import example_input, measure_inference
from ._latency_pieces import Piece, pieces
from ._latency_timing import Machine, Timing, machine_fingerprint
from .data import default_cache_dir

TABLE_FORMAT = 2
"""Bumped when keys, the features stored with each row or the measuring protocol change, so old tables are
not mixed with new rows."""


MeasureFn = Callable[[Piece], Timing]


class LatencyTable:
    """Measured milliseconds per piece for one machine; builds missing rows on demand and caches them on disk."""

    def __init__(self, machine: Machine, path: Path | None = None, measure: MeasureFn | None = None):
        self.machine = machine
        self.path = path
        self.rows: dict[str, dict[str, Any]] = _load(path, machine) if path else {}
        self._measure = measure or _default_measure(machine)

    @classmethod
    def for_machine(cls, machine: Machine | None = None, cache_dir: str | Path | None = None,
                    measure: MeasureFn | None = None) -> "LatencyTable":
        """The cached table of ``machine`` (this machine, 1 thread, batch 1, CPU by default), rows it already has
        loaded; ``cache_dir`` defaults to ``evaluators.data.default_cache_dir()`` (``$EFFCNN_CACHE``)."""
        machine = machine or machine_fingerprint()
        directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        return cls(machine, directory / "latency" / f"{machine.key}.json", measure)

    def missing(self, genomes: Iterable[Genome]) -> list[Piece]:
        """The pieces of ``genomes`` with no row yet, each once, in first-seen order."""
        seen: dict[str, Piece] = {}
        for genome in genomes:
            for piece in pieces(genome):
                if piece.key not in self.rows and piece.key not in seen:
                    seen[piece.key] = piece
        return list(seen.values())

    def build(self, genomes: Iterable[Genome], progress: bool = True) -> int:
        """Measure every missing row of ``genomes``, saving each as it is measured; returns how many were new."""
        todo = self.missing(genomes)
        if not todo:
            return 0
        bar = None
        if progress:
            print(f"latency table: measuring {len(todo)} new piece(s) on {self.machine.describe()}"
                  + (f" -> {self.path}" if self.path else ""), file=sys.stderr, flush=True)
            from tqdm import tqdm
            bar = tqdm(total=len(todo), unit="piece", file=sys.stderr, disable=None, leave=False)
        for piece in todo:
            timing = self._measure(piece)
            row = {"ms": timing.median_ms, "iqr_ms": timing.iqr_ms, "features": piece.features}
            self.rows[piece.key] = row
            if self.path:
                _save(self.path, self.machine, {piece.key: row})
            if bar is not None:
                bar.update()
        if bar is not None:
            bar.close()
        return len(todo)

    def breakdown(self, genome: Genome) -> list[tuple[str, float]]:
        """(key, ms) per piece in forward order; raises MissingRows if any piece has no row."""
        parts = pieces(genome)
        absent = [piece.key for piece in parts if piece.key not in self.rows]
        if absent:
            raise MissingRows(f"latency table for {self.machine.key} lacks {len(absent)} piece(s) of genome "
                              f"{genome.id}, e.g. {absent[0]!r}; build it first")
        return [(piece.key, self.rows[piece.key]["ms"]) for piece in parts]

    def predict(self, genome: Genome) -> float:
        """Predicted latency in ms: the sum of the genome's pieces (MissingRows if any is not measured)."""
        return sum(ms for _, ms in self.breakdown(genome))

    def predictor(self, genomes: Iterable[Genome] | None = None) -> LatencyPredictor:
        """A predictor for genomes the table lacks pieces of: these rows, and a fit on them for the rest.
        With ``genomes``, only the rows of their pieces are used (to validate the fit on other genomes)."""
        rows = self.rows
        if genomes is not None:
            keys = {piece.key for genome in genomes for piece in pieces(genome)}
            rows = {key: row for key, row in rows.items() if key in keys}
        return fit_predictor(self.machine, rows)


def predict_latency(genome: Genome, table: LatencyTable | None = None, build: bool = True) -> float:
    """Predicted inference latency of ``genome`` in ms on the table's machine (by default this machine's
    cached CPU table, 1 thread, batch 1); measures missing pieces first unless ``build`` is False."""
    table = table or LatencyTable.for_machine()
    if build:
        table.build([genome])
    return table.predict(genome)


def _default_measure(machine: Machine) -> MeasureFn:
    def measure(piece: Piece) -> Timing:
        example = example_input(machine, piece.channels, piece.size, piece.layout)
        return measure_inference(piece.build(), example, machine)
    return measure


def _load(path: Path, machine: Machine) -> dict[str, dict[str, Any]]:
    try:
        stored = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: unreadable latency table ({error}); delete it to measure again") from None
    if stored.get("format") != TABLE_FORMAT or stored.get("machine") != machine.to_dict():
        return {}
    return dict(stored.get("rows", {}))


def _save(path: Path, machine: Machine, new_rows: dict[str, dict[str, Any]]) -> None:
    """Merge ``new_rows`` into the file under an exclusive lock and replace it atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        rows = {**_load(path, machine), **new_rows}
        payload = {"format": TABLE_FORMAT, "machine": machine.to_dict(), "rows": rows}
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
        with os.fdopen(handle, "w") as out:
            json.dump(payload, out, indent=1, sort_keys=True)
        os.replace(temporary, path)
