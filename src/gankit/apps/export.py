"""Freezing a run's generator for deployment: ONNX (run by onnxruntime) or TorchScript, with a dynamic batch
size, checked against PyTorch before it is called done.

The interface comes from the family (`export_interface`): G(z) for the GAN families, G(image, label) for
StarGAN, G(z, component) for an AdaGAN mixture. After writing the file, the export is loaded back and run on
fresh random inputs at batch sizes other than the one it was traced with; the largest absolute difference
from the PyTorch generator must stay within `tolerance` (1e-4 by default) or the export fails (exit 1) and the
file is removed. A JSON sidecar (`FILE.json`) records the inputs, shapes, output range and family facts.
"""
from __future__ import annotations

import io
import logging
import math
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from gankit.errors import ConfigError, GankitError, RunDirError
from gankit.families import FAMILIES
from gankit.files import atomic_write_json, os_error_reason, temp_name
from gankit.runs.directory import check_out_beside_run
from gankit.runs.snapshots import load_generator

FORMATS = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}
EXAMPLE_BATCH = 2  # the batch the export is traced with; parity runs other sizes
CHECK_BATCHES = (1, 5)


class ExportError(GankitError):
    """The exporter failed, or the exported generator disagrees with PyTorch beyond the tolerance."""

    exit_code = 1


def _require_onnx():
    try:
        import onnx  # noqa: F401
        import onnxruntime
        import onnxscript  # noqa: F401  (torch's ONNX exporter builds the graph with it)
    except ImportError as err:
        raise ConfigError(f"ONNX export needs the optional packages onnx, onnxscript and onnxruntime ({err.name} is missing): "
                          "pip install -e '.[onnx]' in the gankit clone") from None
    return onnxruntime


def _export_onnx(module, example, names, path: Path) -> None:
    from torch.export import Dim

    batch = Dim("batch", min=1)
    dynamic = tuple({0: batch} for _ in names)  # positional: the module's own argument names may differ
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quiet.setLevel(logging.ERROR)  # e.g. "torchvision is not installed. Skipping torchvision::nms"
        try:
            program = torch.onnx.export(module, example, dynamo=True, input_names=list(names), output_names=["output"],
                                        dynamic_shapes=dynamic, external_data=False, verbose=False)
        finally:
            quiet.setLevel(level)
    program.save(str(path), external_data=False)


def _onnx_runner(path: Path, names):
    ort = _require_onnx()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda *inputs: torch.from_numpy(session.run(None, {n: t.numpy() for n, t in zip(names, inputs)})[0])


def _export_torchscript(module, example, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is in maintenance; tracing still serves deployment
        traced = torch.jit.trace(module, example, check_trace=False)
        buffer = io.BytesIO()  # serialized in memory: torch's own file writer aborts the process on a full disk
        torch.jit.save(traced, buffer)
    path.write_bytes(buffer.getvalue())


def _torchscript_runner(path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = torch.jit.load(str(path), map_location="cpu")
    return lambda *inputs: loaded(*inputs)


def _discard(path: Path) -> None:
    """Remove a temporary export (failed, or left behind once renamed)."""
    path.unlink(missing_ok=True)


def default_path(run_dir: Path, fmt: str) -> Path:
    return Path(run_dir) / f"generator{FORMATS[fmt]}"


@torch.no_grad()
def export_generator(run_dir: Path, fmt: str, out: Path | None = None, tolerance: float = 1e-4, seed: int = 0) -> dict:
    """Export RUN_DIR's generator snapshot to `out` (default RUN_DIR/generator.onnx or .torchscript.pt) and check
    parity; returns {"path", "sidecar", "format", "inputs", "max_abs_diff", "batches", "seconds"}."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format: expected one of {', '.join(FORMATS)}, got '{fmt}'")
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise ConfigError(f"--tolerance {tolerance}: expected a finite number >= 0 (the largest abs difference allowed)")
    check_out_beside_run(out, run_dir, allowed=tuple(f"generator{ext}{side}" for ext in FORMATS.values()
                                                     for side in ("", ".json")))
    if fmt == "onnx":
        _require_onnx()
    G, cfg, info, meta = load_generator(run_dir, "cpu")
    interface = FAMILIES.get(cfg.family).export_interface(G, cfg, info)
    module = interface.module.eval()
    final = Path(out) if out else default_path(run_dir, fmt)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunDirError(f"{final.parent}: could not create the folder ({os_error_reason(err)})") from None
    path = temp_name(final)  # written and checked under a temporary name: a failed export leaves an older one intact
    sidecar = final.with_name(final.name + ".json")
    try:
        report = _export_and_check(module, interface, cfg, info, meta, fmt, path, final, tolerance, seed)
        atomic_write_json(sidecar, report | {"path": str(final)})  # first: a sidecar that cannot be written keeps the model out
        os.replace(path, final)
    except OSError as err:
        raise RunDirError(f"{final}: could not be written ({os_error_reason(err)})") from None
    finally:
        _discard(path)
    return report | {"path": str(final), "sidecar": str(sidecar)}


def _export_and_check(module, interface, cfg, info, meta, fmt: str, path: Path, final: Path, tolerance: float,
                      seed: int) -> dict:
    generator = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    example = interface.example(EXAMPLE_BATCH, generator)
    try:
        if fmt == "onnx":
            _export_onnx(module, example, interface.inputs, path)
            run = _onnx_runner(path, interface.inputs)
        else:
            _export_torchscript(module, example, path)
            run = _torchscript_runner(path)
    except (GankitError, OSError):  # an OSError (a full disk) is said as such by the caller
        raise
    except Exception as err:  # an operator the exporter cannot express: say which, keep nothing half-written
        _discard(path)
        raise ExportError(f"{final}: {fmt} export of the '{cfg.family}' generator failed: "
                          f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}") from err
    seconds = time.perf_counter() - start
    diffs = []
    for n in CHECK_BATCHES:
        inputs = interface.example(n, generator)
        expected, got = module(*inputs), run(*inputs)
        if tuple(got.shape) != tuple(expected.shape):
            _discard(path)
            raise ExportError(f"{final}: batch {n} gives shape {tuple(got.shape)}, PyTorch {tuple(expected.shape)}; not written")
        diffs.append(float((got.float() - expected.float()).abs().max()))
    worst = max(diffs)
    if not np.isfinite(worst) or worst > tolerance:
        _discard(path)
        raise ExportError(f"{final}: max abs difference from PyTorch {worst:.3g} > {tolerance:g} "
                          f"(batches {', '.join(map(str, CHECK_BATCHES))}); the export was not written")
    shapes = {name: ["batch", *t.shape[1:]] for name, t in zip(interface.inputs, example)}
    return {"format": fmt, "family": cfg.family, "step": meta.get("step"), "inputs": shapes,
              "output": ["batch", *module(*example).shape[1:]], "output_range": [-1, 1] if info.kind == "image" else None,
              **interface.facts, "max_abs_diff": worst, "tolerance": tolerance, "batches": list(CHECK_BATCHES),
              "seconds": round(seconds, 2), "torch": torch.__version__}
