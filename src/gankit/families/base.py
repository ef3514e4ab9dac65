"""The contract between a family and the training loop."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class ExportInterface:
    """A generator as `gankit export` freezes it: the module, its input names, example inputs
    `example(n, torch.Generator) -> tuple of tensors` (batch n, CPU) and facts for the export's JSON sidecar."""

    module: nn.Module
    inputs: tuple[str, ...]
    example: Callable[[int, torch.Generator], tuple[Tensor, ...]]
    facts: dict = field(default_factory=dict)


class FamilyHooks:
    """What a family may add to the loop, as no-ops by default, so the loop calls them without asking which
    family it runs: data beyond the main batches (a labelled subset), per-iteration bookkeeping (an EMA of D),
    extra resumable state, extra snapshots next to the generator's, a classifier to score, its own log line."""

    supports_compile = True  # the iteration can be traced by train.compile
    extra_metrics: tuple[str, ...] = ()  # prepended to the data's default metrics
    log_line = None  # (step, values, it_per_s, batch_size) -> str, else the loop's standard line

    def attach_data(self, data) -> list[str]:
        """Called once with the training split; returns lines for the log."""
        return []

    def after_iteration(self) -> None:
        pass

    def extra_state(self) -> dict:
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass

    def extra_snapshots(self) -> dict[str, nn.Module]:
        """{file stem: module} saved as `<stem>.safetensors` beside the generator snapshot."""
        return {}

    @property
    def classifier(self) -> nn.Module | None:
        return None

    def sample_grid(self, G: nn.Module, fixed: torch.Tensor, data) -> tuple[torch.Tensor, int | None]:
        """The images of a training sample grid from the fixed inputs, and images per row (None = square)."""
        return G(fixed), None


FAMILIES: Registry[type] = Registry("family")
