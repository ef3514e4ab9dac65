"""Sampling from a run's generator snapshot, to a grid PNG, an .npz array or a folder of PNGs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gankit.config import config_from_dict
from gankit.data.base import DataInfo
from gankit.data.image_io import save_png, to_uint8
from gankit.errors import RunDirError
from gankit.families import FAMILIES
from gankit.files import atomic_write, os_error_reason
from gankit.train.checkpoint import SNAPSHOT_NAME, load_snapshot
from gankit.viz import save_samples


def load_generator(run_dir: Path, device: torch.device | str = "cpu"):
    """(G in eval mode, Config, DataInfo, metadata) from `run_dir/generator.safetensors`."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: no such run directory")
    tensors, meta = load_snapshot(run_dir / SNAPSHOT_NAME)
    if "config" not in meta or "data_info" not in meta:
        raise RunDirError(f"{run_dir / SNAPSHOT_NAME}: not a gankit snapshot (no config metadata)")
    cfg = config_from_dict(meta["config"], str(run_dir / SNAPSHOT_NAME))
    info = DataInfo.from_dict(meta["data_info"])
    family = FAMILIES.get(cfg.family)
    G = family.build_generator(cfg, info)
    try:
        G.load_state_dict(tensors)
    except RuntimeError as err:
        raise RunDirError(f"{run_dir / SNAPSHOT_NAME}: weights do not fit the configured generator ({str(err).splitlines()[0]})") from None
    return G.to(device).eval(), cfg, info, meta


def load_generator_source(run_dir: Path, source: str, cfg, device: torch.device | str = "cpu"):
    """(G in eval mode, DataInfo) from a snapshot (.safetensors) or a training state (.pt; EMA weights if kept)."""
    if str(source).endswith(".safetensors"):
        G, _, info, _ = load_generator(run_dir, device)
        return G, info
    from gankit.train.checkpoint import load_state

    state = load_state(Path(source))
    info = DataInfo.from_dict(state["data_info"])
    G = FAMILIES.get(cfg.family).build_generator(cfg, info)
    weights = state["ema"]["module"] if state.get("ema") else state["modules"]["G"]
    try:
        G.load_state_dict(weights)
    except RuntimeError as err:
        raise RunDirError(f"{source}: weights do not fit the configured generator ({str(err).splitlines()[0]})") from None
    return G.to(device).eval(), info


def load_classifier_source(run_dir: Path, source: str, cfg, info: DataInfo, device: torch.device | str = "cpu"):
    """A family's classifier (improved_gan: the EMA of D) in eval mode, from `classifier.safetensors` beside a
    snapshot, or from a training state."""
    family = FAMILIES.get(cfg.family)
    net = family.build_classifier(cfg, info)
    if str(source).endswith(".safetensors"):
        path = Path(run_dir) / "classifier.safetensors"
        weights, _ = load_snapshot(path)
    else:
        from gankit.train.checkpoint import load_state

        path = Path(source)
        weights = family.classifier_weights(load_state(path))
    try:
        net.load_state_dict(weights)
    except RuntimeError as err:
        raise RunDirError(f"{path}: weights do not fit the configured classifier ({str(err).splitlines()[0]})") from None
    return net.to(device).eval()


@torch.no_grad()
def generate(run_dir: Path, num: int, seed: int = 0, device: str = "cpu", batch_size: int = 256) -> torch.Tensor:
    G, cfg, info, _ = load_generator(run_dir, device)
    family = FAMILIES.get(cfg.family)
    generator = torch.Generator().manual_seed(seed)
    parts = [family.generate(G, cfg, min(batch_size, num - start), device, generator).cpu()
             for start in range(0, num, batch_size)]
    return torch.cat(parts)


def write_samples(samples: torch.Tensor, out: Path) -> str:
    """`.png` -> one grid; `.npz` -> uint8 (N, H, W, C) under `images` (float `points` for 2-D data);
    anything else -> a folder of PNGs. Returns a description of what was written."""
    out = Path(out)
    if out.suffix.lower() == ".png":
        save_samples(samples, out)
        return f"grid of {len(samples)} to {out}"
    if out.suffix.lower() == ".npz":
        arrays = {"images": to_uint8(samples).permute(0, 2, 3, 1).numpy()} if samples.dim() == 4 else \
            {"points": samples.numpy().astype(np.float32)}
        atomic_write(out, lambda tmp: _savez(tmp, arrays))
        return f"{len(samples)} samples to {out}"
    if samples.dim() != 4:
        raise RunDirError(f"{out}: a folder of PNGs needs image samples; use .npz or .png for 2-D points")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunDirError(f"{out}: could not create the folder ({os_error_reason(err)})") from None
    images = to_uint8(samples).permute(0, 2, 3, 1).numpy()
    width = max(len(str(len(images) - 1)), 5)
    for i, image in enumerate(images):
        save_png(image, out / f"{i:0{width}d}.png", durable=False)
    return f"{len(images)} PNGs to {out}/"


def _savez(path: Path, arrays: dict) -> None:
    with open(path, "wb") as fh:  # a file object: np.savez would add ".npz" to a temporary name
        np.savez_compressed(fh, **arrays)
