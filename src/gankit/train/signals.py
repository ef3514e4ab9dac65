"""SIGINT/SIGTERM during training: the loop finishes its iteration, saves a checkpoint and stops with `Interrupted`
(exit code 128 + the signal); a second signal stops at once. `request_stop` asks the same of a training from another
thread, without a signal (a study's worker process stops its trial so when the study stops or dies)."""
from __future__ import annotations

import signal
import threading

from gankit.errors import GankitError


class Interrupted(GankitError):
    """Training stopped by SIGINT/SIGTERM after saving a checkpoint."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = 128 + signum


_requested: int | None = None  # a stop asked for by request_stop, for every training in this process


def request_stop(signum: int = signal.SIGTERM) -> None:
    """Make the training running in this process (or the next one to start) stop as if it had received `signum`:
    at the end of its current iteration, after saving a checkpoint. Callable from any thread."""
    global _requested
    _requested = signum


class StopSignals:
    """While entered (in the main thread only: elsewhere signals cannot be handled), SIGINT and SIGTERM are
    noted in `received` instead of stopping the process."""

    def __init__(self):
        self._received: int | None = None
        self._previous: dict = {}

    @property
    def received(self) -> int | None:
        """The signal noted, or the one request_stop asked for; None while training may go on."""
        return self._received if self._received is not None else _requested

    @received.setter
    def received(self, signum: int | None) -> None:
        self._received = signum

    def _note(self, signum, frame) -> None:
        self.received = signum
        signal.signal(signum, signal.SIG_DFL)  # a second signal stops at once

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._note) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def name(self) -> str:
        return signal.Signals(self.received).name
