"""`status.json` in a run directory: running, finished, paused, interrupted or failed, with the step and the
writer's PID and host (so that a continuous evaluator knows when a run is over, or that its writer is gone).

The file is written atomically; when that fails (a full disk) it is overwritten in place, which needs no new
space because every status is padded to the same size, so a run that stopped never stays "running"."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from gankit.errors import RunDirError
from gankit.files import atomic_write, host_name, pid_alive, process_start

STATUS_NAME = "status.json"
SIZE = 256  # bytes of every status file: an in-place rewrite never grows it


def _encode(state: str, step: int) -> bytes:
    text = json.dumps({"state": state, "step": step, "updated": time.time(), "pid": os.getpid(), "host": host_name(),
                       "start": process_start(os.getpid())})
    return text.encode().ljust(SIZE - 1) + b"\n"


def write_status(run_dir: Path, state: str, step: int) -> None:
    """Raises a RunDirError only for "running" (training must not start unrecorded); a final state that cannot be
    written at all removes the file rather than leave "running" behind."""
    path = Path(run_dir) / STATUS_NAME
    data = _encode(state, step)
    try:
        atomic_write(path, lambda tmp: tmp.write_bytes(data))
    except RunDirError:
        if state == "running":
            raise
        _overwrite_in_place(path, data)


def _overwrite_in_place(path: Path, data: bytes) -> bool:
    """Rewrite an existing status of the same size where it lies (no new blocks); False if that fails too."""
    try:
        with open(path, "r+b") as fh:
            fh.write(data)
            fh.truncate()
            fh.flush()
            os.fsync(fh.fileno())
        return True
    except OSError:
        try:  # a stale "running" is worse than none: a watcher then waits on the writer's PID instead
            path.unlink()
        except OSError:
            pass
        return False


def read_status(run_dir: Path) -> dict:
    """The status as written ({} when absent or unreadable)."""
    try:
        data = json.loads((Path(run_dir) / STATUS_NAME).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def run_status(run_dir: Path) -> str | None:
    return read_status(run_dir).get("state")


def writer_gone(status: dict) -> bool:
    """A status that says "running" while its writer, on this host, no longer exists (killed, crashed), or its PID
    now belongs to a process that started at another time (reused)."""
    if status.get("state") != "running" or status.get("host") != host_name():
        return False
    try:
        pid = int(status.get("pid", 0))
    except (TypeError, ValueError):
        return False
    if not pid_alive(pid):
        return True
    started, now = status.get("start"), process_start(pid)
    return isinstance(started, int) and now is not None and now != started
