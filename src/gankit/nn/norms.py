"""Normalizations chosen by name (`model.g_norm`, `model.d_norm`).

Two kinds: feature normalizations are layers placed by the architecture (batch, layer); weight
normalizations reparametrize every convolution and linear layer of a network after it is built
(spectral, weight). A network asks `NORMS_2D`/`NORMS_1D` for its feature layers — a weight normalization
gives an identity there — and `apply_weight_norm` wraps its layers afterwards.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrizations

from gankit.nn.layers import VirtualBatchNorm
from gankit.registry import Registry

NORMS_2D: Registry = Registry("normalization")  # name -> (channels) -> Module for (N, C, H, W)
NORMS_1D: Registry = Registry("normalization")  # name -> (features) -> Module for (N, F)
WEIGHT_NORMS = ("spectral", "weight")


class GroupNorm(nn.GroupNorm):
    """nn.GroupNorm that normalizes a channels-last map in channels-first order and hands it back channels-last: the
    CPU kernel on a channels-last bf16 map ran 10-30x slower than the two copies (AMX Xeon, 1 thread: 60 against 6 ms
    forward and backward for (16, 256, 16, 16); `BENCHMARKS.md`, issue 24). Same numbers, parameters and state dict."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4 and x.device.type == "cpu" and not x.is_contiguous() and x.is_contiguous(
                memory_format=torch.channels_last):
            return super().forward(x.contiguous()).contiguous(memory_format=torch.channels_last)
        return super().forward(x)


NORMS_2D.register("none")(lambda channels: nn.Identity())
NORMS_2D.register("batch")(lambda channels: nn.BatchNorm2d(channels))
# Layer norm over (C, H, W), as compare_gan's layer_norm; GroupNorm with one group is exactly that.
NORMS_2D.register("layer")(lambda channels: GroupNorm(1, channels))
NORMS_1D.register("none")(lambda features: nn.Identity())
NORMS_1D.register("batch")(lambda features: nn.BatchNorm1d(features))
NORMS_1D.register("layer")(lambda features: nn.LayerNorm(features))
# Instance norm (StarGAN): affine, no running statistics, so a translation does not depend on train/eval mode.
# Computed as GroupNorm with one group per channel: the same statistics, eps and parameters (`weight`, `bias`, so
# nn.InstanceNorm2d's state dicts load). One norm alone runs 1.2-4x faster on CPU than nn.InstanceNorm2d, which
# normalizes a (1, N*C, H, W) view with batch norm; whole StarGAN iterations 1.00-1.10x (BENCHMARKS.md).
# On (N, F) features there is nothing to normalize per instance: the identity.
NORMS_2D.register("instance")(lambda channels: GroupNorm(channels, channels, affine=True))
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


@torch.no_grad()
def data_dependent_init(module: nn.Module, *inputs: torch.Tensor, scale: float = 1.0, eps: float = 1e-10) -> int:
    """Salimans & Kingma (2016)'s data-dependent initialization of weight-normed layers (the Improved-GAN paper code
    runs it on its first batch): one forward pass of `inputs` in which every weight-normed conv/linear layer, when the
    pass reaches it, rescales its g and shifts its bias so that each output unit has mean 0 and standard deviation
    `scale` over the batch (and positions); the layers after it see the normalized outputs. A layer without a bias
    is only rescaled. Batch norms in `module` use the batch's statistics and keep their running averages as they
    were. Returns the number of layers initialized."""
    done: list[nn.Module] = []

    def normalize(layer, args, out):
        if layer in done:
            return out
        channel = out.dim() - 1 if isinstance(layer, nn.Linear) else 1 if out.dim() > 1 else 0  # the output units' axis
        dims = [d for d in range(out.dim()) if d != channel]
        mean, var = out.mean(dims), out.var(dims, unbiased=False)
        factor = scale / torch.sqrt(var + eps)
        g = layer.parametrizations.weight.original0  # (out, 1, ...) or (1, out, 1, 1): one entry per output unit
        g.mul_(factor.reshape(g.shape))
        shape = [1] * out.dim()
        shape[channel] = -1
        if layer.bias is not None:
            layer.bias.copy_((layer.bias - mean) * factor)
            out = out - mean.reshape(shape)
        done.append(layer)
        return out * factor.reshape(shape)

    handles = [layer.register_forward_hook(normalize) for layer in module.modules()
               if isinstance(layer, _WEIGHTED) and parametrize_name(layer) == "weight_norm"]
    try:
        with batch_stats_only(module):
            module(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return len(done)


def parametrize_name(layer: nn.Module) -> str | None:
    """"weight_norm" or "spectral_norm" for a layer whose weight carries that parametrization, else None."""
    params = getattr(layer, "parametrizations", None)
    if params is None or "weight" not in params:
        return None
    kinds = {type(p).__name__ for p in params.weight}
    return "weight_norm" if "_WeightNorm" in kinds else "spectral_norm" if "_SpectralNorm" in kinds else None


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
