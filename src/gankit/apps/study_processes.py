"""A study's trials run in parallel on this machine (`gankit study --workers N`): each trial in its own spawned
process, stopped with a checkpoint when the study is stopped or dies."""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from gankit.train.loop import Interrupted
from gankit.train.signals import StopSignals, request_stop


def run_processes(trials: list[dict], out: Path, workers: int, log, run_trial, done_before, progress_line) -> list[dict]:
    """Each trial in a fresh spawned process, `workers` at a time. SIGINT/SIGTERM to the study (or to one trial's
    process) stops the study: every running trial saves a checkpoint and returns, no queued one starts, exit
    128 + the signal. A trial process killed outright (SIGKILL, the OOM killer) is a failed row, not written to its
    trial.json (the next run of the study tries it again). Trial processes watch the study and, if it dies, stop
    their trial the same way and exit. `run_trial`, `done_before` and `progress_line` are the study's own (passed
    in, so that this module imports nothing above it)."""
    import multiprocessing
    from multiprocessing.connection import wait

    context = multiprocessing.get_context("spawn")
    threads = max((os.cpu_count() or 1) // workers, 1)
    # 1 = stop the study: every trial process checkpoints and returns. Shared memory without a lock (not an Event,
    # whose set() waits for every waiter to wake, forever if one was killed while waiting)
    stop = context.RawValue("b", 0)
    queued, running, rows_by_id = list(trials), {}, {}
    stopped_by: dict[str, Any] = {}  # why the study stops early: a signal to it, or one of its trials interrupted
    with StopSignals() as signals:
        try:
            while running or (queued and not stopped_by):
                while queued and not stopped_by and len(running) < workers:
                    trial = queued.pop(0)
                    if row := done_before(trial, out):  # no process (and torch import) just to skip it
                        rows_by_id[row["id"]] = row
                        log(progress_line(len(rows_by_id), len(trials), row))
                        continue
                    receive, send = context.Pipe(duplex=False)
                    process = context.Process(target=_trial_process, name=f"trial {trial['id']}",
                                              args=(run_trial, trial, str(out), threads, os.getpid(), stop, send))
                    process.start()
                    send.close()  # the child's end: reading sees EOF once the child is gone
                    running[process.sentinel] = (process, receive, trial)
                for sentinel in wait(list(running), timeout=0.5):
                    process, receive, trial = running.pop(sentinel)
                    row = _receive(receive)
                    process.join()
                    if row is None:  # died without a word: killed outright, or a crash (its traceback is above)
                        how = (f"was killed by {signal.Signals(-process.exitcode).name} (out of memory?)"
                               if (process.exitcode or 0) < 0 else f"exited with code {process.exitcode}")
                        row = {"id": trial["id"], "seed": trial["seed"], "values": trial["values"], "status": "failed",
                               "scores": {}, "error": f"its process {how}; the study runs it again next time"}
                    if "interrupted" in row:
                        stopped_by.setdefault("trial", row)
                    elif "status" in row:
                        rows_by_id[row["id"]] = row
                        log(progress_line(len(rows_by_id), len(trials), row))
                if signals.received is not None:
                    stopped_by.setdefault("signal", signals.received)
                if stopped_by and not stop.value:
                    stop.value = 1
                    log(f"{_why_stopped(stopped_by, signals)}: the running trials save a checkpoint and stop")
        finally:  # also on an error here: no trial process is left running without its study
            stop.value = 1
            for process, _, _ in running.values():
                process.join()
    if stopped_by:
        signum = stopped_by.get("signal") or stopped_by["trial"]["signum"]
        raise Interrupted(f"study interrupted by {_why_stopped(stopped_by, signals)}: its running trials saved "
                          f"checkpoints; the same `gankit study` command continues it", signum)
    return [rows_by_id[t["id"]] for t in trials if t["id"] in rows_by_id]


def _receive(connection) -> dict | None:
    """The row a trial process sent before it ended, or None (it died first)."""
    try:
        return connection.recv() if connection.poll() else None
    except (EOFError, OSError):
        return None
    finally:
        connection.close()


def _why_stopped(stopped_by: dict, signals: StopSignals) -> str:
    if "signal" in stopped_by:
        return signals.name()
    row = stopped_by["trial"]
    return f"{signal.Signals(row['signum']).name} to trial {row['id']}'s process"


def _trial_process(run_trial, trial: dict[str, Any], study_dir: str, threads: int, parent: int, stop, send) -> None:
    """One trial in its own process: in its own process group (a terminal's Ctrl-C reaches the study, which stops
    its trials once), with a thread that stops the trial, after a checkpoint, when the study asks or dies."""
    if hasattr(os, "setpgrp"):
        os.setpgrp()

    def watch() -> None:
        while not stop.value and os.getppid() == parent:
            time.sleep(0.5)
        request_stop()  # the training loop sees it at its next iteration

    threading.Thread(target=watch, daemon=True, name="study-watch").start()
    try:
        row = run_trial(trial, study_dir, threads)
    except Interrupted as err:  # sent back as a plain row (the exception does not pickle)
        row = {"id": trial["id"], "interrupted": str(err), "signum": err.exit_code - 128}
    if os.getppid() == parent:
        send.send(row)
