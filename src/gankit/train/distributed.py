"""Data-parallel training across processes with torch.distributed (`torchrun --nproc_per_node=N -m gankit train`).

Each rank holds the whole model and trains on its share of every global batch (`train.batch_size` is the global
batch, as in the cards: a run on N ranks takes the same hyperparameters as on one; the shares differ by at most
one item when N does not divide it). After each backward pass the ranks average their gradients with one
all-reduce, each weighted by its share, so every rank takes the same Adam step and the parameters stay identical.
This is DistributedDataParallel's algorithm written against the loss steps directly instead of wrapping the
modules: a GAN step runs a module several times (StarGAN's G twice, D on reals and fakes), freezes the other
player, and the gradient penalty differentiates through `torch.autograd.grad(create_graph=True)`, where DDP's
reducer hooks have known gaps (higher-order gradients: pytorch/pytorch#63929; wrong gradients with a penalty:
#47562). Averaging after `backward()` is exact whatever the step does. Batch-norm statistics are taken from
rank 0 after every iteration, as DDP's `broadcast_buffers` does.

Rank 0 owns the run directory: it checks and creates it, writes logs, sample grids and checkpoints; logged values
are means over the ranks. A checkpoint carries every rank's RNG state so that resuming under the same rank count
continues exactly. Backends: gloo on CPU, NCCL on CUDA (one GPU per local rank).
"""
from __future__ import annotations

import contextlib
import datetime
import gc
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from gankit.errors import ConfigError, GankitError


@dataclass
class Distributed:
    """This process's place in the job; a single process is rank 0 of 1 and every method is a no-op."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, global_batch: int) -> tuple[int, int]:
        """(start, size) of this rank's share of a global batch: sizes differ by at most one."""
        base, extra = divmod(global_batch, self.world)
        size = base + (self.rank < extra)
        start = self.rank * base + min(self.rank, extra)
        return start, size

    def check_batch(self, global_batch: int) -> None:
        if global_batch < self.world:
            raise ConfigError(f"train.batch_size {global_batch} is smaller than the {self.world} processes "
                              "it is shared between")

    def plan_batch(self, global_batch: int, compile: bool = False) -> tuple[tuple[int, int], float]:
        """((start, size) of this rank's share of each batch, its weight size / global batch) for the loop."""
        if not self.enabled:
            return (0, global_batch), 1.0
        if compile:
            raise ConfigError("train.compile runs in one process; set train.compile=false under torchrun")
        self.check_batch(global_batch)
        shard = self.shard(global_batch)
        return shard, shard[1] / global_batch

    def device(self, name: str) -> str:
        """The training device of this rank: cuda -> cuda:<local rank>."""
        if self.enabled and name in ("cuda", "auto") and torch.cuda.is_available():
            return f"cuda:{self.local_rank}"
        return name

    def average_gradients(self, params: list[nn.Parameter], weight: float) -> None:
        """Replace each gradient with the weighted sum over ranks (weight = this rank's share of the batch)."""
        if not self.enabled:
            return
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads]) * weight
        dist.all_reduce(flat)
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """Mean over ranks (logged values)."""
        if not self.enabled:
            return values
        values = values.clone()
        dist.all_reduce(values)
        return values / self.world

    def any(self, flag: bool, device) -> bool:
        """True if any rank's flag is (a stop signal seen by one rank stops all)."""
        if not self.enabled:
            return flag
        value = torch.tensor([float(flag)], device=device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def broadcast_module(self, module: nn.Module, buffers_only: bool = False) -> None:
        """Rank 0's parameters (unless buffers_only) and buffers to every rank."""
        if not self.enabled:
            return
        tensors = [] if buffers_only else [p.data for p in module.parameters()]
        tensors += [b for b in module.buffers() if b.is_floating_point() or not buffers_only]
        for t in tensors:
            dist.broadcast(t, 0)

    def broadcast_object(self, value):
        """Rank 0's picklable value on every rank."""
        if not self.enabled:
            return value
        box = [value]
        dist.broadcast_object_list(box, 0)
        return box[0]

    def gather_objects(self, value) -> list:
        """Every rank's value, in rank order (on every rank)."""
        if not self.enabled:
            return [value]
        out = [None] * self.world
        dist.all_gather_object(out, value)
        return out

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


_CURRENT = Distributed()


def current() -> Distributed:
    return _CURRENT


def init_from_env(device: str) -> Distributed:
    """Join the process group torchrun describes (RANK, WORLD_SIZE, LOCAL_RANK); a plain process stays alone."""
    global _CURRENT
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _CURRENT
    if not dist.is_initialized():
        cuda = device in ("cuda", "auto") and torch.cuda.is_available() or device.startswith("cuda")
        if cuda and not torch.cuda.is_available():
            raise ConfigError(f"train.device is '{device}' but no CUDA device is available")
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if cuda:
            torch.cuda.set_device(local_rank)
        # rank 0 scores samples (eval.every) while the others wait at a barrier: longer than NCCL's default 10 min
        # on a big eval. A rank that dies is caught by torchrun, which stops the others, not by this timeout.
        dist.init_process_group("nccl" if cuda else "gloo", timeout=datetime.timedelta(hours=2))
    _CURRENT = Distributed(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    return _CURRENT


def shutdown(synchronize: bool = False) -> None:
    """Leave the process group. `synchronize` (every rank got here the same way, e.g. all succeeded): meet at a
    barrier first, so no rank tears down gloo's connections while a peer still uses them (a rank then aborted at
    exit now and then: "terminate called without an active exception"). Not after an error: a rank blocked in
    another collective would never arrive. Garbage is collected first: a DDP wrapper left in a reference cycle keeps
    the group alive past `destroy_process_group`, and its gloo threads were then torn down at interpreter exit, in
    no set order (seen once more in 2026-12 after the barrier went in)."""
    global _CURRENT
    if dist.is_initialized():
        if synchronize:
            with contextlib.suppress(RuntimeError):
                dist.barrier()
        gc.collect()
        dist.destroy_process_group()
    _CURRENT = Distributed()


def on_main(fn, *args):
    """Run `fn` on rank 0 only (the run directory is rank 0's); its user error, if any, is raised on every rank."""
    group = current()
    result, error = None, None
    if group.is_main:
        try:
            result = fn(*args)
        except GankitError as err:
            error = err
    error = group.broadcast_object(error)
    if error is not None:
        raise error
    return group.broadcast_object(result)
