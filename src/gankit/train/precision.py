"""train.precision: which arithmetic the loss computations run in on this device."""
from __future__ import annotations

import contextlib

import torch

from gankit.errors import ConfigError


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


class Arithmetic:
    """How the loop computes on its device, set once: train.tf32 (CUDA), train.channels_last (image modules and
    batches in NHWC) and train.precision (bf16 autocast around the loss computations; "auto" resolved here)."""

    def __init__(self, train_cfg, device: torch.device, images: bool):
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = train_cfg.tf32
            torch.backends.cudnn.allow_tf32 = train_cfg.tf32
        if train_cfg.precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ConfigError("train.precision bf16: this GPU has no bfloat16 support; use fp32")
        self.device, self.setting = device, train_cfg.precision
        self.channels_last = train_cfg.channels_last and images
        self.precision = resolve_precision(train_cfg.precision, device)

    def prepare(self, modules) -> None:
        if self.channels_last:
            for module in modules:
                module.to(memory_format=torch.channels_last)

    def layout(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def autocast(self):
        """The context of the loss computations: bf16 autocast when train.precision resolves to bf16."""
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def describe(self) -> str | None:
        """The log's line on what "auto" chose and why (None when the precision was set explicitly)."""
        if self.setting != "auto":
            return None
        units = "this device has" if self.precision == "bf16" else "no"
        return f"precision: {self.precision} (train.precision auto: {units} bfloat16 units)"
