"""Normalizations chosen by name (`model.g_norm`, `model.d_norm`).

Two kinds: feature normalizations are layers placed by the architecture (batch, layer); weight
normalizations reparametrize every convolution and linear layer of a network after it is built
(spectral, weight). A network asks `NORMS_2D`/`NORMS_1D` for its feature layers — a weight normalization
gives an identity there — and `apply_weight_norm` wraps its layers afterwards.
"""
from __future__ import annotations

from torch import nn
from torch.nn.utils import parametrizations

from gankit.nn.layers import VirtualBatchNorm
from gankit.registry import Registry

NORMS_2D: Registry = Registry("normalization")  # name -> (channels) -> Module for (N, C, H, W)
NORMS_1D: Registry = Registry("normalization")  # name -> (features) -> Module for (N, F)
WEIGHT_NORMS = ("spectral", "weight")

NORMS_2D.register("none")(lambda channels: nn.Identity())
NORMS_2D.register("batch")(lambda channels: nn.BatchNorm2d(channels))
# Layer norm over (C, H, W), as compare_gan's layer_norm; GroupNorm with one group is exactly that.
NORMS_2D.register("layer")(lambda channels: nn.GroupNorm(1, channels))
NORMS_1D.register("none")(lambda features: nn.Identity())
NORMS_1D.register("batch")(lambda features: nn.BatchNorm1d(features))
NORMS_1D.register("layer")(lambda features: nn.LayerNorm(features))
# Instance norm (StarGAN): affine, no running statistics, so a translation does not depend on train/eval mode.
# Computed as GroupNorm with one group per channel: the same statistics, eps and parameters (`weight`, `bias`, so
# nn.InstanceNorm2d's state dicts load). One norm alone runs 1.2-4x faster on CPU than nn.InstanceNorm2d, which
# normalizes a (1, N*C, H, W) view with batch norm; whole StarGAN iterations 1.00-1.10x (BENCHMARKS.md).
# On (N, F) features there is nothing to normalize per instance: the identity.
NORMS_2D.register("instance")(lambda channels: nn.GroupNorm(channels, channels, affine=True))
NORMS_1D.register("instance")(lambda features: nn.Identity())
# Virtual batch norm (Salimans et al. 2016): moments of a fixed reference batch; `build_network` wraps the
# generator so every forward pass carries its reference rows (a generator-side normalization).
NORMS_2D.register("virtual_batch")(lambda channels: VirtualBatchNorm(channels))
NORMS_1D.register("virtual_batch")(lambda features: VirtualBatchNorm(features))
for _name in WEIGHT_NORMS:
    NORMS_2D.register(_name)(lambda channels: nn.Identity())
    NORMS_1D.register(_name)(lambda features: nn.Identity())

_WEIGHTED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def apply_weight_norm(module: nn.Module, name: str) -> nn.Module:
    """Wrap every conv and linear layer (shortcuts and the output layer included) in `name`'s reparametrization.

    spectral: W / sigma(W) with sigma from one power iteration per training forward pass, the vectors u, v kept
    between steps as buffers and not differentiated, eps 1e-12 (Miyato et al. 2018, compare_gan's spectral_norm).
    weight: W = g v / ||v|| per output unit (Salimans & Kingma 2016). Other names leave the module as it is.
    """
    if name not in WEIGHT_NORMS:
        return module
    for layer in list(module.modules()):
        if isinstance(layer, _WEIGHTED):
            dim = 1 if isinstance(layer, nn.ConvTranspose2d) else 0  # the output-channel axis
            if name == "spectral":
                parametrizations.spectral_norm(layer, n_power_iterations=1, eps=1e-12, dim=dim)
            else:
                parametrizations.weight_norm(layer, dim=dim)
    return module


def set_batch_norm(module: nn.Module, decay: float, eps: float) -> nn.Module:
    """Moving-average decay (TF's; PyTorch's momentum = 1 - decay) and eps of every batch norm in `module`."""
    for layer in module.modules():
        if isinstance(layer, nn.modules.batchnorm._BatchNorm):
            layer.momentum, layer.eps = 1.0 - decay, eps
    return module


class batch_stats_only:
    """Within: batch norms use batch statistics and leave their moving averages alone (for extra passes such as
    a gradient penalty's on interpolated inputs, which should not shift D's inference statistics; this also keeps
    the pass free of in-place updates, as function transforms require)."""

    def __init__(self, module: nn.Module):
        self.layers = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]

    def __enter__(self):
        for layer in self.layers:
            layer.track_running_stats = False

    def __exit__(self, *exc):
        for layer in self.layers:
            layer.track_running_stats = True
