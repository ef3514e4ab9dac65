"""Files a run or study writes: atomically (temp + fsync + rename, a temp name no other process shares), and
only by one process at a time (a lock file holding the writer's PID).

A reader, a crash or a full disk therefore never sees a half-written file under a real name: the file is either
the previous version or the new one. Append-only logs (`metrics.jsonl`, `log.txt`) are the exception: they only
grow, and a line cut short by a kill is skipped by their readers.
"""
from __future__ import annotations

import errno
import json
import os
import secrets
import socket
from collections.abc import Callable
from pathlib import Path

from gankit.errors import GankitError, RunDirError

try:  # POSIX; elsewhere locks are advisory files only (see RunLock)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


def os_error_reason(err: OSError) -> str:
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return "disk full"
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "permission denied: the folder is read-only"
    if err.errno == errno.EFBIG:
        return "file too large for this file system"
    return err.strerror or str(err)


def temp_name(path: Path) -> Path:
    """`.NAME.PID.RANDOM.tmp` beside `path`: two processes (or threads) never write the same temporary file."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def remove_stale_temps(folder: Path) -> list[Path]:
    """Delete the temporary files that processes which no longer exist left in `folder` and its sub-folders (a kill
    mid-write); a live process's are kept. Returns what was removed."""
    removed = []
    for tmp in Path(folder).rglob(".*.tmp"):
        parts = tmp.name.rsplit(".", 3)  # ['.NAME', PID, RANDOM, 'tmp']
        try:
            stale = len(parts) == 4 and not pid_alive(int(parts[1]))
        except ValueError:
            stale = False
        if stale:
            try:
                tmp.unlink()
                removed.append(tmp)
            except OSError:
                pass
    return removed


def fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Callable[[Path], object], fsync: bool = True) -> None:
    """Call `write(tmp_path)`, fsync, then rename over `path`. Any OS error (a full disk, a read-only folder) leaves
    `path` as it was and raises a RunDirError naming the file. `fsync=False` for many small files that may be
    lost in a power cut but must never be seen half-written (a folder of 10,000 sample PNGs)."""
    path = Path(path)
    tmp = temp_name(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        if fsync:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:
        raise RunDirError(f"{path}: could not be written ({os_error_reason(err)}); the files saved before are unchanged") from None
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
    if fsync:
        fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_json(path: Path, data, indent: int | None = 1) -> None:
    atomic_write_text(path, json.dumps(data, indent=indent, default=str) + "\n")


def read_text(path: Path, what: str = "file", error: type[GankitError] = RunDirError) -> str:
    """A UTF-8 text file, or one line saying why not (missing, unreadable, not UTF-8)."""
    try:
        return Path(path).read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder, expected a {what}") from None
    except UnicodeDecodeError as err:
        raise error(f"{path}: not a UTF-8 text {what} (byte 0x{err.object[err.start]:02x} at offset {err.start})") from None
    except OSError as err:
        raise error(f"{path}: unreadable {what} ({os_error_reason(err)})") from None


def check_writable_dir(folder: Path, what: str = "run directory") -> None:
    """Fail early, in one line, when `folder` cannot take new files (read-only mount or permissions)."""
    probe = temp_name(Path(folder) / "write-probe")
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise RunDirError(f"{folder}: the {what} is not writable ({os_error_reason(err)})") from None


def check_output_path(out: Path, kind: str, option: str = "--out", replaces: tuple[str, ...] = ()) -> Path:
    """`kind`: 'file' (a file is written at `out`) or 'folder' (files are written inside `out`). Refuses an output
    that sits inside an existing file, a file path that is a folder, and a folder path that is a file; `replaces`:
    the suffixes of the files this command writes, the only existing files it may replace (a report written over
    a study's YAML or a model over a data file would destroy it)."""
    out = Path(os.path.expanduser(str(out)))
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise RunDirError(f"{option} {out}: {parent} is a file, not a folder")
    if kind == "file" and out.is_dir():
        raise RunDirError(f"{option} {out}: is a folder; give a file name")
    if kind == "file" and replaces and out.exists() and not out.name.lower().endswith(replaces):
        raise RunDirError(f"{option} {out}: exists and is not a {' or '.join(replaces)} file this command writes; "
                          "refusing to replace it (give a new name)")
    if kind == "folder" and out.exists() and not out.is_dir():
        raise RunDirError(f"{option} {out}: exists and is not a folder")
    return out


# --- one writer per run ---------------------------------------------------------------------------------------
def host_name() -> str:
    return socket.gethostname()


def process_start(pid: int) -> int | None:
    """When process `pid` started (clock ticks since boot, Linux's /proc/PID/stat), or None where that is not known:
    with the PID it names one process, where a PID alone may have been reused by another since."""
    try:
        fields = Path(f"/proc/{int(pid)}/stat").read_text().rpartition(")")[2].split()
        return int(fields[19])  # field 22 of the file; the first two (pid, comm) are before the split
    except (OSError, ValueError, IndexError):
        return None


def pid_alive(pid: int) -> bool:
    """Whether a process with this PID exists on this host."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    except OSError:
        return False
    return True


class InUse(RunDirError):
    """Another live process holds the folder's lock."""


class RunLock:
    """An exclusive lock on a run (or study) folder, held while a process writes there.

    The lock is an `fcntl.flock` on `FOLDER/.NAME`, which also holds the holder's PID and host: the kernel drops
    the lock when its process dies (even by SIGKILL), so a lock file left behind by a dead process is simply
    taken over; a live holder makes `acquire` fail with one line naming its PID."""

    def __init__(self, folder: Path, name: str = ".lock", what: str = "run", activity: str = ""):
        """`what` and `activity` word the refusal: "run DIR is in use by PID N (evaluating it)"."""
        self.folder, self.path, self.what, self.activity = Path(folder), Path(folder) / name, what, activity
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        if self._fd is not None:
            return self
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise RunDirError(f"{self.folder}: the {self.what} directory is not writable "
                                  f"({os_error_reason(err)})") from None
            raise RunDirError(f"{self.path}: could not be created ({os_error_reason(err)})") from None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _read_holder(fd)
                os.close(fd)
                doing = f" ({self.activity})" if self.activity else ""
                raise InUse(f"{self.what} {self.folder} is in use by {holder}{doing}; wait for it to end or stop it") from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": host_name()}).encode(), 0)
        except OSError:
            pass  # the lock holds without the note; only the message to a second process loses the PID
        self._fd = fd
        return self

    def held_elsewhere(self) -> bool:
        """Whether another process holds the lock now (a probe: a shared lock taken and dropped at once)."""
        if fcntl is None or self._fd is not None:
            return False
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return False  # no lock file: nobody has held it
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
        except OSError:
            return True
        finally:
            os.close(fd)  # drops the probe's shared lock

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
        except OSError:
            pass
        os.close(self._fd)  # closing drops the flock
        self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        note = json.loads(os.pread(fd, 256, 0).decode() or "{}")
        pid, host = int(note["pid"]), str(note["host"])
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"
    return f"PID {pid}" + ("" if host == host_name() else f" on {host}")
