"""Atomic writes (engine.util.files): the umask is never changed, the folder is synced."""

import os
import stat

import pytest

from engine.util.files import atomic_path, atomic_write


def _current_umask() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    pytest.skip("this system does not say the umask in /proc")


def test_atomic_path_never_sets_the_umask(tmp_path, monkeypatch):
    umask = _current_umask()

    def refuse(mask):  # another thread's file would get this mask for a moment
        raise AssertionError(f"os.umask({mask:o}) was called")

    monkeypatch.setattr(os, "umask", refuse)
    target = atomic_write(tmp_path / "out.npy", lambda p: p.write_bytes(b"data"))
    assert target.read_bytes() == b"data"
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["out.npy"]


def test_atomic_path_syncs_the_file_and_then_its_folder(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append("folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with atomic_path(tmp_path / "sub" / "x.txt") as tmp:
        tmp.write_text("hello")
    assert synced == ["file", "folder"]
    assert (tmp_path / "sub" / "x.txt").read_text() == "hello"


def test_a_failed_write_leaves_the_target_and_no_temporary_file(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer failed")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
