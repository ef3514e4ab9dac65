"""The one training loop for every family.

An iteration runs the family's steps in order (e.g. D n_critic times, then G); a step draws a batch,
computes its loss, and takes one Adam step on its module. Losses are summed on the device and read back
only every `log_every` iterations and before each checkpoint (where NaN/inf stops the run), so the loop
does not synchronise with the device every step. A checkpoint (`gankit.train.state`) holds everything needed to
continue bit-identically: weights, optimizers, EMA, step, sampler position and every RNG state.

Each concern around the loop is one object with its own module: DDP (`distributed`: under torchrun each rank
draws its share of the global batch, gradients are averaged after every backward pass, rank 0 alone logs, samples
and saves), EMA (`gankit.nn.ema`), arithmetic (`precision`: bf16 autocast, channels_last, tf32), compilation
(`compiled`), logging (`logger`), signals (`signals`), sample grids (`grids`); evaluation comes in as `hooks`.
"""
from __future__ import annotations

import contextlib
import math
import signal
import time
from pathlib import Path

import torch

from gankit.config import Config, replace
from gankit.data import InfiniteSampler, load_dataset
from gankit.data.transforms import augment
from gankit.errors import ConfigError, RunDirError, TrainingDiverged
from gankit.families import FAMILIES
from gankit.files import os_error_reason
from gankit.nn.ema import EMA
from gankit.train import checkpoint as ckpt
from gankit.train import distributed, state
from gankit.train.compiled import CompiledIteration
from gankit.train.device import resolve_device, seed_everything
from gankit.train.grids import save_sample_grid
from gankit.train.logger import LossMeter, NullLogger, close_logger, divergence, open_logger
from gankit.train.precision import Arithmetic
from gankit.train.signals import Interrupted, StopSignals
from gankit.train.status import write_status
from gankit.train.threads import apply_threads


class Trainer:
    def __init__(self, cfg: Config, run_dir: Path, progress: bool | None = None, data=None,
                 sampler: InfiniteSampler | None = None):
        """`data`: a training dataset instead of `cfg.data`'s (benchmarks); `sampler`: how batches are drawn (default:
        uniformly, seeded by train.seed; AdaGAN's driver draws by weight). eval.every is a hook make_trainer adds."""
        self.cfg, self.run_dir, self.progress = cfg, Path(run_dir), progress
        self.dist = distributed.init_from_env(cfg.train.device)
        self.device = resolve_device(self.dist.device(cfg.train.device))
        self.threads = apply_threads(cfg.train.threads, self.device)  # (count, why)
        seed_everything(cfg.train.seed)
        self.data = (data if data is not None else load_dataset(cfg.data, "train")).to(self.device)
        self.info = self.data.info
        self._shard, self._weight = self.dist.plan_batch(cfg.train.batch_size, cfg.train.compile)
        local_cfg = replace(cfg, {"train.batch_size": self._shard[1]}) if self.dist.enabled else cfg  # this rank's share
        self.family = FAMILIES.get(cfg.family)(local_cfg, self.info, self.device)
        self.arithmetic = Arithmetic(cfg.train, self.device, self.info.kind == "image")
        self.arithmetic.prepare(self.family.modules.values())
        self.precision = self.arithmetic.precision
        self.reseed(0)
        self.data_notes = self.family.attach_data(self.data)
        for module in self.family.modules.values():  # identical start on every rank (after a family's data-dependent init)
            self.dist.broadcast_module(module)
        self.train_steps = self.family.steps()
        # Fused Adam: one kernel per step instead of a Python loop over tensors (CPU and CUDA).
        self.optimizers = [torch.optim.Adam(s.module.parameters(), lr=s.lr, betas=(cfg.optim.beta1, cfg.optim.beta2),
                                            eps=cfg.optim.eps, fused=True) for s in self.train_steps]
        self._params = {name: [p for p in m.parameters() if p.requires_grad] for name, m in self.family.modules.items()}
        if cfg.train.compile and not self.family.supports_compile:
            raise ConfigError(f"train.compile is not supported by family '{cfg.family}'; set train.compile=false")
        self._compiled = CompiledIteration.get(self.family, self.train_steps, cfg, self.info, self.device) \
            if cfg.train.compile else None
        self.sampler = sampler or InfiniteSampler(len(self.data), cfg.train.batch_size, seed=cfg.train.seed)
        if self.sampler.num_items != len(self.data):
            raise ConfigError(f"the sampler draws from {self.sampler.num_items} items, the data has {len(self.data)}")
        self.ema = EMA(self.family.generator, cfg.train.ema_decay) if cfg.train.ema_decay > 0 else None
        self.fixed_z = self.family.latent(cfg.train.grid_size, torch.Generator().manual_seed(cfg.train.seed))
        self.total_steps = cfg.total_steps(len(self.data))
        self.step = 0
        self.losses = LossMeter()
        self.hooks: list = []  # hook(trainer, logger) after every iteration's own bookkeeping (evaluation)
        self.step_probe = lambda spec: contextlib.nullcontext()  # around each optimizer step (`gankit bench` times them)
        self.resumed_from: Path | None = None
        self.data_batches = sum(s.repeat for s in self.train_steps if s.uses_data)
        self.total_epochs = max(math.ceil(self.total_steps * self.data_batches / self.sampler.batches_per_epoch), 1)

    def reseed(self, step: int) -> None:
        """Ranks other than 0 draw their own noise (rank 0 draws what a single process would)."""
        if self.dist.rank > 0:
            seed_everything(self.cfg.train.seed + 7919 * self.dist.rank + step)

    def autocast(self):
        return self.arithmetic.autocast()

    @property
    def sampling_generator(self) -> torch.nn.Module:
        """The generator that samples, is saved and is scored: the EMA of G's weights if kept, else G."""
        return self.ema.module if self.ema is not None else self.family.generator

    def state_dict(self) -> dict:
        return state.capture(self)

    def load_state_dict(self, saved: dict, origin: str = "checkpoint") -> None:
        state.restore(self, saved, origin)

    def resume(self) -> Path:
        path, saved = ckpt.load_latest_state(self.run_dir, log=lambda line: print(line, flush=True))
        self.load_state_dict(saved, str(path))
        self.resumed_from = path
        return path

    # --- an iteration ------------------------------------------------------------------------------
    def next_batch(self) -> dict[str, torch.Tensor]:
        index = self.sampler.next()
        if self.dist.enabled:  # every rank draws the same global batch and keeps its share
            start, size = self._shard
            index = index[start:start + size]
        batch = self.data.get(index)
        batch["x"] = augment(batch["x"], self.cfg.data.hflip, self.cfg.data.shift)
        batch["x"] = self.arithmetic.layout(batch["x"])
        return batch

    def set_learning_rates(self) -> None:
        """optim.decay_steps: each lr falls linearly to 0 over the last N G iterations, or over the whole run when it
        is shorter (a function of the step, so a resumed run continues the schedule exactly)."""
        if decay := min(self.cfg.optim.decay_steps, self.total_steps):
            factor = min(1.0, (self.total_steps - self.step) / decay)
            for spec, opt in zip(self.train_steps, self.optimizers):
                for group in opt.param_groups:
                    group["lr"] = spec.lr * factor

    def iteration(self) -> None:
        self.set_learning_rates()
        if self._compiled is not None:
            batches = [self.next_batch() for spec in self.train_steps if spec.uses_data for _ in range(spec.repeat)]
            with self.autocast():
                for logs in self._compiled(self.family.modules, self.optimizers, batches):
                    self.losses.add(logs)
        else:
            for spec, opt in zip(self.train_steps, self.optimizers):
                self.select(spec)
                for _ in range(spec.repeat):
                    with self.step_probe(spec):
                        self.train_step(spec, opt)
        self.family.after_iteration()
        for module in self.family.modules.values():
            self.dist.broadcast_module(module, buffers_only=True)  # batch-norm statistics as DDP does
        if self.ema is not None:
            self.ema.update(self.family.generator)

    def select(self, spec) -> None:
        """Only the module `spec` steps needs parameter gradients."""
        for name, module in self.family.modules.items():
            for p in self._params[name]:
                p.requires_grad_(module is spec.module)

    def train_step(self, spec, opt) -> None:
        """One optimizer step of `spec` on a fresh batch."""
        batch = self.next_batch() if spec.uses_data else {}
        with self.autocast():
            loss, logs = spec.loss(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        self.dist.average_gradients(next(self._params[n] for n, m in self.family.modules.items() if m is spec.module),
                                    self._weight)
        opt.step()
        self.losses.add(logs)

    # --- the run -----------------------------------------------------------------------------------
    def flush(self, logger, last_good: Path | None) -> None:
        """Log the means since the last flush; a non-finite one, or one past the family's `loss_limits`, stops
        training (TrainingDiverged)."""
        if not (means := self.losses.take(self.dist.mean)):
            return
        s = self.sampler
        logger.log(self.step, (s.epoch + 1, self.total_epochs, s.position // s.batch_size, s.batches_per_epoch), means)
        if what := divergence(means, self.family.loss_limits):
            kept = f"last good checkpoint: {last_good}" if last_good else "no checkpoint was saved yet"
            raise TrainingDiverged(f"{what} by step {self.step}; training stopped ({kept})")

    def save_sample_grid(self, logger) -> None:
        if self.dist.is_main:
            image = save_sample_grid(self.family, self.sampling_generator, self.fixed_z, self.data,
                                     self.run_dir / "samples", self.step)
            logger.image("samples", image, self.step)

    def save_checkpoint(self, last_good: Path | None = None) -> Path:
        return state.save(self, last_good)

    def run(self, until: int | None = None) -> dict:
        """Train up to `until` (default: the configured total) G iterations; returns a summary. Any file of the run
        that cannot be written (a full disk, at any moment) stops training with one line; status.json then says
        "failed", never "running"."""
        end = min(until or self.total_steps, self.total_steps)
        start_step, start_time, states = self.step, time.perf_counter(), ckpt.list_states(self.run_dir)
        self._last_good = states[-1][1] if states else None
        status, logger, completed, signals = "failed", NullLogger(), False, StopSignals()
        try:
            signals.__enter__()  # until status.json and the logs are final: a signal then is only noted
            logger = open_logger(self, end)
            if self.dist.is_main:
                write_status(self.run_dir, "running", self.step)
            status = self._train_until(end, logger, signals)
            completed = True
        except OSError as err:  # a file of the run could not be written (disk full, folder gone read-only)
            kept = f"last good checkpoint: {self._last_good}" if self._last_good else "no checkpoint was saved yet"
            raise RunDirError(f"{self.run_dir}: could not write {getattr(err, 'filename', None) or 'a file'} at step "
                              f"{self.step} ({os_error_reason(err)}); training stopped ({kept})") from None
        except Interrupted:
            status = "interrupted"
            raise
        finally:
            if self.dist.is_main:
                write_status(self.run_dir, status, self.step)
            close_logger(logger, self.run_dir, report=completed)
            signals.__exit__()
        seconds = time.perf_counter() - start_time
        return {"steps": self.step - start_step, "seconds": seconds, "final_step": self.step,
                "finished": self.step >= self.total_steps, "it_per_s": (self.step - start_step) / max(seconds, 1e-9),
                "checkpoint": str(self._last_good) if self._last_good else None}

    def _train_until(self, end: int, logger, signals: StopSignals) -> str:
        """The loop proper; returns the run's state when it ends ("finished" or "paused")."""
        every = self.cfg.train
        for module in self.family.modules.values():
            module.train()
        if self.step == 0:
            self.save_sample_grid(logger)
        while self.step < end:
            self.iteration()
            self.step += 1
            # decided once per step by all ranks: a signal landing later (sample grid, hook) waits for the next step
            if stop := self.dist.any(signals.received is not None, self.device):
                signals.received = signals.received or signal.SIGTERM
            logger.advance(self.step)
            if (at_checkpoint := self.step % every.checkpoint_every == 0 or self.step == end or stop) or self.step % every.log_every == 0:
                self.flush(logger, self._last_good)
            if self.step % every.sample_every == 0 or self.step == end:
                self.save_sample_grid(logger)
            if at_checkpoint:
                self._last_good = self.save_checkpoint(self._last_good)
            if stop:
                logger.message(f"{signals.name()} at step {self.step}: checkpoint saved to {self._last_good}")
                raise Interrupted(f"interrupted by {signals.name()} at step {self.step}; checkpoint saved; "
                                  f"continue with: gankit resume {self.run_dir}", signals.received)
            for hook in self.hooks:
                hook(self, logger)
        return "finished" if self.step >= self.total_steps else "paused"
