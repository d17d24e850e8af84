"""Files that are either the old version or the new one, never half of one: what a crash, an interrupt or a second
worker writing the same file can otherwise leave behind (a truncated CSV, a torn checkpoint)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for a writer that wants a file name (``torch.save``, an exporter);
    when the block ends it replaces ``path``, and when the block raises it is removed and ``path`` is untouched.

    The temporary name carries the process and thread ids, so two writers of one file never share a partial one
    (the data cache is written from worker processes, the reports from a search's threads too).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def atomic_write(path: str | Path, data: bytes | str) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` through a flushed temporary file renamed over it."""
    with replacing(path) as partial, open(partial, "wb") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
        handle.flush()
        os.fsync(handle.fileno())
