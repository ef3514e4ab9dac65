"""MLPs for 2-D toy data (WGAN-GP `gan_toy.py`): G: z -> L x (Linear DIM + ReLU) -> Linear 2;
D the same ending in one logit. Defaults: DIM 512, L 3, z ~ N(0, I_2). AdaGAN's toy nets are the same
shape with DIM 16, L 2, tanh and z ~ N(0, I_5)."""
from __future__ import annotations

import torch
from torch import nn

from gankit.data.base import DataInfo
from gankit.nn.norms import NORMS_1D

ACTIVATIONS = {"relu": lambda: nn.ReLU(True), "tanh": nn.Tanh}


def mlp(sizes: list[int], norm: str = "none", activation: str = "relu") -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers += [NORMS_1D.get(norm)(b), ACTIVATIONS[activation]()]
    return nn.Sequential(*layers)


class ToyGenerator(nn.Module):
    def __init__(self, z_dim: int, out_dim: int, dim: int = 512, layers: int = 3, norm: str = "none",
                 activation: str = "relu"):
        super().__init__()
        self.net = mlp([z_dim] + [dim] * layers + [out_dim], norm, activation)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z)  # (N, D)


class ToyDiscriminator(nn.Module):
    def __init__(self, in_dim: int, dim: int = 512, layers: int = 3, norm: str = "none", activation: str = "relu"):
        super().__init__()
        self.net = mlp([in_dim] + [dim] * layers + [1], norm, activation)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x).squeeze(1)  # (N,)


def toy_generator(cfg, info: DataInfo) -> nn.Module:
    return ToyGenerator(cfg.z_dim, info.shape[0], cfg.g_dim, cfg.g_layers or 3, cfg.g_norm, cfg.activation)


def toy_discriminator(cfg, info: DataInfo) -> nn.Module:
    return ToyDiscriminator(info.shape[0], cfg.d_dim, cfg.d_layers or 3, cfg.d_norm, cfg.activation)
