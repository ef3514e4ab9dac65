"""The contract between a family and the training loop."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor, nn

from gankit.registry import Registry

Batch = dict[str, Tensor]
StepLoss = Callable[[Batch], tuple[Tensor, dict[str, Tensor]]]


@dataclass
class TrainStep:
    """One optimizer's step: `loss(batch)` -> (scalar, logs) trains `module` with Adam at `lr`,
    `repeat` times per iteration (n_critic for D), drawing a fresh data batch each time if `uses_data`."""

    name: str
    module: nn.Module
    loss: StepLoss
    lr: float
    repeat: int = 1
    uses_data: bool = True


class Family(Protocol):
    modules: dict[str, nn.Module]  # everything with weights, saved in the training state

    @property
    def generator(self) -> nn.Module: ...

    def steps(self) -> list[TrainStep]: ...

    def latent(self, n: int, generator: torch.Generator | None = None) -> Tensor: ...

    @classmethod
    def build_generator(cls, cfg, info) -> nn.Module: ...

    @classmethod
    def generate(cls, G: nn.Module, cfg, n: int, device, generator: torch.Generator | None = None) -> Tensor: ...


FAMILIES: Registry[type] = Registry("family")
