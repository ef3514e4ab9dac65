"""Networks of the semi-supervised GAN (Salimans et al. 2016): a K-class classifier as discriminator and a
generator, in the paper code's MLP form (openai/improved-gan, MNIST) and a conv form (the card's SSGAN).

The classifier returns K logits; the "fake" class is the implicit (K+1)-th logit fixed at 0, so
D(x) = Z / (Z + 1) with Z = sum_k exp(l_k). `forward(x, features=True)` also returns the hidden activations
that feature matching compares (index `ssl.feature_layer`, -1 = the last hidden layer).

ssl_mlp (paper, MNIST): G: z (100) -> [Linear 500 -> norm -> softplus] x 2 -> Linear 784 (weight-normed)
-> sigmoid; D: noise 0.3 -> Linear 1000 -> noise 0.5 -> Linear 500 -> noise -> 3 x Linear 250 (+ noise) ->
Linear K, ReLU, weight-normed (`model.d_norm: weight`). Every classifier takes dropout too (`model.d_input_dropout`
on its input, `model.d_dropout` after its hidden blocks; off by default). Widths scale with `model.g_dim` (500) and
`model.d_dim` (250: D widths 4d, 2d, d, d, d). Images are in [-1, 1] here, so G's sigmoid s is served as
2s - 1 and D maps its input back to [0, 1] before the input noise: the paper's noise levels keep their meaning.
ssl_conv (the card): G: Linear -> start map -> [bilinear x2 upsample -> 3x3 conv -> norm -> ReLU] per stage
-> 3x3 conv -> tanh; D: noise -> [3x3 conv stride 2 -> norm -> LeakyReLU 0.2 -> noise] per stage -> mean
pool -> Linear K. Stages halve the image while it stays >= 4 and even (28 -> 7 in 2 stages, 32 -> 4 in 3).
ssl_cnn (the paper code's CIFAR-10 D, width `model.d_dim`, 96 there): dropout `model.d_input_dropout` (0.2) ->
[3x3 conv d] x 2 -> 3x3 conv d stride 2 -> dropout `model.d_dropout` (0.5) -> [3x3 conv 2d] x 2 -> 3x3 conv 2d
stride 2 -> dropout -> 3x3 conv 2d unpadded -> [1x1 conv 2d] x 2 -> mean pool -> Linear K, LeakyReLU 0.2 after
each conv; G is ssl_conv's. Gaussian noise (`d_input_noise`, `d_hidden_noise`) can be added as in the others.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrizations

from gankit.data.base import DataInfo
from gankit.nn.layers import GaussianNoise, MinibatchDiscrimination
from gankit.nn.norms import NORMS_1D, NORMS_2D


def _classes(info: DataInfo) -> int:
    if info.labels != "class" or info.num_classes < 2:
        raise ValueError("a semi-supervised classifier needs data with class labels (e.g. digits, mnist, cifar10)")
    return info.num_classes


def conv_stages(size: int, most: int = 5) -> int:
    """How often `size` halves while staying even and >= 4 (at most `most`); at least one halving."""
    stages = 0
    while stages < most and size % 2 == 0 and size // 2 >= 4:
        size //= 2
        stages += 1
    if stages == 0:
        raise ValueError(f"ssl_conv needs an even image size >= 8, got {size}")
    return stages


class _Classifier(nn.Module):
    """hidden blocks (each ending in its activation) -> [minibatch discrimination] -> Linear K."""

    def __init__(self, blocks: list[nn.Module], noises: list[nn.Module], width: int, classes: int,
                 minibatch_kernels: int, minibatch_dims: int, pool: bool):
        super().__init__()
        self.blocks, self.noises, self.pool = nn.ModuleList(blocks), nn.ModuleList(noises), pool
        # The MLP sees pixels in [0, 1] as the paper code did, so its noise levels (0.3, 0.5) mean the same.
        self.minibatch = MinibatchDiscrimination(width, minibatch_kernels, minibatch_dims) if minibatch_kernels else None
        self.out = nn.Linear(self.minibatch.out_features if self.minibatch else width, classes)

    def forward(self, x: Tensor, c: Tensor | None = None, features: bool = False):
        h = x if self.pool else (x.flatten(1) + 1) * 0.5
        h = self.noises[0](h)
        hidden = []
        for block, noise in zip(self.blocks, self.noises[1:]):
            h = block(h)
            hidden.append(h.mean((2, 3)) if self.pool else h)  # (N, F): conv maps are compared by their means
            h = noise(h)
        h = h.mean((2, 3)) if self.pool else h  # (N, F)
        if self.minibatch is not None:
            h = self.minibatch(h)
        logits = self.out(h)  # (N, K)
        return (logits, hidden) if features else logits


def _noise(std: float, dropout: float) -> nn.Module:
    parts = [GaussianNoise(std)] if std else []
    parts += [nn.Dropout(dropout)] if dropout else []
    return nn.Sequential(*parts) if parts else nn.Identity()


def mlp_classifier(cfg, info: DataInfo) -> nn.Module:
    d, layers = cfg.d_dim, cfg.d_layers or 5
    widths = ([4 * d, 2 * d] + [d] * max(layers - 2, 0))[:layers]
    sizes = [math.prod(info.shape)] + widths
    blocks = [nn.Sequential(nn.Linear(a, b), NORMS_1D.get(cfg.d_norm)(b), nn.ReLU()) for a, b in zip(sizes[:-1], sizes[1:])]
    noises = [_noise(cfg.d_input_noise, cfg.d_input_dropout)] + [_noise(cfg.d_hidden_noise, cfg.d_dropout) for _ in blocks]
    return _Classifier(blocks, noises, widths[-1], _classes(info), cfg.minibatch_kernels, cfg.minibatch_dims, pool=False)


def conv_classifier(cfg, info: DataInfo) -> nn.Module:
    channels, size = info.shape[0], info.shape[1]
    stages = cfg.d_layers or conv_stages(size)
    widths = [cfg.d_dim * min(2 ** i, 8) for i in range(stages)]
    sizes = [channels] + widths
    blocks = [nn.Sequential(nn.Conv2d(a, b, 3, 2, 1), NORMS_2D.get(cfg.d_norm)(b), nn.LeakyReLU(0.2))
              for a, b in zip(sizes[:-1], sizes[1:])]
    noises = [_noise(cfg.d_input_noise, cfg.d_input_dropout)] + [_noise(cfg.d_hidden_noise, cfg.d_dropout) for _ in blocks]
    return _Classifier(blocks, noises, widths[-1], _classes(info), cfg.minibatch_kernels, cfg.minibatch_dims, pool=True)


CNN_MIN_SIZE = 12  # 12 -> 6 -> 3 -> an unpadded 3x3 -> 1; the registry refuses smaller images (Architecture.min_size)


def cnn_classifier(cfg, info: DataInfo) -> nn.Module:
    norm, d = NORMS_2D.get(cfg.d_norm), cfg.d_dim

    def conv(a: int, b: int, kernel: int = 3, stride: int = 1, pad: int = 1) -> list[nn.Module]:
        return [nn.Conv2d(a, b, kernel, stride, pad), norm(b), nn.LeakyReLU(0.2)]

    blocks = [nn.Sequential(*conv(info.shape[0], d), *conv(d, d), *conv(d, d, stride=2)),
              nn.Sequential(*conv(d, 2 * d), *conv(2 * d, 2 * d), *conv(2 * d, 2 * d, stride=2)),
              nn.Sequential(*conv(2 * d, 2 * d, pad=0), *conv(2 * d, 2 * d, 1, pad=0), *conv(2 * d, 2 * d, 1, pad=0))]
    noises = [_noise(cfg.d_input_noise, cfg.d_input_dropout), _noise(cfg.d_hidden_noise, cfg.d_dropout),
              _noise(cfg.d_hidden_noise, cfg.d_dropout), nn.Identity()]  # nothing after the last: it is pooled
    return _Classifier(blocks, noises, 2 * d, _classes(info), cfg.minibatch_kernels, cfg.minibatch_dims, pool=True)


class MLPGenerator(nn.Module):
    def __init__(self, z_dim: int, shape: tuple[int, ...], width: int = 500, layers: int = 2, norm: str = "batch"):
        super().__init__()
        self.shape = shape
        sizes = [z_dim] + [width] * layers
        hidden = [nn.Sequential(nn.Linear(a, b), NORMS_1D.get(norm)(b), nn.Softplus()) for a, b in zip(sizes[:-1], sizes[1:])]
        self.hidden = nn.Sequential(*hidden)
        # The paper code weight-normalizes G's output layer whatever the hidden layers use.
        self.out = nn.Linear(width, math.prod(shape))
        if norm not in ("weight", "spectral"):
            parametrizations.weight_norm(self.out)

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        x = torch.sigmoid(self.out(self.hidden(z))) * 2 - 1  # (N, C*H*W) in [-1, 1]
        return x.view(-1, *self.shape)  # (N, C, H, W)


class ConvGenerator(nn.Module):
    def __init__(self, z_dim: int, channels: int, size: int, dim: int = 64, norm: str = "batch"):
        super().__init__()
        stages = conv_stages(size)
        start = size // 2 ** stages
        width = dim * min(2 ** stages, 8)
        self.start = (width, start, start)
        self.fc = nn.Sequential(nn.Linear(z_dim, width * start * start), NORMS_1D.get(norm)(width * start * start), nn.ReLU())
        blocks: list[nn.Module] = []
        for i in range(stages):
            out = dim * min(2 ** (stages - i - 1), 8)
            blocks += [nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                       nn.Conv2d(width, out, 3, 1, 1), NORMS_2D.get(norm)(out), nn.ReLU()]
            width = out
        blocks += [nn.Conv2d(width, channels, 3, 1, 1), nn.Tanh()]
        self.blocks = nn.Sequential(*blocks)

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        return self.blocks(self.fc(z).view(-1, *self.start))  # (N, C, H, W)


def mlp_generator(cfg, info: DataInfo) -> nn.Module:
    return MLPGenerator(cfg.z_dim, tuple(info.shape), cfg.g_dim, cfg.g_layers or 2, cfg.g_norm)


def conv_generator(cfg, info: DataInfo) -> nn.Module:
    return ConvGenerator(cfg.z_dim, info.shape[0], info.shape[1], cfg.g_dim, cfg.g_norm)
