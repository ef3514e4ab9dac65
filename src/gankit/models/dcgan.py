"""DCGAN generator and critic of WGAN-GP (Gulrajani et al. 2017, `gan_cifar.py`), for any power-of-two size.

For 32x32 with width DIM: G = Linear(z -> 4*4*4DIM) -> BN -> ReLU -> 5x5 transposed convs (stride 2)
4DIM -> 2DIM -> DIM (BN, ReLU) -> C -> tanh; D = 5x5 convs (stride 2) C -> DIM -> 2DIM -> 4DIM with
LeakyReLU 0.2 -> Linear(4*4*4DIM -> 1). Other sizes add or drop stages (stages = log2(size) - 2).
Layers keep PyTorch's default initialization (the reference used He/Glorot-uniform, of the same scale).
The layers at 4x4 (D's last convolution, G's first transposed one) run on the CPU as one matrix product over their
patches (`gankit.nn.patches`; `patch_convs=False`: oneDNN's convolutions), the same function and parameters.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from gankit.data.base import DataInfo
from gankit.nn.norms import NORMS_1D, NORMS_2D
from gankit.nn.patches import PatchConv2d, PatchConvTranspose2d


def num_stages(size: int, arch: str = "dcgan") -> int:
    """Doublings from 4x4 to `size` (3 at 32x32); the image architectures all need a power of two >= 8."""
    stages = int(math.log2(size)) - 2
    if 2 ** (stages + 2) != size or stages < 1:
        raise ValueError(f"{arch} needs an image size that is a power of two >= 8, got {size}")
    return stages


class DCGANGenerator(nn.Module):
    def __init__(self, z_dim: int, channels: int, size: int, dim: int = 128, norm: str = "batch",
                 patch_convs: bool = True):
        super().__init__()
        stages = num_stages(size)
        width = dim * 2 ** (stages - 1)
        self.start = (width, 4, 4)
        self.fc = nn.Sequential(nn.Linear(z_dim, width * 16), NORMS_1D.get(norm)(width * 16), nn.ReLU(True))
        deconv = PatchConvTranspose2d if patch_convs else nn.ConvTranspose2d  # the same parameters and state dict
        blocks: list[nn.Module] = []
        for _ in range(stages - 1):
            blocks += [deconv(width, width // 2, 5, 2, padding=2, output_padding=1),
                       NORMS_2D.get(norm)(width // 2), nn.ReLU(True)]
            width //= 2
        blocks += [deconv(width, channels, 5, 2, padding=2, output_padding=1), nn.Tanh()]
        self.blocks = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = self.fc(z).view(-1, *self.start)  # (N, 4DIM, 4, 4) at 32x32
        return self.blocks(h)  # (N, C, size, size) in [-1, 1]


class DCGANCritic(nn.Module):
    def __init__(self, channels: int, size: int, dim: int = 128, norm: str = "none", patch_convs: bool = True):
        super().__init__()
        stages = num_stages(size)
        conv = PatchConv2d if patch_convs else nn.Conv2d
        layers: list[nn.Module] = []
        width_in, width = channels, dim
        for stage in range(stages):
            layers += [conv(width_in, width, 5, 2, padding=2)]
            if stage > 0:  # as in the reference, no normalization right after the image
                layers += [NORMS_2D.get(norm)(width)]
            layers += [nn.LeakyReLU(0.2, True)]
            width_in, width = width, width * 2
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(width_in * 16, 1)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)  # (N, 4DIM, 4, 4) at 32x32
        return self.fc(h.flatten(1)).squeeze(1)  # (N,)


def dcgan_generator(cfg, info: DataInfo) -> nn.Module:
    channels, size, _ = info.shape
    return DCGANGenerator(cfg.z_dim, channels, size, cfg.g_dim, cfg.g_norm, cfg.patch_convs)


def dcgan_critic(cfg, info: DataInfo) -> nn.Module:
    channels, size, _ = info.shape
    return DCGANCritic(channels, size, cfg.d_dim, cfg.d_norm, cfg.patch_convs)
