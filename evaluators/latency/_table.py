"""A per-block latency lookup table: a genome's predicted latency is the sum of its pieces' measured latencies.

Pieces (``_pieces``) are timed in context, inside the running network of a genome that has them, each
as a ratio to a reference network (the standard baseline) called right after it (``measure_in_context`` says
why both). A row's milliseconds are its ratio times the table's reference latency: the reference's median
when the table's first genome was measured, kept with the table. ``python -m evaluators.latency --validate N``
measures how far the sum is from whole networks.

The table is one JSON file per machine fingerprint under ``<cache dir>/latency/``; every measured genome's new
rows are written as soon as they are measured (atomic replace, merged under a file lock with any other writer),
so an interrupted build loses nothing and two processes building tables for the same machine both keep their
rows. The first measurement of a key is kept: a piece is measured again only in a genome that has other
pieces missing, and its row does not change then.
"""

from __future__ import annotations

import fcntl
import json
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

from space import Genome, atomic_write, baseline

from ..data import default_cache_dir
from ._fit import LatencyPredictor, MissingRows, fit_predictor
from ._measure import InContext, measure_in_context
from ._pieces import Piece, pieces
from ._timing import Machine, machine_fingerprint

TABLE_FORMAT = 4
"""Bumped when keys, the features stored with each row or the measuring protocol change, so old tables are
not mixed with new rows (3: pieces timed in context, as ratios to the reference network; 4: the 1x1
depthwise features split by block kind)."""

REFERENCE = baseline("standard")
"""The network every time is divided by: the paper's standard baseline."""

MeasureFn = Callable[[Genome], InContext]


class LatencyTable:
    """Measured milliseconds per piece for one machine; builds missing rows on demand and caches them on disk."""

    def __init__(self, machine: Machine, path: Path | None = None, measure: MeasureFn | None = None):
        self.machine = machine
        self.path = path
        stored = _load(path, machine) if path else {}
        self.rows: dict[str, dict[str, Any]] = dict(stored.get("rows", {}))
        self.reference_ms: float | None = stored.get("reference_ms")
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
        """Measure, in context, every genome of ``genomes`` that has a piece with no row, saving each genome's
        new rows as they are measured; returns how many rows were new."""
        todo = [genome for genome in _unique(genomes) if self.missing([genome])]
        if not todo:
            return 0
        bar = None
        if progress:
            print(f"latency table: timing the pieces of {len(todo)} network(s) in context on "
                  f"{self.machine.describe()}" + (f" -> {self.path}" if self.path else ""), file=sys.stderr, flush=True)
            from tqdm import tqdm
            bar = tqdm(total=len(todo), unit="network", file=sys.stderr, disable=None, leave=False)
        added = 0
        for genome in todo:
            added += len(self.add(genome, self._measure(genome)))
            if bar is not None:
                bar.update()
        if bar is not None:
            bar.close()
        return added

    def add(self, genome: Genome, timed: InContext) -> dict[str, dict[str, Any]]:
        """Rows for the pieces of ``genome`` the table lacks, from its in-context measurement ``timed``; saved at
        once. Returns the new rows."""
        if self.reference_ms is None:
            self.reference_ms = timed.reference_ms
        new_rows: dict[str, dict[str, Any]] = {}
        for piece, ratio in zip(pieces(genome), timed.piece_ratios):
            if piece.key not in self.rows and piece.key not in new_rows:
                new_rows[piece.key] = {"ms": ratio * self.reference_ms, "ratio": ratio, "features": piece.features}
        if self.path:
            stored = _save(self.path, self.machine, self.reference_ms, new_rows)
            self.reference_ms = stored["reference_ms"]
            new_rows = {key: row for key, row in stored["rows"].items() if key in new_rows}
        self.rows.update(new_rows)
        return new_rows

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
    return lambda genome: measure_in_context(genome, REFERENCE, machine)


def _unique(genomes: Iterable[Genome]) -> list[Genome]:
    return list({genome.id: genome for genome in genomes}.values())


def _load(path: Path, machine: Machine) -> dict[str, Any]:
    """The stored table (``reference_ms`` and ``rows``) of ``machine``, or {} if there is none in this format."""
    try:
        stored = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: unreadable latency table ({error}); delete it to measure again") from None
    if stored.get("format") != TABLE_FORMAT or stored.get("machine") != machine.to_dict():
        return {}
    return stored


def _save(path: Path, machine: Machine, reference_ms: float, new_rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Merge ``new_rows`` into the file under an exclusive lock and replace it atomically; what the file holds
    afterwards. Rows and the reference latency already there win, so that all rows share one scale."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stored = _load(path, machine)
        if stored:
            new_rows = {key: {**row, "ms": row["ratio"] * stored["reference_ms"]} for key, row in new_rows.items()}
        payload = {"format": TABLE_FORMAT, "machine": machine.to_dict(),
                   "reference": REFERENCE.id, "reference_ms": stored.get("reference_ms", reference_ms),
                   "rows": {**new_rows, **stored.get("rows", {})}}
        atomic_write(path, json.dumps(payload, indent=1, sort_keys=True))
    return payload
