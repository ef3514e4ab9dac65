"""The training state of a `Trainer` as a checkpoint holds it, and back: weights, optimizers, EMA, step, sampler
position, every RNG state (every rank's under torchrun) and the family's own extra state. A checkpoint is written
only when every weight and optimizer moment is finite; beside it, the snapshot of the sampling generator and the
family's extra snapshots (improved_gan: classifier.safetensors)."""
from __future__ import annotations

from pathlib import Path

import torch

from gankit import __version__
from gankit.errors import RunDirError, TrainingDiverged
from gankit.train import checkpoint as ckpt
from gankit.train.threads import resume_threads


def capture(trainer) -> dict:
    """The trainer's state (a collective under torchrun: every rank's RNG state is gathered)."""
    return {
        "step": trainer.step, "gankit_version": __version__,
        "modules": {name: m.state_dict() for name, m in trainer.family.modules.items()},
        "optimizers": [opt.state_dict() for opt in trainer.optimizers],
        "ema": trainer.ema.state_dict() if trainer.ema else None,
        "sampler": trainer.sampler.state_dict(), "rng": ckpt.rng_state(), "fixed_z": trainer.fixed_z.cpu(),
        "data_info": trainer.info.to_dict(), "family": trainer.family.extra_state(),
        "rng_ranks": trainer.dist.gather_objects(ckpt.rng_state()) if trainer.dist.enabled else [],
        "precision": trainer.arithmetic.record(),  # what the steps up to here ran in, and why (eval.json repeats it)
        "threads": trainer.threads[0] if trainer.device.type == "cpu" else None,
    }


def restore(trainer, state: dict, origin: str = "checkpoint") -> None:
    """Load `state` into the trainer; a state of another model layout fails in one line naming `origin`."""
    try:
        for name, module in trainer.family.modules.items():
            module.load_state_dict(state["modules"][name])
        for opt, opt_state in zip(trainer.optimizers, state["optimizers"], strict=True):
            opt.load_state_dict(opt_state)
            check_state_shapes(opt)
        if trainer.ema is not None:
            trainer.ema.load_state_dict(state["ema"])
        trainer.sampler.load_state_dict(state["sampler"])
        trainer.family.load_extra_state(state.get("family") or {})
    except (KeyError, RuntimeError, ValueError, TypeError) as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        detail = "; ".join(lines[1:3] if len(lines) > 1 else lines)[:300]  # the first mismatches, not the header
        raise RunDirError(f"{origin}: does not match this run's configuration ({detail})") from None
    if trainer.device.type == "cpu" and (kept := resume_threads(trainer.cfg.train.threads, state.get("threads"))):
        trainer.threads = kept
    trainer.fixed_z = state["fixed_z"].to(trainer.device)
    trainer.step = state["step"]
    ranks, dist = state.get("rng_ranks") or [], trainer.dist
    if dist.enabled and len(ranks) == dist.world:
        ckpt.set_rng_state(ranks[dist.rank])
    else:
        ckpt.set_rng_state(state["rng"])
        if dist.rank > 0:  # saved under another rank count: fresh, distinct noise per rank
            trainer.reseed(trainer.step)


def save(trainer, last_good: Path | None = None) -> Path:
    """Save the training state and the snapshot, unless a weight or optimizer moment is no longer finite: then
    nothing is written, the last good checkpoint stays the newest, and training stops (TrainingDiverged)."""
    state, dist = capture(trainer), trainer.dist
    if bad := dist.broadcast_object(first_nonfinite(state)):  # ranks hold the same weights: rank 0 decides
        kept = f"last good checkpoint: {last_good}" if last_good else "no checkpoint was saved yet"
        raise TrainingDiverged(f"{bad} became non-finite by step {trainer.step}; nothing saved, training stopped ({kept})")
    path = ckpt.state_path(trainer.run_dir, trainer.step)
    if not dist.is_main:
        dist.barrier()
        return path
    path = ckpt.save_state(trainer.run_dir, trainer.step, state, trainer.cfg.train.keep_checkpoints)
    meta = {"config": trainer.cfg.to_dict(), "data_info": trainer.info.to_dict(), "step": trainer.step,
            "ema": trainer.ema is not None, "gankit_version": __version__, "precision": trainer.arithmetic.record()}
    ckpt.save_snapshot(trainer.run_dir / ckpt.SNAPSHOT_NAME, trainer.sampling_generator, meta)
    for stem, module in trainer.family.extra_snapshots().items():
        ckpt.save_snapshot(trainer.run_dir / f"{stem}.safetensors", module, meta)
    dist.barrier()
    return path


def check_state_shapes(opt: torch.optim.Optimizer) -> None:
    """torch loads an optimizer's state without comparing shapes; a moment shaped unlike its parameter (a
    checkpoint from another model layout) would fail later inside the update, or not at all."""
    for group in opt.param_groups:
        for p in group["params"]:
            for key, value in opt.state.get(p, {}).items():
                if torch.is_tensor(value) and value.dim() > 0 and value.shape != p.shape:
                    raise ValueError(f"optimizer state '{key}' has shape {tuple(value.shape)}, its parameter {tuple(p.shape)}")


def first_nonfinite(state: dict) -> str:
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
