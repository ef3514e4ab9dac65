"""StarGAN networks (Choi et al. 2018; yunjey/stargan), any power-of-two image size.

G(x, c): the target labels c (N, c_dim) tiled over the image and concatenated to it (C + c_dim channels);
7x7 conv DIM -> norm -> ReLU; 2 x (4x4 conv stride 2, doubling) -> norm -> ReLU; `g_layers` (6) residual
blocks (3x3 conv -> norm -> ReLU -> 3x3 conv -> norm, added); 2 x (4x4 transposed conv stride 2, halving)
-> norm -> ReLU; 7x7 conv to C -> tanh. Convolutions without bias, affine instance norm (`model.g_norm:
instance`; without running statistics, so training and inference normalize alike).
D (PatchGAN, no normalization): `d_layers` x (4x4 conv stride 2, doubling from DIM) with LeakyReLU 0.01;
heads: `src` a 3x3 conv to one channel (a map of patch scores), `cls` a conv whose kernel covers the last
map (image_size / 2^d_layers: 128 / 64 = 2 for the card) to c_dim attribute logits. `d_layers` defaults to
log2(size) - 1, the card's 6 at 128 px.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from gankit.data.base import DataInfo
from gankit.nn.layers import MatmulConv2d, WholeMapConv2d
from gankit.nn.norms import NORMS_2D


class ResidualBlock(nn.Module):
    def __init__(self, dim: int, norm: str):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(dim, dim, 3, 1, 1, bias=False), NORMS_2D.get(norm)(dim), nn.ReLU(True),
                                  nn.Conv2d(dim, dim, 3, 1, 1, bias=False), NORMS_2D.get(norm)(dim))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class StarGenerator(nn.Module):
    def __init__(self, channels: int, c_dim: int, dim: int = 64, repeat: int = 6, norm: str = "instance"):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels + c_dim, dim, 7, 1, 3, bias=False), NORMS_2D.get(norm)(dim), nn.ReLU(True)]
        for _ in range(2):
            layers += [nn.Conv2d(dim, dim * 2, 4, 2, 1, bias=False), NORMS_2D.get(norm)(dim * 2), nn.ReLU(True)]
            dim *= 2
        layers += [ResidualBlock(dim, norm) for _ in range(repeat)]
        for _ in range(2):
            layers += [nn.ConvTranspose2d(dim, dim // 2, 4, 2, 1, bias=False), NORMS_2D.get(norm)(dim // 2), nn.ReLU(True)]
            dim //= 2
        layers += [nn.Conv2d(dim, channels, 7, 1, 3, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        c = c.to(x.dtype)[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])  # (N, c_dim, H, W)
        return self.net(torch.cat([x, c], 1))  # (N, C, H, W)


class StarDiscriminator(nn.Module):
    def __init__(self, channels: int, size: int, c_dim: int, dim: int = 64, repeat: int | None = None):
        super().__init__()
        repeat = repeat or int(math.log2(size)) - 1
        if size % 2 ** repeat or size // 2 ** repeat < 1:
            raise ValueError(f"stargan D with {repeat} stride-2 layers needs an image size divisible by {2 ** repeat}, got {size}")
        layers: list[nn.Module] = []
        width = channels
        for i in range(repeat):
            layers += [MatmulConv2d(width, dim * 2 ** i, 4, 2, 1), nn.LeakyReLU(0.01)]
            width = dim * 2 ** i
        self.main = nn.Sequential(*layers)
        self.src = nn.Conv2d(width, 1, 3, 1, 1, bias=False)
        self.cls = WholeMapConv2d(width, c_dim, size // 2 ** repeat, bias=False)  # a matmul: 1x1 output

    def forward(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        h = self.main(x)
        return self.src(h), self.cls(h).flatten(1)  # patch scores (N, 1, h, w), attribute logits (N, c_dim)


def _attributes(info: DataInfo) -> int:
    if info.labels != "attributes" or not info.num_classes:
        raise ValueError("StarGAN translates between attribute domains; the data needs attribute labels "
                         "(attr_digits, or celeba with data.attributes)")
    return info.num_classes


def stargan_generator(cfg, info: DataInfo) -> nn.Module:
    return StarGenerator(info.shape[0], _attributes(info), cfg.g_dim, cfg.g_layers or 6, cfg.g_norm)


def stargan_discriminator(cfg, info: DataInfo) -> nn.Module:
    return StarDiscriminator(info.shape[0], info.shape[1], _attributes(info), cfg.d_dim, cfg.d_layers)
