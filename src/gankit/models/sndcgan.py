"""The "standard CNN" of the spectral-normalization paper (Miyato et al. 2018, table 3; compare_gan's sndcgan),
for any power-of-two image size >= 8 (32 is the reference).

G: Linear(z -> 4*4*8DIM) -> norm -> ReLU -> 4x4 transposed convs (stride 2) 8DIM -> 4DIM -> 2DIM -> DIM
(norm, ReLU; one per doubling) -> 3x3 conv to C -> tanh.
D: pairs of (3x3 stride-1 conv, 4x4 stride-2 conv) with widths DIM, DIM, 2DIM, 2DIM, 4DIM, 4DIM, one pair per
halving down to 4x4, then a 3x3 conv of 8DIM -> Linear(4*4*8DIM -> 1); LeakyReLU 0.1 after every conv and the
normalization after every conv but the first. DIM = 64 in the paper.
"""
from __future__ import annotations

import torch
from torch import nn

from gankit.data.base import DataInfo
from gankit.models.dcgan import num_stages
from gankit.nn.norms import NORMS_1D, NORMS_2D


class SNDCGANGenerator(nn.Module):
    def __init__(self, z_dim: int, channels: int, size: int, dim: int = 64, norm: str = "batch"):
        super().__init__()
        stages = num_stages(size, "sndcgan")
        width = dim * 2**stages
        self.start = (width, 4, 4)
        self.fc = nn.Sequential(nn.Linear(z_dim, width * 16), NORMS_1D.get(norm)(width * 16), nn.ReLU(True))
        blocks: list[nn.Module] = []
        for _ in range(stages):
            blocks += [nn.ConvTranspose2d(width, width // 2, 4, 2, padding=1), NORMS_2D.get(norm)(width // 2), nn.ReLU(True)]
            width //= 2
        blocks += [nn.Conv2d(width, channels, 3, padding=1), nn.Tanh()]
        self.blocks = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.blocks(self.fc(z).view(-1, *self.start))  # (N, C, size, size) in [-1, 1]


class SNDCGANDiscriminator(nn.Module):
    def __init__(self, channels: int, size: int, dim: int = 64, norm: str = "none"):
        super().__init__()
        layers: list[nn.Module] = []
        width_in = channels

        def conv(cout: int, kernel: int, stride: int) -> None:
            nonlocal width_in
            layers.append(nn.Conv2d(width_in, cout, kernel, stride, padding=1))
            if len(layers) > 1:
                layers.append(NORMS_2D.get(norm)(cout))
            layers.append(nn.LeakyReLU(0.1, True))
            width_in = cout

        for stage in range(num_stages(size, "sndcgan")):
            conv(dim * 2**stage, 3, 1)
            conv(dim * 2**stage, 4, 2)
        conv(dim * 2 ** num_stages(size, "sndcgan"), 3, 1)
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(width_in * 16, 1)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.fc(self.features(x).flatten(1)).squeeze(1)  # (N,)


def sndcgan_generator(cfg, info: DataInfo) -> nn.Module:
    channels, size, _ = info.shape
    return SNDCGANGenerator(cfg.z_dim, channels, size, cfg.g_dim, cfg.g_norm)


def sndcgan_discriminator(cfg, info: DataInfo) -> nn.Module:
    channels, size, _ = info.shape
    return SNDCGANDiscriminator(channels, size, cfg.d_dim, cfg.d_norm)
