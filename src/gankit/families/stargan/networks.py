"""StarGAN networks (Choi et al. 2018; yunjey/stargan), any power-of-two image size.

G(x, c): the target labels c (N, c_dim) tiled over the image and concatenated to it (C + c_dim channels);
7x7 conv DIM -> norm -> ReLU; 2 x (4x4 conv stride 2, doubling) -> norm -> ReLU; `g_layers` (6) residual
blocks (3x3 conv -> norm -> ReLU -> 3x3 conv -> norm, added); 2 x (4x4 transposed conv stride 2, halving)
-> norm -> ReLU; 7x7 conv to C -> tanh. Convolutions without bias, affine instance norm (`model.g_norm:
instance`; without running statistics, so training and inference normalize alike).
D (PatchGAN, the card without normalization): `d_layers` x (4x4 conv stride 2, doubling from DIM) with LeakyReLU 0.01
(`model.d_norm` layer or instance: a norm between each conv but the first and its LeakyReLU; spectral or weight:
every conv reparametrized by `build_network`; batch is refused, see `D_NORMS`);
heads: `src` a 3x3 conv to one channel (a map of patch scores), `cls` a conv whose kernel covers the last
map (image_size / 2^d_layers: 128 / 64 = 2 for the card) to c_dim attribute logits. `d_layers` defaults to
log2(size) - 1, the card's 6 at 128 px.
Not in the card: `model.g_transforms` puts a TransformGate before G's body, a learned choice among the input's
quarter turns (and mirrors); the labels in `model.g_gate_attributes` reach only the gate.
"""
from __future__ import annotations

import functools
import math

import torch
from torch import Tensor, nn

from gankit.data.base import DataInfo
from gankit.nn.layers import WholeMapConv2d, conv_for_size
from gankit.nn.norms import NORMS_2D, WEIGHT_NORMS


class ResidualBlock(nn.Module):
    def __init__(self, dim: int, norm: str):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(dim, dim, 3, 1, 1, bias=False), NORMS_2D.get(norm)(dim), nn.ReLU(True),
                                  nn.Conv2d(dim, dim, 3, 1, 1, bias=False), NORMS_2D.get(norm)(dim))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def _turns(x: Tensor, flip: bool) -> list[Tensor]:
    x = x.flip(3) if flip else x
    return [x] + [torch.rot90(x, k, (2, 3)) for k in (1, 2, 3)]


TRANSFORMS = {"quarter_turns": 4, "dihedral": 8}


class TransformGate(nn.Module):
    """A learned, per-image soft choice among fixed isometries of G's input (`model.g_transforms`): quarter turns
    (the cyclic group C4) or quarter turns and mirrors (the dihedral group D4). A small CNN reads the image into a
    feature vector f; the K logits are a linear map of f's outer product with [1, c] (so "turn iff the input is
    upright and the target is rotated" is one linear layer); G's convolutional body then reads the weighted sum of
    the turned images. A convolutional G moves content only locally and the same way everywhere, so it cannot
    learn a 90° turn by small steps (on AttrDigits it permutes the digits instead); this gives it one. The last
    layer starts at zero: an even mix. Trained by `StarGAN.gate_loss`."""

    def __init__(self, channels: int, c_dim: int, kind: str, width: int = 32):
        super().__init__()
        if kind not in TRANSFORMS:
            raise ValueError(f"model.g_transforms must be one of none, {', '.join(TRANSFORMS)}; got '{kind}'")
        self.flips = kind == "dihedral"
        # the index of each candidate's inverse: turns by 90 and 270 degrees undo each other, mirrors undo themselves
        self.inverse = (0, 3, 2, 1, 4, 5, 6, 7)[: TRANSFORMS[kind]]
        self.features = nn.Sequential(nn.Conv2d(channels, width // 2, 4, 2, 1), nn.LeakyReLU(0.2),
                                      nn.Conv2d(width // 2, width, 4, 2, 1), nn.LeakyReLU(0.2),
                                      nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(width * 16, 2 * width),
                                      nn.LeakyReLU(0.2))
        self.logits = nn.Linear(2 * width * (1 + c_dim), TRANSFORMS[kind])
        nn.init.zeros_(self.logits.weight)
        nn.init.zeros_(self.logits.bias)

    def scores(self, x: Tensor, c: Tensor) -> Tensor:
        """(N, K) logits over the candidates, in the order of `candidates`; c (N, c_dim) the target labels."""
        f = self.features(x)  # (N, F)
        labels = torch.cat([torch.ones_like(c[:, :1]), c.to(f.dtype)], 1)  # (N, 1 + c_dim)
        return self.logits((f[:, :, None] * labels[:, None, :]).flatten(1))

    def weights(self, x: Tensor, c: Tensor) -> Tensor:
        """(N, K) softmax weights over the candidates."""
        return self.scores(x, c).softmax(1)

    def candidates(self, x: Tensor) -> Tensor:
        """(N, K, C, H, W): x turned by 0, 90, 180, 270° counter-clockwise (then the same of its mirror image)."""
        turned = _turns(x, False) + (_turns(x, True) if self.flips else [])
        return torch.stack(turned, 1)

    def forward(self, x: Tensor, c: Tensor, train: bool = True) -> Tensor:
        with torch.set_grad_enabled(train and torch.is_grad_enabled()):
            w = self.weights(x, c)
        return (w[:, :, None, None, None] * self.candidates(x)).sum(1)


class StarGenerator(nn.Module):
    def __init__(self, channels: int, c_dim: int, dim: int = 64, repeat: int = 6, norm: str = "instance",
                 transforms: str = "none", gate_only: tuple[int, ...] = ()):
        super().__init__()
        if bool(gate_only) != (transforms != "none"):
            raise ValueError("model.g_transforms (quarter_turns or dihedral) and model.g_gate_attributes (the attributes a "
                             "turn changes) go together")
        self.gate = TransformGate(channels, c_dim, transforms) if transforms != "none" else None
        # the labels the convolutional body reads: all but the attributes left to the gate
        self.gate_only = tuple(gate_only)
        self.register_buffer("body_labels", torch.tensor([i for i in range(c_dim) if i not in gate_only]), persistent=False)
        body_c = len(self.body_labels)
        layers: list[nn.Module] = [nn.Conv2d(channels + body_c, dim, 7, 1, 3, bias=False), NORMS_2D.get(norm)(dim), nn.ReLU(True)]
        for _ in range(2):
            layers += [nn.Conv2d(dim, dim * 2, 4, 2, 1, bias=False), NORMS_2D.get(norm)(dim * 2), nn.ReLU(True)]
            dim *= 2
        layers += [ResidualBlock(dim, norm) for _ in range(repeat)]
        for _ in range(2):
            layers += [nn.ConvTranspose2d(dim, dim // 2, 4, 2, 1, bias=False), NORMS_2D.get(norm)(dim // 2), nn.ReLU(True)]
            dim //= 2
        layers += [nn.Conv2d(dim, channels, 7, 1, 3, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor, c: Tensor, train_gate: bool = True) -> Tensor:
        """`train_gate=False`: the gate's choice is a constant for this call's loss (StarGAN's identity and cycle
        terms, which would otherwise teach it to keep every input as it is before it can tell orientations apart)."""
        c = c.to(x.dtype)
        if self.gate is not None:
            if x.shape[2] != x.shape[3]:
                raise ValueError(f"model.g_transforms turns images by 90 degrees and needs square ones, got {tuple(x.shape[2:])}")
            x = self.gate(x, c, train_gate)
        c = c[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])  # (N, c_dim, H, W)
        if len(self.body_labels) < c.shape[1]:
            c = c.index_select(1, self.body_labels)
        return self.net(torch.cat([x, c], 1))  # (N, C, H, W)


# `model.d_norm` values D takes. Not batch: the family scores real and fake images as one batch (`StarGAN.joint_d_batch`),
# whose statistics would mix the two, and batch statistics couple the images of the card's per-sample gradient
# penalty (WGAN-GP, `loss.penalty`). Layer and instance norm are per image, so neither matters to them.
D_NORMS = ("none", "layer", "instance", *WEIGHT_NORMS)


class StarDiscriminator(nn.Module):
    def __init__(self, channels: int, size: int, c_dim: int, dim: int = 64, repeat: int | None = None,
                 crop_dead_taps: bool = True, norm: str = "none"):
        super().__init__()
        repeat = repeat or int(math.log2(size)) - 1
        if size % 2 ** repeat or size // 2 ** repeat < 1:
            raise ValueError(f"stargan D with {repeat} stride-2 layers needs an image size divisible by {2 ** repeat}, got {size}")
        if norm not in D_NORMS:
            why = (": it scores real and fake images as one batch, whose statistics would mix them, and batch statistics "
                   "couple the images of a gradient penalty (loss.penalty)") if norm == "batch" else ""
            raise ValueError(f"model.d_norm '{norm}' is not supported by the stargan discriminator{why}; valid: {', '.join(D_NORMS)}")
        if norm == "instance" and size // 2 ** repeat == 1:
            raise ValueError(f"model.d_norm 'instance' normalizes each channel over its map, and D's last map is 1x1 "
                             f"({repeat} stride-2 layers at {size} px): it would output a constant; use fewer "
                             f"model.d_layers or model.d_norm 'layer'")
        # a feature norm (layer, instance) goes after each strided conv but the first, before its LeakyReLU, as in the
        # WGAN-GP critic (dcgan.py) and pix2pix's PatchGAN: the first layer sees the image itself, whose colour and
        # contrast D should judge rather than normalize away. `none` and the weight norms add no module here, so the
        # parameter names (main.0, main.2, ...) stay those of the card's D and its checkpoints load.
        feature_norm = norm in ("layer", "instance")
        layers: list[nn.Module] = []
        width = channels
        # `crop_dead_taps`: kernel taps that only ever read zero padding at this image size are left out (same
        # function, same initial draws; at 64 px the last layer keeps 2x2 of its 4x4 taps). Off where a weight
        # reparametrization (spectral, weight norm) would see the whole kernel.
        conv = functools.partial(conv_for_size, crop=crop_dead_taps)
        for i in range(repeat):
            layers.append(conv(width, dim * 2 ** i, 4, 2, 1, size // 2 ** i))
            if feature_norm and i > 0:
                layers.append(NORMS_2D.get(norm)(dim * 2 ** i))
            layers.append(nn.LeakyReLU(0.01))
            width = dim * 2 ** i
        self.main = nn.Sequential(*layers)
        self.src = conv(width, 1, 3, 1, 1, size // 2 ** repeat, bias=False)
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
    c_dim, names = _attributes(info), list(info.label_names or ())
    unknown = [a for a in cfg.g_gate_attributes if a not in names]
    if unknown:
        raise ValueError(f"model.g_gate_attributes: {', '.join(unknown)} not among the data's attributes ({', '.join(names)})")
    gate_only = tuple(names.index(a) for a in cfg.g_gate_attributes)
    return StarGenerator(info.shape[0], c_dim, cfg.g_dim, cfg.g_layers or 6, cfg.g_norm, cfg.g_transforms, gate_only)


def stargan_discriminator(cfg, info: DataInfo) -> nn.Module:
    return StarDiscriminator(info.shape[0], info.shape[1], _attributes(info), cfg.d_dim, cfg.d_layers,
                             crop_dead_taps=cfg.d_norm not in WEIGHT_NORMS, norm=cfg.d_norm)
