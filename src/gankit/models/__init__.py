"""Generator/discriminator pairs by name (`model.arch`). G(z, c=None) -> samples; D(x, c=None) -> logits (N,)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from gankit.data.base import DataInfo
from gankit.models import dcgan, toy
from gankit.registry import Registry


@dataclass(frozen=True)
class Architecture:
    generator: Callable[..., nn.Module]  # (ModelConfig, DataInfo) -> G
    discriminator: Callable[..., nn.Module]  # (ModelConfig, DataInfo) -> D
    data_kind: str  # 'image' or 'points'


ARCHITECTURES: Registry[Architecture] = Registry("architecture")
ARCHITECTURES.register("dcgan")(Architecture(dcgan.dcgan_generator, dcgan.dcgan_critic, "image"))
ARCHITECTURES.register("toy_mlp")(Architecture(toy.toy_generator, toy.toy_discriminator, "points"))


def get_architecture(name: str, info: DataInfo) -> Architecture:
    from gankit.errors import ConfigError

    arch = ARCHITECTURES.get(name)
    if arch.data_kind != info.kind:
        raise ConfigError(f"model.arch '{name}' is for {arch.data_kind} data, but the dataset gives {info.kind}")
    return arch
