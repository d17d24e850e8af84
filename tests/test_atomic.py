"""Atomic files: a crash or an interrupt mid-write leaves the old file whole, never half of a new one."""

import os

import pytest

from space import atomic_write, replacing


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def test_atomic_write_replaces_the_whole_file_and_leaves_no_partial(tmp_path):
    target = tmp_path / "sub" / "table.csv"
    atomic_write(target, "old, and longer than the new text\n")
    atomic_write(target, "new\n")
    assert target.read_text() == "new\n"
    assert sorted(path.name for path in target.parent.iterdir()) == ["table.csv"]


def test_a_writer_that_raises_leaves_the_old_file_and_no_partial(tmp_path):
    target = tmp_path / "checkpoint.pt"
    target.write_bytes(b"the previous checkpoint")
    with pytest.raises(RuntimeError), replacing(target) as partial:
        partial.write_bytes(b"half a")
        raise RuntimeError("disk full")
    assert target.read_bytes() == b"the previous checkpoint"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["checkpoint.pt"]


def test_an_interrupt_before_the_rename_leaves_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "summary.md"
    target.write_text("previous summary")
    monkeypatch.setattr(os, "replace", _interrupt)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, "new summary")
    assert target.read_text() == "previous summary"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["summary.md"]


def test_two_processes_never_share_a_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "trials.csv"
    with replacing(target) as mine:
        monkeypatch.setattr(os, "getpid", lambda: -1)
        with replacing(target) as theirs:
            assert theirs != mine
            theirs.write_text("theirs")
        mine.write_text("mine")
    assert target.read_text() == "mine"


def test_two_threads_of_one_process_never_share_a_partial_file(tmp_path):
    import threading

    target, theirs = tmp_path / "report.md", []

    def write_from_another_thread():
        with replacing(target) as partial:
            theirs.append(partial)
            partial.write_text("theirs")

    with replacing(target) as mine:
        worker = threading.Thread(target=write_from_another_thread)
        worker.start()
        worker.join()
        assert theirs[0] != mine
        mine.write_text("mine")
    assert target.read_text() == "mine"
