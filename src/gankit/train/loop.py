"""The one training loop for every family.

An iteration runs the family's steps in order (e.g. D n_critic times, then G); a step draws a batch,
computes its loss, and takes one Adam step on its module. Losses are summed on the device and read back
only every `log_every` iterations and before each checkpoint (where NaN/inf stops the run), so the loop
does not synchronise with the device every step. A checkpoint holds everything needed to continue
bit-identically: weights, optimizers, EMA, step, sampler position and every RNG state.

Under torchrun the same loop runs on every rank (`gankit.train.distributed`): each draws its share of the
global batch, gradients are averaged after every backward pass, and rank 0 alone logs, samples and saves.
"""
from __future__ import annotations

import contextlib
import math
import random
import signal
import time
from pathlib import Path

import numpy as np
import torch

from gankit import __version__
from gankit.config import Config, replace
from gankit.data import InfiniteSampler, load_dataset
from gankit.data.transforms import random_hflip
from gankit.errors import ConfigError, GankitError, RunDirError, TrainingDiverged
from gankit.families import FAMILIES
from gankit.files import os_error_reason
from gankit.nn.ema import EMA
from gankit.train import checkpoint as ckpt
from gankit.train import distributed
from gankit.train.compiled import CompiledIteration
from gankit.train.logger import RunLogger
from gankit.train.precision import resolve_precision
from gankit.train.status import write_status
from gankit.viz import save_samples

REAL_GRID = "real.png"  # samples/real.png: training images shown as the sample grids are, for comparison


class Interrupted(GankitError):
    """Training stopped by SIGINT/SIGTERM after saving a checkpoint."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = 128 + signum


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"train.device is '{name}' but no CUDA device is available (torch.cuda.is_available() is False)")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class NullLogger:
    """What ranks other than 0 log: nothing."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


class Trainer:
    def __init__(self, cfg: Config, run_dir: Path, progress: bool | None = None, data=None,
                 sampler: InfiniteSampler | None = None):
        """`data`: a training dataset to use instead of loading `cfg.data` (benchmarks on synthetic data); `sampler`:
        how batches are drawn from it (default: uniformly, seeded by train.seed; AdaGAN's driver draws by weight).
"""
        self.cfg, self.run_dir, self.progress = cfg, Path(run_dir), progress
        self.dist = distributed.init_from_env(cfg.train.device)
        self.device = resolve_device(self.dist.device(cfg.train.device))
        if cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)
        seed_everything(cfg.train.seed)
        self.data = (data if data is not None else load_dataset(cfg.data, "train")).to(self.device)
        self.info = self.data.info
        local_cfg = cfg
        self._shard = (0, cfg.train.batch_size)
        if self.dist.enabled:
            if cfg.train.compile:
                raise ConfigError("train.compile runs in one process; set train.compile=false under torchrun")
            self.dist.check_batch(cfg.train.batch_size)
            self._shard = self.dist.shard(cfg.train.batch_size)
            local_cfg = replace(cfg, {"train.batch_size": self._shard[1]})  # the family sees this rank's share
        self._weight = self._shard[1] / cfg.train.batch_size
        self.family = FAMILIES.get(cfg.family)(local_cfg, self.info, self.device)
        for module in self.family.modules.values():
            self.dist.broadcast_module(module)  # identical start on every rank
        self._set_fast_paths(cfg)
        if self.dist.rank > 0:  # each rank its own noise; rank 0 draws what a single process would
            seed_everything(cfg.train.seed + 7919 * self.dist.rank)
        self._data_notes = self.family.attach_data(self.data)
        self.train_steps = self.family.steps()
        # Fused Adam: one kernel per step instead of a Python loop over tensors (CPU and CUDA).
        self.optimizers = [torch.optim.Adam(s.module.parameters(), lr=s.lr, betas=(cfg.optim.beta1, cfg.optim.beta2),
                                            eps=cfg.optim.eps, fused=True) for s in self.train_steps]
        self._params = {name: list(m.parameters()) for name, m in self.family.modules.items()}
        self._compiled = None
        if cfg.train.compile:
            if not self.family.supports_compile:
                raise ConfigError(f"train.compile is not supported by family '{cfg.family}'; set train.compile=false")
            self._compiled = CompiledIteration.get(self.family, self.train_steps, cfg, self.info, self.device)
        self.sampler = sampler or InfiniteSampler(len(self.data), cfg.train.batch_size, seed=cfg.train.seed)
        if self.sampler.num_items != len(self.data):
            raise ConfigError(f"the sampler draws from {self.sampler.num_items} items, the data has {len(self.data)}")
        self.ema = EMA(self.family.generator, cfg.train.ema_decay) if cfg.train.ema_decay > 0 else None
        self.fixed_z = self.family.latent(cfg.train.grid_size, torch.Generator().manual_seed(cfg.train.seed))
        self.total_steps = cfg.total_steps(len(self.data))
        self.step = 0
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = {}
        self._stop_signal: int | None = None
        self._resumed_from: Path | None = None
        self.hooks: list = []  # hook(trainer, logger) after every iteration's own bookkeeping (evaluation)
        data_batches = sum(s.repeat for s in self.train_steps if s.uses_data)
        self.total_epochs = max(math.ceil(self.total_steps * data_batches / self.sampler.batches_per_epoch), 1)

    def _set_fast_paths(self, cfg: Config) -> None:
        """train.tf32 (CUDA), train.channels_last, train.precision (bf16 autocast of the loss computations)."""
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = cfg.train.tf32
            torch.backends.cudnn.allow_tf32 = cfg.train.tf32
        self._channels_last = cfg.train.channels_last and self.info.kind == "image"
        if self._channels_last:
            for module in self.family.modules.values():
                module.to(memory_format=torch.channels_last)
        if cfg.train.precision == "bf16" and self.device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ConfigError("train.precision bf16: this GPU has no bfloat16 support; use fp32")
        self.precision = resolve_precision(cfg.train.precision, self.device)

    def autocast(self):
        """The context of the loss computations: bf16 autocast when train.precision resolves to bf16."""
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # --- state -------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "step": self.step, "gankit_version": __version__,
            "modules": {name: m.state_dict() for name, m in self.family.modules.items()},
            "optimizers": [opt.state_dict() for opt in self.optimizers],
            "ema": self.ema.state_dict() if self.ema else None,
            "sampler": self.sampler.state_dict(), "rng": ckpt.rng_state(), "fixed_z": self.fixed_z.cpu(),
            "data_info": self.info.to_dict(), "family": self.family.extra_state(),
            "rng_ranks": self.dist.gather_objects(ckpt.rng_state()) if self.dist.enabled else [],
        }

    def load_state_dict(self, state: dict, origin: str = "checkpoint") -> None:
        try:
            for name, module in self.family.modules.items():
                module.load_state_dict(state["modules"][name])
            for opt, opt_state in zip(self.optimizers, state["optimizers"], strict=True):
                opt.load_state_dict(opt_state)
                _check_state_shapes(opt)
            if self.ema is not None:
                self.ema.load_state_dict(state["ema"])
            self.sampler.load_state_dict(state["sampler"])
            self.family.load_extra_state(state.get("family") or {})
        except (KeyError, RuntimeError, ValueError, TypeError) as err:
            lines = [line.strip() for line in str(err).splitlines() if line.strip()]
            detail = "; ".join(lines[1:3] if len(lines) > 1 else lines)[:300]  # the first mismatches, not the header
            raise RunDirError(f"{origin}: does not match this run's configuration ({detail})") from None
        self.fixed_z = state["fixed_z"].to(self.device)
        self.step = state["step"]
        ranks = state.get("rng_ranks") or []
        if self.dist.enabled and len(ranks) == self.dist.world:
            ckpt.set_rng_state(ranks[self.dist.rank])
        else:
            ckpt.set_rng_state(state["rng"])
            if self.dist.rank > 0:  # saved under another rank count: fresh, distinct noise per rank
                seed_everything(self.cfg.train.seed + 7919 * self.dist.rank + self.step)

    def resume(self) -> Path:
        path, state = ckpt.load_latest_state(self.run_dir, log=lambda line: print(line, flush=True))
        self.load_state_dict(state, str(path))
        self._resumed_from = path
        return path

    # --- the loop ----------------------------------------------------------------------------------
    def next_batch(self) -> dict[str, torch.Tensor]:
        index = self.sampler.next()
        if self.dist.enabled:  # every rank draws the same global batch and keeps its share
            start, size = self._shard
            index = index[start:start + size]
        batch = self.data.get(index)
        if self.cfg.data.hflip:
            batch["x"] = random_hflip(batch["x"])
        if self._channels_last:
            batch["x"] = batch["x"].contiguous(memory_format=torch.channels_last)
        return batch

    def set_learning_rates(self) -> None:
        """optim.decay_steps: each lr falls linearly to 0 over the last N G iterations (a function of the step,
        so a resumed run continues the schedule exactly)."""
        if decay := self.cfg.optim.decay_steps:
            factor = min(1.0, (self.total_steps - self.step) / decay)
            for spec, opt in zip(self.train_steps, self.optimizers):
                for group in opt.param_groups:
                    group["lr"] = spec.lr * factor

    def iteration(self) -> None:
        self.set_learning_rates()
        if self._compiled is not None:
            batches = [self.next_batch() for spec in self.train_steps if spec.uses_data for _ in range(spec.repeat)]
            with self.autocast():
                results = self._compiled(self.family.modules, self.optimizers, batches)
            for logs in results:
                self._accumulate(logs)
        else:
            self._eager_iteration()
        self.family.after_iteration()
        for module in self.family.modules.values():
            self.dist.broadcast_module(module, buffers_only=True)  # batch-norm statistics as DDP does
        if self.ema is not None:
            self.ema.update(self.family.generator)

    def _accumulate(self, logs: dict[str, torch.Tensor]) -> None:
        for key, value in logs.items():
            self._sums[key] = self._sums.get(key, 0) + value.detach().float()
            self._counts[key] = self._counts.get(key, 0) + 1

    def _eager_iteration(self) -> None:
        for spec, opt in zip(self.train_steps, self.optimizers):
            self.select(spec)
            for _ in range(spec.repeat):
                self.train_step(spec, opt)

    def select(self, spec) -> None:
        """Only the module `spec` steps needs parameter gradients."""
        for name, module in self.family.modules.items():
            for p in self._params[name]:
                p.requires_grad_(module is spec.module)

    def train_step(self, spec, opt) -> None:
        """One optimizer step of `spec` on a fresh batch (`gankit bench` times these one by one)."""
        batch = self.next_batch() if spec.uses_data else {}
        with self.autocast():
            loss, logs = spec.loss(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        self.dist.average_gradients(self._params_of(spec), self._weight)
        opt.step()
        self._accumulate(logs)

    def _params_of(self, spec) -> list[torch.nn.Parameter]:
        return next(self._params[name] for name, m in self.family.modules.items() if m is spec.module)

    def flush(self, logger: RunLogger, last_good: Path | None) -> None:
        if not self._sums:
            return
        keys = list(self._sums)
        values = self.dist.mean(torch.stack([self._sums[k] for k in keys])).cpu().tolist()  # one device sync
        means = {k: v / self._counts[k] for k, v in zip(keys, values)}
        self._sums, self._counts = {}, {}
        epoch = (self.sampler.epoch + 1, self.total_epochs, self.sampler.position // self.sampler.batch_size,
                 self.sampler.batches_per_epoch)
        logger.log(self.step, epoch, means)
        bad = sorted((k for k, v in means.items() if not math.isfinite(v)), key=lambda k: not k.startswith("loss"))
        if bad:
            kept = f"last good checkpoint: {last_good}" if last_good else "no checkpoint was saved yet"
            raise TrainingDiverged(f"{bad[0]} became {means[bad[0]]} by step {self.step}; training stopped ({kept})")

    @property
    def sampling_generator(self) -> torch.nn.Module:
        """The generator that samples, is saved and is scored: the EMA of G's weights if kept, else G."""
        return self.ema.module if self.ema is not None else self.family.generator

    @torch.no_grad()
    def save_sample_grid(self, logger: RunLogger) -> None:
        if not self.dist.is_main:
            return
        G = self.sampling_generator
        was_training = G.training
        G.eval()
        samples, nrow = self.family.sample_grid(G, self.fixed_z, self.data)
        G.train(was_training)
        real = self.data.get(torch.arange(min(len(self.data), 2000)))["x"] if samples.dim() == 2 else None
        image = save_samples(samples, self.run_dir / "samples" / f"step-{self.step:07d}.png", real, f"step {self.step}", nrow)
        logger.image("samples", image, self.step)
        reference = self.run_dir / "samples" / REAL_GRID
        if samples.dim() == 4 and nrow is None and not reference.exists():  # a grid of samples: real ones to compare by eye
            spread = torch.linspace(0, len(self.data) - 1, len(samples)).round().long()  # over the data: all classes
            save_samples(self.data.get(spread)["x"].cpu(), reference)

    def save_checkpoint(self, last_good: Path | None = None) -> Path:
        """Save the training state and the snapshot, unless a weight or optimizer moment is no longer finite: then
        nothing is written, the last good checkpoint stays the newest, and training stops (TrainingDiverged)."""
        state = self.state_dict()  # a collective under torchrun (every rank's RNG state)
        if bad := self.dist.broadcast_object(_first_nonfinite(state)):  # ranks hold the same weights: rank 0 decides
            kept = f"last good checkpoint: {last_good}" if last_good else "no checkpoint was saved yet"
            raise TrainingDiverged(f"{bad} became non-finite by step {self.step}; nothing saved, training stopped ({kept})")
        path = ckpt.state_path(self.run_dir, self.step)
        if not self.dist.is_main:
            self.dist.barrier()
            return path
        path = ckpt.save_state(self.run_dir, self.step, state, self.cfg.train.keep_checkpoints)
        G = self.sampling_generator
        meta = {"config": self.cfg.to_dict(), "data_info": self.info.to_dict(), "step": self.step,
                "ema": self.ema is not None, "gankit_version": __version__}
        ckpt.save_snapshot(self.run_dir / ckpt.SNAPSHOT_NAME, G, meta)
        for stem, module in self.family.extra_snapshots().items():
            ckpt.save_snapshot(self.run_dir / f"{stem}.safetensors", module, meta)
        self.dist.barrier()
        return path

    def _on_signal(self, signum, frame) -> None:
        self._stop_signal = signum
        signal.signal(signum, signal.SIG_DFL)  # a second signal stops at once

    def run(self, until: int | None = None) -> dict:
        """Train up to `until` (default: the configured total) G iterations; returns a summary. Any file of the run
        that cannot be written (a full disk, at any moment) stops training with one line; status.json then says
        "failed", never "running"."""
        end = min(until or self.total_steps, self.total_steps)
        states = ckpt.list_states(self.run_dir)
        start_step, start_time = self.step, time.perf_counter()
        self._last_good = states[-1][1] if states else None
        status, logger, handlers, completed = "failed", NullLogger(), {}, False
        try:
            logger = self._open_logger()
            handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)} \
                if _main_thread() else {}
            self._announce(logger, end)
            if self.dist.is_main:
                write_status(self.run_dir, "running", self.step)
            status = self._train_until(end, logger)
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
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            _close(logger, self.run_dir, report=completed)
        seconds = time.perf_counter() - start_time
        return {"steps": self.step - start_step, "seconds": seconds, "final_step": self.step,
                "finished": self.step >= self.total_steps, "it_per_s": (self.step - start_step) / max(seconds, 1e-9),
                "checkpoint": str(self._last_good) if self._last_good else None}

    def _open_logger(self):
        if not self.dist.is_main:
            return NullLogger()
        epoch_steps = None
        if self.cfg.train.epochs is not None:  # trained by epochs: a progress bar per epoch, as the AdaGAN card
            data_batches = sum(s.repeat for s in self.train_steps if s.uses_data) or 1
            epoch_steps = max(self.sampler.batches_per_epoch // data_batches, 1)
        return RunLogger(self.run_dir, self.step, self.total_steps, self.progress, epoch_steps, self.family.log_line,
                         self.cfg.train.batch_size)

    def _announce(self, logger, end: int) -> None:
        logger.message(f"{self.cfg.name}: G iterations {self.step} -> {end} of {self.total_steps} on {self.device}, "
                       f"{len(self.data)} training items; run directory {self.run_dir}")
        if self.cfg.train.precision == "auto":
            logger.message(f"precision: {self.precision} (train.precision auto: "
                           f"{'this device has' if self.precision == 'bf16' else 'no'} bfloat16 units)")
        if self.info.source:
            logger.message(f"data: {self.info.source}")
        for note in self._data_notes:
            logger.message(note)
        if self._resumed_from is not None:
            logger.event("resume", self.step, **{"from": self._resumed_from.relative_to(self.run_dir).as_posix()})
            logger.message(f"resumed from {self._resumed_from.name} at step {self.step}")

    def _train_until(self, end: int, logger) -> str:
        """The loop proper; returns the run's state when it ends ("finished" or "paused")."""
        every = self.cfg.train
        for module in self.family.modules.values():
            module.train()
        if self.step == 0:
            self.save_sample_grid(logger)
        while self.step < end:
            self.iteration()
            self.step += 1
            if self.dist.any(self._stop_signal is not None, self.device):  # one rank's signal stops them all
                self._stop_signal = self._stop_signal or signal.SIGTERM
            logger.advance(self.step)
            at_checkpoint = self.step % every.checkpoint_every == 0 or self.step == end or self._stop_signal
            if self.step % every.log_every == 0 or at_checkpoint:
                self.flush(logger, self._last_good)
            if self.step % every.sample_every == 0 or self.step == end:
                self.save_sample_grid(logger)
            if at_checkpoint:
                self._last_good = self.save_checkpoint(self._last_good)
            for hook in self.hooks:
                hook(self, logger)
            if self._stop_signal:
                name = signal.Signals(self._stop_signal).name
                logger.message(f"{name} at step {self.step}: checkpoint saved to {self._last_good}")
                raise Interrupted(f"interrupted by {name} at step {self.step}; checkpoint saved; "
                                  f"continue with: gankit resume {self.run_dir}", self._stop_signal)
        return "finished" if self.step >= self.total_steps else "paused"


def _close(logger, run_dir: Path, report: bool) -> None:
    """Close the run's logs; a failure to do so is an error only when nothing else already stopped the run."""
    try:
        logger.close()
    except OSError as err:
        if report:
            raise RunDirError(f"{run_dir}: could not finish writing its logs ({os_error_reason(err)})") from None


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _check_state_shapes(opt: torch.optim.Optimizer) -> None:
    """torch loads an optimizer's state without comparing shapes; a moment shaped unlike its parameter (a
    checkpoint from another model layout) would fail later inside the update, or not at all."""
    for group in opt.param_groups:
        for p in group["params"]:
            for key, value in opt.state.get(p, {}).items():
                if torch.is_tensor(value) and value.dim() > 0 and value.shape != p.shape:
                    raise ValueError(f"optimizer state '{key}' has shape {tuple(value.shape)}, its parameter {tuple(p.shape)}")


def _first_nonfinite(state: dict) -> str:
    """The name of the first floating tensor in a training state's weights, EMA or optimizer moments that holds
    inf or NaN ('' when all are finite)."""
    def tensors(prefix: str, node):
        if torch.is_tensor(node):
            yield prefix, node
        elif isinstance(node, dict):
            for key, value in node.items():
                yield from tensors(f"{prefix}.{key}" if prefix else str(key), value)
        elif isinstance(node, (list, tuple)):
            for i, value in enumerate(node):
                yield from tensors(f"{prefix}[{i}]", value)

    for section in ("modules", "ema", "optimizers"):
        for name, tensor in tensors(section, state.get(section)):
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                return name
    return ""
