"""Faults for tests: a disk that fills up after a byte budget, a small real file system (tmpfs) that fills up or goes
read-only, and a process that holds a run's lock."""
from __future__ import annotations

import builtins
import contextlib
import errno
import io
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

_WRITE_MODES = set("wax+")


class _Budget:
    def __init__(self, limit: int):
        self.limit, self.used, self.failures = limit, 0, 0
        self.writes: list[tuple[int, int, str]] = []  # (bytes used before, size, file name) of every write

    def spend(self, size: int, what) -> None:
        self.writes.append((self.used, size, os.path.basename(os.fsdecode(what))))
        if self.used + size > self.limit:
            self.failures += 1
            self.used = self.limit
            raise OSError(errno.ENOSPC, "No space left on device", os.fsdecode(what))
        self.used += size


class _Metered:
    """A file object whose writes spend the budget (an in-place rewrite of an 'r+' file spends nothing: it needs no
    new blocks on a real disk either, as long as it does not grow the file)."""

    def __init__(self, fh, budget: _Budget, grows: bool):
        self._fh, self._budget, self._grows = fh, budget, grows

    def write(self, data):
        if self._grows:
            self._budget.spend(len(data), getattr(self._fh, "name", "?"))
        return self._fh.write(data)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def __enter__(self):
        self._fh.__enter__()
        return self

    def __exit__(self, *exc):
        return self._fh.__exit__(*exc)

    def __iter__(self):
        return iter(self._fh)

    def __getattr__(self, name):
        return getattr(self._fh, name)


@contextlib.contextmanager
def disk_budget(limit: int):
    """Every file written through Python's open() (pathlib, PIL, numpy, json, csv, tensorboard's writer) shares a
    budget of `limit` bytes; past it a write raises ENOSPC, as a full disk does. safetensors writes from Rust, so its
    save is charged the file's size up front."""
    import safetensors.torch as st

    budget = _Budget(limit)
    real_open, real_io_open, real_save = builtins.open, io.open, st.save_file

    def metered_open(file, mode="r", *args, **kwargs):
        fh = real_open(file, mode, *args, **kwargs)
        if not _WRITE_MODES & set(mode) or isinstance(file, int):
            return fh
        return _Metered(fh, budget, grows="r" not in mode)

    def metered_save(tensors, filename, metadata=None):
        budget.spend(sum(t.numel() * t.element_size() for t in tensors.values()), filename)
        return real_save(tensors, filename, metadata=metadata)

    builtins.open = io.open = metered_open
    st.save_file = metered_save
    import gankit.train.checkpoint as ckpt

    ckpt_save = ckpt.save_file
    ckpt.save_file = metered_save
    try:
        yield budget
    finally:
        builtins.open, io.open, st.save_file, ckpt.save_file = real_open, real_io_open, real_save, ckpt_save


def _mount(target: Path, options: str) -> bool:
    if sys.platform != "linux":
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "gankit-test", str(target)], capture_output=True)
    return done.returncode == 0


@contextlib.contextmanager
def small_disk(parent: Path, size_kb: int):
    """A real tmpfs of `size_kb` KiB mounted in `parent` (skips the test where mounting is not allowed)."""
    target = parent / f"disk-{uuid.uuid4().hex[:6]}"
    target.mkdir()
    if not _mount(target, f"size={size_kb}k,mode=0755"):
        pytest.skip("mounting a tmpfs is not permitted here")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def remount_read_only(target: Path) -> bool:
    return subprocess.run(["mount", "-o", "remount,ro", str(target)], capture_output=True).returncode == 0


LOCK_HOLDER = """
import sys, time
from gankit.files import RunLock
lock = RunLock(sys.argv[1]).acquire()
print("locked", flush=True)
time.sleep(600)
"""


def hold_lock(run_dir: Path) -> subprocess.Popen:
    """A live process holding `run_dir`'s lock (kill it to end the hold)."""
    child = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(run_dir)], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert child.stdout.readline().strip() == "locked"
    return child
