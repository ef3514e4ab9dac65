"""Reading a run's generator (or classifier) back: from the snapshot `generator.safetensors` (weights + the config and
data facts they were trained with) or from a training state in checkpoints/ (the EMA weights when kept)."""
from __future__ import annotations

from pathlib import Path

import torch

from gankit.config import config_from_dict
from gankit.data.base import DataInfo
from gankit.errors import RunDirError
from gankit.families import FAMILIES
from gankit.train.checkpoint import SNAPSHOT_NAME, load_snapshot, load_state


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


def load_generator_source(run_dir: Path, source: str, cfg, device: torch.device | str = "cpu", weights: str = "ema"):
    """(G in eval mode, DataInfo, how it was trained: {"precision", "why"} or {} for files older than that record)
    from a snapshot (.safetensors) or a training state (.pt). `weights`: "ema" takes the EMA of G where the run kept
    one (else G itself), "raw" takes G as trained, from a training state only (snapshots hold the EMA)."""
    if str(source).endswith(".safetensors"):
        if weights == "raw":
            raise ValueError("raw weights come from a training state, not from the snapshot")
        G, _, info, meta = load_generator(run_dir, device)
        return G, info, meta.get("precision") or {}
    state = load_state(Path(source))
    info = DataInfo.from_dict(state["data_info"])
    G = FAMILIES.get(cfg.family).build_generator(cfg, info)
    weights = state["ema"]["module"] if state.get("ema") and weights == "ema" else state["modules"]["G"]
    try:
        G.load_state_dict(weights)
    except RuntimeError as err:
        raise RunDirError(f"{source}: weights do not fit the configured generator ({str(err).splitlines()[0]})") from None
    return G.to(device).eval(), info, state.get("precision") or {}


def load_classifier_source(run_dir: Path, source: str, cfg, info: DataInfo, device: torch.device | str = "cpu"):
    """A family's classifier (improved_gan: the EMA of D) in eval mode, from `classifier.safetensors` beside a
    snapshot, or from a training state."""
    family = FAMILIES.get(cfg.family)
    net = family.build_classifier(cfg, info)
    if str(source).endswith(".safetensors"):
        path = Path(run_dir) / "classifier.safetensors"
        weights, _ = load_snapshot(path)
    else:
        path = Path(source)
        weights = family.classifier_weights(load_state(path))
    try:
        net.load_state_dict(weights)
    except RuntimeError as err:
        raise RunDirError(f"{path}: weights do not fit the configured classifier ({str(err).splitlines()[0]})") from None
    return net.to(device).eval()
