"""Memory: how much a new allocation can have now (`available_memory`, for the checks that refuse a count before
allocating it), and keeping freed memory in the process instead of handing it back to the OS (glibc only; light:
no torch).

glibc serves an allocation above its mmap threshold (at most 32 MiB) with a fresh mmap and unmaps it on free, and
trims the heap's top once 128 KiB lie free there. Torch on CPU allocates every activation anew, so a tensor of that
size is page-faulted in again on every use: generating 10,000 samples of the 32-px ResNet G in batches of 250 took
13.3 M minor faults and 24 s of system time on top of 32 s of user time (BENCHMARKS.md, "Freed pages kept").
With mmap off and no trimming, freed blocks are reused from the heap: 0.23 M faults, 1 s of system time, the same
scores. Training measured no change on an AMD AVX-512 CPU, but on an Intel CPU with AMX, where bf16 arithmetic got
5x faster and the faults did not, the card presets' iterations ran 1.03-1.25x faster with it (the compare_gan ResNet
card: 13.6 s of system time in 65 s, 8.3 M faults, 9.31 -> 7.48 s/iteration), so every gankit command sets it.

The cost: the process keeps its peak heap until it exits, and aligned blocks of different sizes fragment it (that
evaluation's peak RSS went from 0.95 GB to 1.0-1.5 GB). `GANKIT_MALLOC=system` leaves glibc's defaults alone.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from pathlib import Path

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_MAX = -4
ENV = "GANKIT_MALLOC"


def keep_freed_memory() -> str:
    """Set glibc's allocator to reuse freed memory (no mmap'd chunks, no trimming); returns what was done, in words."""
    if os.environ.get(ENV, "").lower() == "system":
        return f"glibc defaults ({ENV}=system)"
    if not sys.platform.startswith("linux"):
        return "the platform's allocator (not Linux)"
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return "the platform's allocator (no glibc mallopt)"
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    if mallopt(M_MMAP_MAX, 0) != 1 or mallopt(M_TRIM_THRESHOLD, 2**31 - 1) != 1:
        return "glibc defaults (mallopt refused)"
    return "freed memory kept (glibc: no mmap'd chunks, no trimming)"


def available_memory() -> int | None:
    """Bytes of memory a new allocation can have now: Linux's MemAvailable (free pages plus the page cache it can
    drop), else free physical pages (Unix sysconf), or None where the OS does not say."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
