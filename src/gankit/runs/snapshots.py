"""Reading a run's generator (or classifier) back: from the snapshot `generator.safetensors` (weights + the config and
data facts they were trained with) or from a training state in checkpoints/ (the EMA weights when kept)."""
from __future__ import annotations

from pathlib import Path

import torch

from gankit.config import config_from_dict
from gankit.data.base import DataInfo
from gankit.errors import RunDirError
from gankit.families import FAMILIES
from gankit.runs.directory import CONFIG_NAME, read_run_config
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
    _check_belongs_to_run(run_dir, cfg)
    bad = sorted(name for name, t in tensors.items() if t.is_floating_point() and not bool(torch.isfinite(t).all()))
    if bad:
        raise RunDirError(f"{run_dir / SNAPSHOT_NAME}: holds non-finite weights ({', '.join(bad[:3])}"
                          f"{' ...' if len(bad) > 3 else ''}); damaged, or saved from a diverged G")
    info = DataInfo.from_dict(meta["data_info"])
    family = FAMILIES.get(cfg.family)
    G = family.build_generator(cfg, info)
    try:
        G.load_state_dict(tensors)
    except RuntimeError as err:
        raise RunDirError(f"{run_dir / SNAPSHOT_NAME}: weights do not fit the configured generator ({str(err).splitlines()[0]})") from None
    return G.to(device).eval(), cfg, info, meta


def _check_belongs_to_run(run_dir: Path, snapshot_cfg) -> None:
    """The snapshot carries its own config; where the run's config.yaml is there too, both must name the same family,
    model and data (a snapshot copied in from another run would otherwise be sampled, scored and exported as this
    run's). Training settings may differ: resume rewrites them."""
    if not (run_dir / CONFIG_NAME).is_file():
        return
    run_cfg = read_run_config(run_dir).to_dict()
    mine = snapshot_cfg.to_dict()
    shape = ("name", "size", "channels", "attributes", "distribution", "modes")  # not root: data may move
    for key, here, there in [("family", mine["family"], run_cfg["family"]), ("model", mine["model"], run_cfg["model"]),
                             *((f"data.{k}", mine["data"].get(k), run_cfg["data"].get(k)) for k in shape)]:
        if here != there:
            raise RunDirError(f"{run_dir / SNAPSHOT_NAME}: not this run's generator (its {key} differs from "
                              f"{run_dir / CONFIG_NAME}); copied from another run?")


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
