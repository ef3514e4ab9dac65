"""train.precision: which arithmetic the loss computations run in on this device."""
from __future__ import annotations

import contextlib
import os

import torch

from gankit.errors import ConfigError

DISABLE_ENV = "GANKIT_CPU_BF16"  # "0": treat the CPU as having no bf16 units (auto -> fp32), e.g. to compare numbers


def bf16_units(device: torch.device) -> str | None:
    """The bfloat16 units this device computes with natively (CUDA compute capability 8.0+; a CPU's AMX or
    AVX512-BF16), or None. Elsewhere bf16 autocast is emulated and slower than fp32 (on an AVX2 CPU the WGAN-GP card's
    iteration had not finished in 20 minutes)."""
    if device.type == "cuda":
        return "CUDA bf16 (compute capability 8.0+)" if torch.cuda.is_bf16_supported(including_emulation=False) else None
    if device.type != "cpu" or os.environ.get(DISABLE_ENV) == "0":
        return None
    for name, units in (("_is_amx_tile_supported", "AMX-BF16"), ("_is_avx512_bf16_supported", "AVX512-BF16")):
        check = getattr(torch.cpu, name, None)
        if callable(check) and check():
            return units
    return None


def has_bf16_units(device: torch.device) -> bool:
    return bf16_units(device) is not None


def resolve_precision(setting: str, device: torch.device) -> str:
    """train.precision as run: "auto" becomes "bf16" where the device has bfloat16 units, else "fp32"."""
    if setting == "auto":
        return "bf16" if has_bf16_units(device) else "fp32"
    return setting


def precision_reason(setting: str, device: torch.device) -> str:
    """Why train.precision `setting` runs as it does on `device` (for the log and eval.json)."""
    if setting != "auto":
        return f"train.precision {setting}"
    if units := bf16_units(device):
        return f"train.precision auto: this device has {units} units"
    if device.type == "cpu" and os.environ.get(DISABLE_ENV) == "0":
        return f"train.precision auto: {DISABLE_ENV}=0"
    return "train.precision auto: no bfloat16 units (bf16 would be emulated, slower than fp32)"


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

    def record(self) -> dict[str, str]:
        """What ran and why, kept in checkpoints and snapshots (and so in eval.json)."""
        return {"precision": self.precision, "why": precision_reason(self.setting, self.device)}

    def describe(self) -> str:
        """The log's line on the precision and why."""
        return f"precision: {self.precision} ({precision_reason(self.setting, self.device)})"
