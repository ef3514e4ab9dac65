"""`gankit bench PRESET`: how fast a preset trains on this machine, and how close to its limit.

Warm-up iterations first (the compile of `train.compile` is timed on its own), then `repeats` timed runs of
`steps` whole iterations each (one n_critic x D + G iteration, synchronised only at the ends: the training
loop's own cost); the figure is their median. A further pass times every D and G step on its own
(synchronised around each). FLOPs of one iteration come from `torch.utils.flop_counter` (forward, backward
and the penalty's double backward); the machine's limit is the fastest of a few dense products timed in the same
process with the same threads and dtype, so "% of peak" compares like with like: torch.matmul and, on CPU, oneDNN's
1x1 and 3x3 convolutions (on AMD CPUs with AVX-512, MKL's matmul ran at 40 % of oneDNN's 3x3 convolution; see
`matmul_peaks`).

Data: the preset's own when it is on disk, else random data of the same shape (`data="synthetic"` forces it);
speed depends on shapes, not on pixel values.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from datetime import date

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from gankit.config import Config, replace
from gankit.data import load_dataset
from gankit.data.synthetic import synthetic_dataset
from gankit.errors import ConfigError, DataError
from gankit.families import FAMILIES
from gankit.train.loop import Trainer
from gankit.train.precision import bf16_units, has_bf16_units


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_seconds(fn, device: torch.device, repeats: int) -> float:
    """The fastest of `repeats` calls of fn() after one warm-up call, synchronised around each."""
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best


def matmul_peaks(device: torch.device, dtype: torch.dtype = torch.float32, n: int | None = None,
                 repeats: int = 5) -> dict[str, float]:
    """GFLOP/s of the best of `repeats` products, by each library and layout torch may run one with: `matmul`
    (n x n by n x n, torch.matmul: MKL/OpenBLAS on CPU, cuBLAS on CUDA) and, on CPU, the same product as a 1x1
    convolution (n channels to n over n pixels: oneDNN, which runs gankit's convolutions) in NCHW (`conv1x1`) and
    NHWC (`conv1x1_nhwc`) layout, and `conv3x3_nhwc` (n/8 channels to n/8 over 16 x 32 x 32 pixels, 3x3 taps), the
    densest of them. On an AMD CPU with AVX-512 (2 threads, 2026-12-01) MKL's sgemm ran at ~210 GFLOP/s, the 1x1
    convolutions at 330-450 (unsteady) and the 3x3 one at 505-525: the peak is the fastest, since each is
    something the machine demonstrably does."""
    n = n or (8192 if device.type == "cuda" else 2048)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    peaks = {"matmul": 2 * n**3 / best_seconds(lambda: a @ b, device, repeats) / 1e9}
    if device.type == "cpu":
        conv, nhwc = torch.nn.functional.conv2d, torch.channels_last
        x, w = a.reshape(1, n, n // 64, 64), b[:, :, None, None]  # out[o, p] = sum_c b[o, c] a[c, p]: b @ a
        peaks["conv1x1"] = 2 * n**3 / best_seconds(lambda: conv(x, w), device, repeats) / 1e9
        x, w = x.contiguous(memory_format=nhwc), w.contiguous(memory_format=nhwc)
        peaks["conv1x1_nhwc"] = 2 * n**3 / best_seconds(lambda: conv(x, w), device, repeats) / 1e9
        c = n // 8
        x = torch.randn(16, c, 32, 32, dtype=dtype).contiguous(memory_format=nhwc)
        w = torch.randn(c, c, 3, 3, dtype=dtype).contiguous(memory_format=nhwc)
        flops = 2 * 16 * c * c * 9 * 32 * 32
        peaks["conv3x3_nhwc"] = flops / best_seconds(lambda: conv(x, w, padding=1), device, repeats) / 1e9
    return peaks


def onednn_kernels(dtypes=(torch.float32, torch.bfloat16)) -> dict[str, str]:
    """What oneDNN runs a 3x3 NHWC convolution with on this CPU, from its verbose log: {"isa": the instruction set it
    detected, "fp32"/"bf16": the implementation it chose, e.g. brg_conv_fwd:avx512_core_bf16}. The log is written by
    the C library, so stdout's file descriptor is sent to a temporary file for the two calls."""
    found: dict[str, str] = {}
    with tempfile.TemporaryFile(mode="w+") as log:
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(log.fileno(), 1)
        try:
            for dtype in dtypes:  # bf16 last: the log then holds both
                x = torch.randn(2, 32, 8, 8, dtype=dtype).contiguous(memory_format=torch.channels_last)
                w = torch.randn(32, 32, 3, 3, dtype=dtype).contiguous(memory_format=torch.channels_last)
                with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
                    torch.nn.functional.conv2d(x, w, padding=1)
                ctypes.CDLL(None).fflush(None)  # the C library's buffer, before the descriptor goes back
                log.seek(0)
                text = log.read()
                for line in text.splitlines():
                    fields = line.split(",")
                    if "isa:" in line:
                        found["isa"] = line.split("isa:", 1)[1].strip()
                    if len(fields) > 6 and fields[2:6] == ["primitive", "exec", "cpu", "convolution"]:
                        src = next((f for f in fields if f.startswith("src:")), "")
                        kind = "bf16" if src.startswith("src:bf16") else "fp32" if src.startswith("src:f32") else None
                        if kind:
                            found[kind] = fields[6]
        finally:
            os.dup2(saved, 1)
            os.close(saved)
    return found


class CountFlops(TorchDispatchMode):
    """FLOPs of every operator run inside, by torch.utils.flop_counter's formulas (matmuls, convolutions and
    their backward passes). FlopCounterMode itself also tracks modules with backward hooks, which the
    penalty's `autograd.grad` (inside `torch.func.vjp`) does not allow."""

    def __init__(self):
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        count = flop_registry.get(func._overloadpacket)
        if count is not None:
            self.total += count(*args, **kwargs, out_val=out)
        return out


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def bench_data(cfg: Config, mode: str):
    """(dataset or None = load as training does, 'real' | 'synthetic')."""
    n_items = max(4 * cfg.train.batch_size * (cfg.train.n_critic + 1), 512)
    if mode == "synthetic":
        return synthetic_dataset(cfg.data, n_items), "synthetic"
    try:
        return load_dataset(cfg.data, "train"), "real"
    except DataError as err:
        if mode == "real":
            raise
        try:
            return synthetic_dataset(cfg.data, n_items), f"synthetic ({err})"
        except DataError:
            raise err from None


def bench(cfg: Config, steps: int = 5, warmup: int = 2, repeats: int = 3, data: str = "auto") -> dict:
    """Time `cfg`'s training iteration; returns the figures (see the module docstring)."""
    preset = cfg.name
    cfg = FAMILIES.get(cfg.family).bench_config(cfg)  # AdaGAN: one component
    cfg = replace(cfg, {"eval.every": 0, "eval.schedule": "train"})  # the training step is timed, not evaluation
    dataset, data_kind = bench_data(cfg, data)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, tmp, progress=False, data=dataset)
    device = trainer.device
    if trainer.dist.enabled:
        raise ConfigError("gankit bench runs in one process; launch it without torchrun")
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    trainer.iteration()
    synchronize(device)
    first = time.perf_counter() - start  # includes torch.compile's tracing when train.compile
    for _ in range(warmup - 1):
        trainer.iteration()
    synchronize(device)

    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            trainer.iteration()
        synchronize(device)
        times.append((time.perf_counter() - start) / steps)
    per_step = _step_times(trainer, steps) if trainer._compiled is None else {}

    compiled, trainer._compiled = trainer._compiled, None  # FLOPs of the same iteration, eagerly
    with CountFlops() as counter:
        trainer.iteration()
    trainer._compiled = compiled
    flops = counter.total

    by_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}
    native = has_bf16_units(device)  # emulated bf16 is slow: one timing then, not five
    peaks = {name: matmul_peaks(device, dtype, **({} if name == "fp32" or native else {"n": 1024, "repeats": 1}))
             for name, dtype in by_dtype.items()}
    peak = max(peaks[trainer.precision].values())
    s_iter = statistics.median(times)
    data_batches = sum(s.repeat for s in trainer.train_steps if s.uses_data)
    if device.type == "cuda":
        memory = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        memory = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux: the process's peak RSS
    achieved = flops / s_iter / 1e9
    return {
        "preset": preset, "date": date.today().isoformat(), "device": str(device), "device_name": device_name(device),
        "threads": torch.get_num_threads(), "torch": torch.__version__, "data": data_kind,
        "family": cfg.family, "batch_size": cfg.train.batch_size, "n_critic": cfg.train.n_critic,
        "shape": list(trainer.info.shape), "compile": cfg.train.compile, "precision": trainer.precision,
        "channels_last": cfg.train.channels_last,
        "first_iteration_s": first, "s_per_iter": s_iter, "s_per_iter_runs": times,
        "ms_per_d_step": per_step.get("D"), "ms_per_g_step": per_step.get("G"),
        "images_per_s": data_batches * cfg.train.batch_size / s_iter,
        "flops_per_iter": flops, "gflops_per_s": achieved, "peak_gflops_per_s": peak, "peak_fraction": achieved / peak,
        "peak_by_library": peaks[trainer.precision], "peaks": {k: max(v.values()) for k, v in peaks.items()},
        "peaks_by_library": peaks, "bf16_units": bf16_units(device),
        "kernels": onednn_kernels() if device.type == "cpu" else {},
        "peak_memory_mib": memory,
    }


def _step_times(trainer, steps: int) -> dict[str, float]:
    """Median ms of each train step (by its name: D, G, ...) over `steps` iterations of the loop itself, timed through
    its step probe (synchronised around every step)."""
    times: dict[str, list[float]] = {}
    device = trainer.device

    @contextlib.contextmanager
    def timed(spec):
        synchronize(device)
        start = time.perf_counter()
        yield
        synchronize(device)
        times.setdefault(spec.name, []).append((time.perf_counter() - start) * 1e3)

    trainer.step_probe = timed
    try:
        for _ in range(steps):
            trainer.iteration()
    finally:
        trainer.step_probe = lambda spec: contextlib.nullcontext()
    return {name: statistics.median(values) for name, values in times.items()}


def format_report(r: dict) -> str:
    def ms(value):
        return "-" if value is None else f"{value:.1f} ms"

    lines = [
        f"{r['preset']} on {r['device']} ({r['device_name']}, {r['threads']} threads, torch {r['torch']}), {r['date']}",
        f"  data {r['data']}; batch {r['batch_size']}, n_critic {r['n_critic']}, shape {tuple(r['shape'])}; "
        f"compile {r['compile']}, precision {r['precision']}, channels_last {r['channels_last']}",
        f"  s/iteration      {r['s_per_iter']:.4f}  (median of {', '.join(f'{t:.4f}' for t in r['s_per_iter_runs'])})",
        f"  first iteration  {r['first_iteration_s']:.2f} s" + ("  (torch.compile included)" if r["compile"] else ""),
        f"  D step / G step  {ms(r['ms_per_d_step'])} / {ms(r['ms_per_g_step'])}",
        f"  images/s         {r['images_per_s']:.1f}  (real images drawn per second)",
        f"  FLOPs/iteration  {r['flops_per_iter'] / 1e9:.4g} G",
        *[f"  peak {name:<5}       {r['peaks'][name]:.1f} GFLOP/s ("
          + ", ".join(f"{k} {v:.0f}" for k, v in r["peaks_by_library"][name].items()) + ")"
          + (f"; oneDNN conv: {r['kernels'][name]}" if name in r.get("kernels", {}) else "")
          for name in ("fp32", "bf16")],
        f"  bf16 units       {r.get('bf16_units') or 'none (bf16 is emulated here)'}"
        + (f"; oneDNN ISA: {r['kernels']['isa']}" if "isa" in r.get("kernels", {}) else ""),
        f"  achieved         {r['gflops_per_s']:.1f} GFLOP/s = {100 * r['peak_fraction']:.0f}% of the "
        f"{r['precision']} peak ({r['peak_gflops_per_s']:.1f} GFLOP/s)",
        f"  peak memory      {r['peak_memory_mib']:.0f} MiB" + (" (process RSS)" if r["device"] == "cpu" else ""),
    ]
    return "\n".join(lines)
