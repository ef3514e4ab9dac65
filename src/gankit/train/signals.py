"""SIGINT/SIGTERM during training: the loop finishes its iteration, saves a checkpoint and stops with `Interrupted`
(exit code 128 + the signal); a second signal stops at once."""
from __future__ import annotations

import signal
import threading

from gankit.errors import GankitError


class Interrupted(GankitError):
    """Training stopped by SIGINT/SIGTERM after saving a checkpoint."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = 128 + signum


class StopSignals:
    """While entered (in the main thread only: elsewhere signals cannot be handled), SIGINT and SIGTERM are
    noted in `received` instead of stopping the process."""

    def __init__(self):
        self.received: int | None = None
        self._previous: dict = {}

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
