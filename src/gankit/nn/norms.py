"""Feature normalizations chosen by name (`model.g_norm`, `model.d_norm`)."""
from __future__ import annotations

from torch import nn

from gankit.registry import Registry

NORMS_2D: Registry = Registry("2-d normalization")  # name -> (channels) -> Module for (N, C, H, W)
NORMS_1D: Registry = Registry("1-d normalization")  # name -> (features) -> Module for (N, F)

NORMS_2D.register("none")(lambda channels: nn.Identity())
NORMS_2D.register("batch")(lambda channels: nn.BatchNorm2d(channels))
# Layer norm over (C, H, W), as compare_gan's layer_norm; GroupNorm with one group is exactly that.
NORMS_2D.register("layer")(lambda channels: nn.GroupNorm(1, channels))
NORMS_1D.register("none")(lambda features: nn.Identity())
NORMS_1D.register("batch")(lambda features: nn.BatchNorm1d(features))
NORMS_1D.register("layer")(lambda features: nn.LayerNorm(features))
