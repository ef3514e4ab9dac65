"""compare_gan's ResNet CIFAR generator and discriminator (`architectures/resnet_cifar.py`, the SN-GAN paper's
table 4), for any power-of-two image size >= 8 (32 is the reference).

G: Linear(z -> 4*4*DIM) -> (N, DIM, 4, 4) -> up-blocks DIM -> DIM until the image size (3 at 32x32) -> norm ->
ReLU -> 3x3 conv to C -> tanh. D: 4 blocks of DIM channels, the first ones halving the size until 8x8 (2 at
32x32: 32 -> 16 -> 8 -> 8 -> 8) -> ReLU -> global mean pool -> Linear(DIM -> 1).

Block: main path norm -> ReLU -> [upsample] -> 3x3 conv -> norm -> ReLU -> 3x3 conv -> [2x2 mean pool]; the
shortcut is always a 3x3 conv ([upsample] -> conv, or conv -> [pool]), even when the channels match. G's
upsampling is compare_gan's "unpool" by default: each pixel goes to (2i, 2j) and the other three positions are
zero; `model.g_upsample: nearest` copies each pixel to its 2x2 block instead (the SN-GAN paper's).
D's first block applies its ReLU straight to the image, as the reference. An up-block's two upsample -> conv pairs
run as one stride-2 transposed convolution each (`UpConv3x3`: the same function at a quarter, or with nearest 4/9,
of the multiply-adds).

Output range: the reference G ends in a sigmoid on data in [0, 1]; gankit scales images to [-1, 1], so G
ends in tanh — the same function up to the affine map between the ranges.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gankit.data.base import DataInfo
from gankit.models.dcgan import num_stages
from gankit.nn.norms import NORMS_2D


def unpool(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, 2H, 2W) with x at the even rows and columns and zeros elsewhere."""
    n, c, h, w = x.shape
    out = x.new_zeros(n, c, h, 2, w, 2)
    out[:, :, :, 0, :, 0] = x
    return out.view(n, c, 2 * h, 2 * w)


def nearest(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, 2H, 2W), each pixel repeated over its 2x2 block."""
    return F.interpolate(x, scale_factor=2, mode="nearest")


UPSAMPLES = {"unpool": unpool, "nearest": nearest}


def conv3x3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1)


class UpConv3x3(nn.Conv2d):
    """conv3x3(upsample(x)) as one stride-2 transposed convolution of x: the same function, parameters and state-dict
    keys as a Conv2d after the upsampling, without convolving the upsampled map. After `unpool` only one tap in four
    meets a non-zero pixel: the transposed convolution with the spatially flipped kernel does a quarter of the
    multiply-adds. After `nearest` each 2x2 output phase sees a 2x2 window of x: the transposed convolution with the
    flipped 4x4 kernel W * box(2x2) does 16 taps where the plain path does 36 (2.25x fewer). Parametrizations (spectral
    or weight norm) and forward hooks apply as to any Conv2d: `self.weight` is read once per call."""

    def __init__(self, cin: int, cout: int, upsample: str):
        super().__init__(cin, cout, 3, padding=1)
        if upsample not in UPSAMPLES:
            raise ValueError(f"upsample must be one of {', '.join(UPSAMPLES)}, got '{upsample}'")
        self.upsample = upsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight  # (out, in, 3, 3)
        if self.upsample == "nearest":
            w = F.pad(w, (1, 1, 1, 1))
            w = w[..., :-1, :-1] + w[..., 1:, :-1] + w[..., :-1, 1:] + w[..., 1:, 1:]  # (out, in, 4, 4): W * box(2x2)
        output_padding = 1 if self.upsample == "unpool" else 0
        return F.conv_transpose2d(x, w.flip(2, 3).transpose(0, 1), self.bias, stride=2, padding=1,
                                  output_padding=output_padding)  # (N, out, 2H, 2W)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, scale: str, norm: str, upsample: str = "unpool"):
        super().__init__()
        self.scale = scale  # 'up', 'down' or 'none'
        first = (lambda a, b: UpConv3x3(a, b, upsample)) if scale == "up" else conv3x3  # up: upsampling inside
        self.norm1, self.conv1 = NORMS_2D.get(norm)(cin), first(cin, cout)
        self.norm2, self.conv2 = NORMS_2D.get(norm)(cout), conv3x3(cout, cout)
        self.shortcut = first(cin, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.norm1(x))
        h = self.conv2(F.relu(self.norm2(self.conv1(h))))
        skip = self.shortcut(x)
        if self.scale == "down":
            h, skip = F.avg_pool2d(h, 2), F.avg_pool2d(skip, 2)
        return h + skip


class ResNetGenerator(nn.Module):
    def __init__(self, z_dim: int, channels: int, size: int, dim: int = 256, norm: str = "batch",
                 upsample: str = "unpool"):
        super().__init__()
        self.dim = dim
        self.fc = nn.Linear(z_dim, 4 * 4 * dim)
        self.blocks = nn.Sequential(*[ResBlock(dim, dim, "up", norm, upsample) for _ in range(num_stages(size, "resnet_cifar"))])
        self.norm = NORMS_2D.get(norm)(dim)
        self.out = conv3x3(dim, channels)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = self.blocks(self.fc(z).view(-1, self.dim, 4, 4))  # (N, DIM, size, size)
        return torch.tanh(self.out(F.relu(self.norm(h))))  # (N, C, size, size) in [-1, 1]


class ResNetDiscriminator(nn.Module):
    def __init__(self, channels: int, size: int, dim: int = 128, norm: str = "none"):
        super().__init__()
        downs = num_stages(size, "resnet_cifar") - 1  # halve down to 8x8
        scales = ["down"] * downs + ["none"] * max(4 - downs, 0)
        self.blocks = nn.Sequential(*[ResBlock(channels if i == 0 else dim, dim, s, norm) for i, s in enumerate(scales)])
        self.fc = nn.Linear(dim, 1)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = F.relu(self.blocks(x)).mean(dim=(2, 3))  # (N, DIM): global mean pool
        return self.fc(h).squeeze(1)  # (N,)


def resnet_generator(cfg, info: DataInfo) -> nn.Module:
    channels, size, _ = info.shape
    return ResNetGenerator(cfg.z_dim, channels, size, cfg.g_dim, cfg.g_norm, cfg.g_upsample)


def resnet_discriminator(cfg, info: DataInfo) -> nn.Module:
    channels, size, _ = info.shape
    return ResNetDiscriminator(channels, size, cfg.d_dim, cfg.d_norm)
