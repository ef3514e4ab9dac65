"""How many CPU threads a run computes with when `train.threads` is not set.

Measured on a 2-core machine (BENCHMARKS.md, "Threads"): two threads are 1.2-1.9x faster than one on a quiet
machine, but beside one busy process they stall in OpenMP's barriers (each waits for a thread the other process
holds) and run 2-3.6x slower than one thread does; OpenMP's passive wait policy made it worse. So the default takes
the cores that are idle when training starts: all of them on a quiet machine, one fewer per core another process
keeps busy, never fewer than one. The count changes the order of floating-point sums (30 steps of the demo at 1
and 2 threads end up to 0.37 apart in a weight), so it is chosen once per run: a checkpoint records it and a
resumed run computes with it again, exactly as it began (`train.threads` overrides both).
"""
from __future__ import annotations

import os
import time

import torch

SAMPLE_SECONDS = 0.1  # /proc/stat counts in 10 ms ticks: 20 per core over this


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs from /proc/stat, or None where there is none (not Linux)."""
    try:
        with open("/proc/stat") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def busy_cores(seconds: float = SAMPLE_SECONDS) -> float | None:
    """Cores' worth of CPU time other processes used over `seconds` (this process sleeps meanwhile), or None."""
    first = _cpu_times()
    time.sleep(seconds)
    second = _cpu_times()
    if first is None or second is None or second[1] <= first[1]:
        return None
    return (second[0] - first[0]) / (second[1] - first[1]) * (os.cpu_count() or 1)


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def choose_threads(setting: int | None) -> tuple[int, str]:
    """(threads, why): `train.threads` when set, else OMP_NUM_THREADS when the environment sets it (torchrun does, a
    study's workers do), else the cores idle at the start (see the module docstring)."""
    if setting:
        return setting, "train.threads"
    if (env := os.environ.get("OMP_NUM_THREADS", "")).isdigit() and int(env) > 0:
        return int(env), "OMP_NUM_THREADS"
    cores = usable_cores()
    busy = busy_cores()
    if busy is None:
        return cores, f"{cores} cores (load unknown)"
    threads = max(1, min(cores, cores - round(busy)))
    return threads, f"{cores} cores, {busy:.1f} busy with other work at the start"


def resume_threads(setting: int | None, recorded: int | None) -> tuple[int, str] | None:
    """The count a resumed run takes: its checkpoint's, unless train.threads or OMP_NUM_THREADS say otherwise (None:
    keep what was chosen)."""
    if setting or not recorded or os.environ.get("OMP_NUM_THREADS", "").isdigit():
        return None
    torch.set_num_threads(recorded)
    return recorded, "the checkpoint's count: a resumed run computes as it began; train.threads changes it"


def apply_threads(setting: int | None, device: torch.device) -> tuple[int, str]:
    """Set torch's intra-op threads for a run on `device` (CPU: the policy above; CUDA: left as torch has it)."""
    if device.type != "cpu" and not setting:
        return torch.get_num_threads(), "torch's default (the GPU computes)"
    threads, why = choose_threads(setting)
    torch.set_num_threads(threads)
    return threads, why
