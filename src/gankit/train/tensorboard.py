"""TensorBoard event files written synchronously, in the thread that logs.

torch's SummaryWriter writes from a background thread: a full disk there surfaces as a traceback printed by that
thread, or not at all, while training goes on. Here every record is written and flushed by the call that makes it,
so a write error reaches the loop like any other file error of the run. The format is TensorBoard's own
(tensorboard's record writer and protos, torch's summary builders)."""
from __future__ import annotations

import itertools
import os
import socket
import time
from pathlib import Path

import numpy as np
from tensorboard.compat.proto.event_pb2 import Event, SessionLog
from tensorboard.summary.writer.record_writer import RecordWriter
from torch.utils.tensorboard.summary import image, scalar

_COUNTER = itertools.count()


class EventWriter:
    def __init__(self, folder: Path, purge_step: int | None = None):
        """`purge_step`: TensorBoard hides the events of earlier files at steps >= it (a resumed run's redone steps)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}.{next(_COUNTER)}"
        self.path = folder / name
        self._file = open(self.path, "ab")
        self._records = RecordWriter(self._file)
        self._write(Event(wall_time=time.time(), file_version="brain.Event:2"))
        if purge_step is not None:
            self._write(Event(wall_time=time.time(), step=purge_step, session_log=SessionLog(status=SessionLog.START)))

    def _write(self, event: Event) -> None:
        self._records.write(event.SerializeToString())
        self._file.flush()

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self._write(Event(wall_time=time.time(), step=step, summary=scalar(tag, float(value))))

    def add_image(self, tag: str, picture: np.ndarray, step: int, dataformats: str = "HWC") -> None:
        self._write(Event(wall_time=time.time(), step=step, summary=image(tag, picture, dataformats=dataformats)))

    def close(self) -> None:
        self._file.close()
