import pytest
import torch

from gankit.config import ModelConfig
from gankit.data.base import DataInfo
from gankit.models import build_network
from gankit.models.stargan import ResidualBlock, SpatialMixing

INFO = DataInfo(kind="image", shape=(3, 32, 32), num_classes=4, labels="attributes")


def _reach(module, x):
    """Which input positions the output's top-left corner depends on (nonzero gradient)."""
    x = x.clone().requires_grad_(True)
    module(x)[:, :, 0, 0].sum().backward()
    return x.grad.abs().sum((0, 1)) > 0


def test_spatial_mixing_reaches_every_position_where_a_residual_block_does_not():
    torch.manual_seed(0)
    x = torch.randn(2, 8, 8, 8)
    mixing = SpatialMixing(8, 64)
    mixing.norm = torch.nn.Identity()  # (a norm's statistics would touch every position for both)
    assert _reach(mixing, x).all()  # the far corner too: one linear map over positions
    assert _reach(ResidualBlock(8, "none"), x).sum() == 9  # two 3x3 convolutions: the corner's 3x3 neighbourhood


def test_generator_with_spatial_mixing_builds_and_keeps_the_shape():
    cfg = ModelConfig(arch="stargan", g_dim=8, g_layers=1, g_norm="layer", g_spatial_mixing=2)
    G = build_network(cfg, INFO, "generator")
    assert sum(isinstance(m, SpatialMixing) for m in G.modules()) == 2
    assert G(torch.randn(3, 3, 32, 32), torch.zeros(3, 4)).shape == (3, 3, 32, 32)
    with pytest.raises(ValueError, match="divisible by 4"):
        build_network(cfg, DataInfo(kind="image", shape=(3, 6, 6), num_classes=4, labels="attributes"), "generator")
