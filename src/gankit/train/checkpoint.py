"""Training states (resume exactly) and inference snapshots (generator weights + config).

A training state is a `torch.save` of tensors and plain containers only, so it loads with
`weights_only=True` (a pickle that would run code is refused, not run), followed by a footer holding the
SHA-256 of those bytes: a truncated or corrupted file is detected before anything is unpickled. Files are
written to a temporary name, flushed to disk and renamed, so a crash mid-write never leaves a half-written
checkpoint under a real name; a bad one found on resume is renamed `*.bad` (kept, never read again) and the
previous checkpoint is used.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import save_file

from gankit.errors import RunDirError
from gankit.files import atomic_write  # noqa: F401  (re-exported: checkpoints and snapshots are written with it)

STATE_PATTERN = re.compile(r"^state-(\d+)\.pt$")
SNAPSHOT_NAME = "generator.safetensors"
FOOTER = b"GANKIT-SHA256\x00"  # then the 32-byte digest of everything before it


class BadCheckpoint(RunDirError):
    """A training state that is truncated, corrupted, not gankit's, or would run code when unpickled."""


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
    found = [(int(m.group(1)), p) for p in folder.iterdir()
             if (m := STATE_PATTERN.match(p.name)) and p.is_file()]  # not a dangling link: it would hide the older states
    return sorted(found)


def save_state(run_dir: Path, step: int, state: dict[str, Any], keep: int) -> Path:
    path = state_path(run_dir, step)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    atomic_write(path, lambda tmp: tmp.write_bytes(payload + FOOTER + hashlib.sha256(payload).digest()))
    for _, old in list_states(run_dir)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def _verified_payload(path: Path) -> bytes:
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise RunDirError(f"{path}: checkpoint not found") from None
    except OSError as err:
        raise BadCheckpoint(f"{path}: unreadable checkpoint ({err.strerror or err})") from None
    tail = len(FOOTER) + 32
    if len(data) >= tail and data[-tail:-32] == FOOTER:
        payload = data[:-tail]
        if hashlib.sha256(payload).digest() != data[-32:]:
            raise BadCheckpoint(f"{path}: checksum mismatch (the file is corrupted or was altered)")
        return payload
    raise BadCheckpoint(f"{path}: truncated or not a gankit checkpoint (no checksum footer)")


def load_state(path: Path) -> dict[str, Any]:
    """A verified training state; BadCheckpoint (a RunDirError) when truncated, corrupted or unsafe."""
    payload = _verified_payload(path)
    try:
        state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:  # weights_only refuses any global outside tensors and plain containers
        found = re.search(r"(?:unsupported|Unsupported global:) GLOBAL ([\w.]+)", str(err))  # torch's long message names the culprit
        what = f"'{found.group(1)}'" if found else str(err).split("\n")[0][:160]
        raise BadCheckpoint(f"{path}: refused, it holds objects that would run code when loaded ({what})") from None
    except Exception as err:  # torch raises many types for bad zips (RuntimeError, EOFError, ValueError)
        raise BadCheckpoint(f"{path}: truncated or not a gankit checkpoint ({type(err).__name__}: "
                            f"{str(err).splitlines()[0][:160] if str(err) else 'no detail'})") from None
    named = STATE_PATTERN.match(Path(path).name)
    if named and isinstance(state, dict) and isinstance(state.get("step"), int) and state["step"] != int(named.group(1)):
        raise BadCheckpoint(f"{path}: holds step {state['step']}, not the step its name says (renamed or copied "
                            f"over?); its name must be {state_path(Path(path).parents[1], state['step']).name}")
    return state


def load_latest_state(run_dir: Path, log=print) -> tuple[Path, dict[str, Any]]:
    """The newest training state that verifies; a bad one is reported, renamed `*.bad` and the previous one used."""
    states = list_states(run_dir)
    if not states:
        raise RunDirError(f"{run_dir}: no checkpoint in checkpoints/ to resume from (start again with `gankit train`)")
    reasons = []
    for _, path in reversed(states):
        try:
            return path, load_state(path)
        except BadCheckpoint as err:
            bad = path.with_name(path.name + ".bad")
            try:
                os.replace(path, bad)
                log(f"warning: {err}; kept as {bad.name}, trying the previous checkpoint")
            except OSError:  # a read-only run: leave it where it is, it is skipped again next time
                log(f"warning: {err}; trying the previous checkpoint")
            reasons.append(str(err).removeprefix(f"{path.parent}/"))
    raise RunDirError(f"{run_dir}: no usable checkpoint left in checkpoints/ ({'; '.join(reasons)}; kept as *.bad)")


def save_snapshot(path: Path, module: torch.nn.Module, metadata: dict[str, Any]) -> None:
    """Generator weights as safetensors; `metadata` (config, data info, step) stored as JSON strings."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    meta = {k: json.dumps(v) for k, v in metadata.items()}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=meta))


def snapshot_metadata(path: Path) -> dict[str, Any]:
    """A snapshot's metadata alone (config, data info, step; the weights are not read), {} where none is readable."""
    if not path.is_file():
        return {}
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as fh:
            return _metadata(fh)
    except (SafetensorError, OSError, ValueError):
        return {}


def _metadata(fh) -> dict[str, Any]:
    return {k: json.loads(v) for k, v in (fh.metadata() or {}).items()}


def load_snapshot(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    if not path.is_file():
        raise RunDirError(f"{path}: no generator snapshot (the run has not saved a checkpoint yet)")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as fh:  # one open: weights and metadata of the same file, even
            meta = _metadata(fh)  # if training renames a newer one over it
            tensors = {name: fh.get_tensor(name) for name in fh.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise RunDirError(f"{path}: unreadable snapshot ({err})") from None
    return tensors, meta
