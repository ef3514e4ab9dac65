"""Training states (resume exactly) and inference snapshots (generator weights + config).

A training state is a `torch.save` of tensors and plain containers only, so it loads with
`weights_only=True` (nothing is unpickled that could run code). Files are written to a temporary name,
flushed to disk and renamed, so a crash mid-write never leaves a half-written checkpoint behind.
"""
from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from gankit.errors import RunDirError

STATE_PATTERN = re.compile(r"^state-(\d+)\.pt$")
SNAPSHOT_NAME = "generator.safetensors"


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, write) -> None:
    """Call `write(tmp_path)`, fsync, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    _fsync_dir(path.parent)


def rng_state() -> dict[str, Any]:
    """Every RNG the training can touch: torch CPU and CUDA, numpy's and Python's global generators."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": random.getstate(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    np_state = state["numpy"]
    np.random.set_state(("MT19937", np_state["keys"].numpy().astype(np.uint32), np_state["pos"],
                         np_state["has_gauss"], np_state["gauss"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def state_path(run_dir: Path, step: int) -> Path:
    return run_dir / "checkpoints" / f"state-{step:07d}.pt"


def list_states(run_dir: Path) -> list[tuple[int, Path]]:
    folder = run_dir / "checkpoints"
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := STATE_PATTERN.match(p.name))]
    return sorted(found)


def save_state(run_dir: Path, step: int, state: dict[str, Any], keep: int) -> Path:
    path = state_path(run_dir, step)
    atomic_write(path, lambda tmp: torch.save(state, tmp))
    for _, old in list_states(run_dir)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def load_state(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise RunDirError(f"{path}: checkpoint not found") from None
    except Exception as err:  # torch raises many types for bad files (pickle, zip, runtime)
        raise RunDirError(f"{path}: unreadable or unsafe checkpoint ({type(err).__name__}: {str(err).splitlines()[0][:200]})") from None


def save_snapshot(path: Path, module: torch.nn.Module, metadata: dict[str, Any]) -> None:
    """Generator weights as safetensors; `metadata` (config, data info, step) stored as JSON strings."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    meta = {k: json.dumps(v) for k, v in metadata.items()}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=meta))


def load_snapshot(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    if not path.is_file():
        raise RunDirError(f"{path}: no generator snapshot (the run has not saved a checkpoint yet)")
    try:
        tensors = load_file(str(path))
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as fh:
            meta = {k: json.loads(v) for k, v in (fh.metadata() or {}).items()}
    except (SafetensorError, OSError, ValueError) as err:
        raise RunDirError(f"{path}: unreadable snapshot ({err})") from None
    return tensors, meta
