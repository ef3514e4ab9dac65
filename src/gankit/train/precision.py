"""train.precision: which arithmetic the loss computations run in on this device."""
from __future__ import annotations

import torch


def has_bf16_units(device: torch.device) -> bool:
    """Whether bfloat16 arithmetic is native here: CUDA compute capability 8.0+, or a CPU with AVX512-BF16 or AMX.
    Elsewhere bf16 autocast is emulated and slower than fp32 (on an AVX2 CPU the WGAN-GP card's iteration had not
    finished in 20 minutes)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type != "cpu":
        return False
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(check() for check in checks if callable(check))


def resolve_precision(setting: str, device: torch.device) -> str:
    """train.precision as run: "auto" becomes "bf16" where the device has bfloat16 units, else "fp32"."""
    if setting == "auto":
        return "bf16" if has_bf16_units(device) else "fp32"
    return setting
