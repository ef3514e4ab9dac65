"""Run logging: `metrics.jsonl`, TensorBoard events, `log.txt`, and the console (a tqdm bar with it/s
and ETA on a terminal, otherwise the card's periodic line `[epoch/total][batch/batches][G iter] Loss_D ...`)."""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from gankit.errors import RunDirError
from gankit.files import atomic_write_text, os_error_reason
from gankit.train.tensorboard import EventWriter


def format_line(epoch: int, epochs: int, batch: int, batches: int, step: int, values: dict[str, float], rate: float) -> str:
    head = f"[{epoch}/{epochs}][{batch}/{batches}][{step}]"
    names = {"loss_d": "Loss_D", "loss_g": "Loss_G"}
    ordered = sorted(values, key=lambda k: (k not in names, k))
    body = " ".join(f"{names.get(k, k)}: {values[k]:.4f}" for k in ordered)
    return f"{head} {body} ({rate:.2f} it/s)"


class RunLogger:
    def __init__(self, run_dir: Path, start_step: int, total_steps: int, progress: bool | None = None,
                 epoch_steps: int | None = None, line_format=None, batch_size: int = 1):
        """`epoch_steps`: G iterations per epoch for a bar per epoch (the AdaGAN card's), else one bar for the run;
        `line_format(step, values, it_per_s, batch_size)`: a family's own log line instead of the standard one."""
        self.line_format, self.batch_size = line_format, batch_size
        self.run_dir = run_dir
        self.total_steps, self.epoch_steps = total_steps, epoch_steps
        self._truncate_metrics(run_dir / "metrics.jsonl", start_step)
        self.jsonl = open(run_dir / "metrics.jsonl", "a")
        self.text = open(run_dir / "log.txt", "a")
        self._tb = None
        # TensorBoard drops events at steps >= purge_step: those after the checkpoint, not the checkpoint's own
        self._tb_purge = start_step + 1 if start_step > 0 else None
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.bar = self._new_bar(start_step) if self.progress else None
        self.last_time, self.last_step = time.perf_counter(), start_step

    @staticmethod
    def _truncate_metrics(path: Path, start_step: int) -> None:
        """On resume, drop lines logged after the checkpoint we resume from (they will be redone). The kept lines
        replace the file atomically: a kill at any moment leaves either the old file or the new one, and both
        hold every line up to the checkpoint."""
        if not path.exists():
            return
        lines = path.read_text(errors="replace").splitlines()
        kept = []
        for line in lines:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line cut short when the process was killed mid-write
                continue
            if isinstance(record, dict) and _step_of(record) <= start_step:
                kept.append(line)
        if len(kept) < len(lines):
            atomic_write_text(path, "".join(line + "\n" for line in kept))

    @property
    def tb(self) -> EventWriter:
        if self._tb is None:
            self._tb = EventWriter(self.run_dir / "tb", purge_step=self._tb_purge)
        return self._tb

    def _new_bar(self, step: int) -> tqdm:
        if not self.epoch_steps:
            return tqdm(total=self.total_steps, initial=step, unit="it", dynamic_ncols=True)
        epochs = math.ceil(self.total_steps / self.epoch_steps)
        epoch, done = divmod(step, self.epoch_steps)
        total = min(self.epoch_steps, self.total_steps - epoch * self.epoch_steps)
        return tqdm(total=total, initial=done, unit="it", dynamic_ncols=True, desc=f"epoch {epoch + 1}/{epochs}")

    def advance(self, step: int | None = None) -> None:
        """One more G iteration; `step` (the new count) starts the next epoch's bar when one ends."""
        if self.bar is not None:
            self.bar.update(1)
            if self.epoch_steps and step is not None and step % self.epoch_steps == 0 and step < self.total_steps:
                self.bar.close()
                self.bar = self._new_bar(step)

    def rate(self, step: int) -> float:
        now = time.perf_counter()
        rate = (step - self.last_step) / max(now - self.last_time, 1e-9)
        self.last_time, self.last_step = now, step
        return rate

    def log(self, step: int, epoch_info: tuple[int, int, int, int], values: dict[str, float]) -> None:
        rate = self.rate(step)
        record = {"step": step, "epoch": epoch_info[0], "time": time.time(), "it_per_s": rate,
                  **{k: (v if math.isfinite(v) else str(v)) for k, v in values.items()}}
        self.jsonl.write(json.dumps(record) + "\n")
        self.jsonl.flush()
        for key, value in values.items():
            self.tb.add_scalar(f"train/{key}", value, step)
        line = self.line_format(step, values, rate, self.batch_size) if self.line_format else \
            format_line(*epoch_info, step, values, rate)
        self.text.write(line + "\n")
        self.text.flush()
        if self.bar is not None:
            self.bar.set_postfix({k: f"{v:.3f}" for k, v in values.items() if k in ("loss_d", "loss_g")})
        else:
            print(line, flush=True)

    def event(self, kind: str, step: int, **fields) -> None:
        """A record that is not a measurement (e.g. `resume`): {"event": kind, "step": step, ...}."""
        self.jsonl.write(json.dumps({"event": kind, "step": step, **fields, "time": time.time()}) + "\n")
        self.jsonl.flush()

    def log_eval(self, step: int, scores: dict[str, float]) -> None:
        self.jsonl.write(json.dumps({"step": step, "time": time.time(), "eval": scores}) + "\n")
        self.jsonl.flush()
        for key, value in scores.items():
            self.tb.add_scalar(f"eval/{key}", value, step)
        self.message(f"[{step}] eval: " + " ".join(f"{k} {v:.4g}" for k, v in scores.items()))

    def message(self, text: str) -> None:
        self.text.write(text + "\n")
        self.text.flush()
        (self.bar.write if self.bar is not None else print)(text)

    def image(self, tag: str, image: np.ndarray, step: int) -> None:
        self.tb.add_image(tag, image, step, dataformats="HWC")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self._tb is not None:
            self._tb.close()
        self.jsonl.close()
        self.text.close()


def _step_of(record: dict) -> float:
    step = record.get("step", 0)
    return step if isinstance(step, (int, float)) else 0


class NullLogger:
    """What ranks other than 0 log: nothing."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


class LossMeter:
    """The steps' logged values, summed on the device and read back only when taken (every log_every iterations
    and before each checkpoint): one device synchronisation instead of one per step."""

    def __init__(self):
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}

    def add(self, logs: dict[str, torch.Tensor]) -> None:
        for key, value in logs.items():
            self.sums[key] = self.sums.get(key, 0) + value.detach().float()
            self.counts[key] = self.counts.get(key, 0) + 1

    def take(self, reduce=lambda values: values) -> dict[str, float]:
        """The means since the last take ({} when nothing was added); `reduce` averages the sums over ranks."""
        if not self.sums:
            return {}
        keys = list(self.sums)
        values = reduce(torch.stack([self.sums[k] for k in keys])).cpu().tolist()  # one device sync
        means = {k: v / self.counts[k] for k, v in zip(keys, values)}
        self.sums, self.counts = {}, {}
        return means


def divergence(means: dict[str, float], limits: dict[str, float]) -> str | None:
    """What says a run diverged, in words: a non-finite mean (a loss first), else one past its family's bound for a
    healthy run (`Family.loss_limits`); None when nothing does."""
    bad = sorted((k for k, v in means.items() if not math.isfinite(v)), key=lambda k: not k.startswith("loss"))
    if bad:
        return f"{bad[0]} became {means[bad[0]]}"
    past = [k for k, v in means.items() if k in limits and abs(v) > limits[k]]
    return f"{past[0]} reached {means[past[0]]:.4g} (past {limits[past[0]]:g}, the bound of a healthy run)" if past else None


def open_logger(trainer, end: int):
    """Rank 0's logger, with the run's opening lines written (what trains, where, on which data and precision)."""
    if not trainer.dist.is_main:
        return NullLogger()
    epoch_steps = None
    if trainer.cfg.train.epochs is not None:  # trained by epochs: a progress bar per epoch, as the AdaGAN card
        epoch_steps = max(trainer.sampler.batches_per_epoch // (trainer.data_batches or 1), 1)
    logger = RunLogger(trainer.run_dir, trainer.step, trainer.total_steps, trainer.progress, epoch_steps,
                       trainer.family.log_line, trainer.cfg.train.batch_size)
    lines = [f"{trainer.cfg.name}: G iterations {trainer.step} -> {end} of {trainer.total_steps} on {trainer.device}, "
             f"{len(trainer.data)} training items; run directory {trainer.run_dir}",
             trainer.arithmetic.describe(), f"threads: {trainer.threads[0]} ({trainer.threads[1]})",
             trainer.info.source and f"data: {trainer.info.source}", *trainer.data_notes]
    for line in filter(None, lines):
        logger.message(line)
    if trainer.resumed_from is not None:
        logger.event("resume", trainer.step, **{"from": trainer.resumed_from.relative_to(trainer.run_dir).as_posix()})
        logger.message(f"resumed from {trainer.resumed_from.name} at step {trainer.step}")
    return logger


def close_logger(logger, run_dir: Path, report: bool) -> None:
    """Close the run's logs; a failure to do so is an error only when nothing else already stopped the run."""
    try:
        logger.close()
    except OSError as err:
        if report:
            raise RunDirError(f"{run_dir}: could not finish writing its logs ({os_error_reason(err)})") from None
