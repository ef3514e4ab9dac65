import pytest
import torch

from gankit.config import ModelConfig
from gankit.data.base import DataInfo
from gankit.errors import ConfigError, UnknownNameError
from gankit.models import ARCHITECTURES, get_architecture
from gankit.models.dcgan import DCGANCritic, DCGANGenerator


@pytest.mark.parametrize("size", [8, 16, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes_and_range(size, channels):
    G, D = DCGANGenerator(16, channels, size, dim=8), DCGANCritic(channels, size, dim=8)
    x = G(torch.randn(5, 16))
    assert x.shape == (5, channels, size, size) and x.abs().max() <= 1
    assert D(x).shape == (5,)


def test_dcgan_32_matches_the_reference_layout():
    G, D = DCGANGenerator(128, 3, 32, dim=128), DCGANCritic(3, 32, dim=128)
    assert G.fc[0].out_features == 4 * 4 * 4 * 128
    deconvs = [m for m in G.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [(m.in_channels, m.out_channels, m.kernel_size, m.stride) for m in deconvs] == [
        (512, 256, (5, 5), (2, 2)), (256, 128, (5, 5), (2, 2)), (128, 3, (5, 5), (2, 2))]
    convs = [m for m in D.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(m.in_channels, m.out_channels) for m in convs] == [(3, 128), (128, 256), (256, 512)]
    assert D.fc.in_features == 4 * 4 * 4 * 128
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in D.modules())


def test_architecture_registry_checks_data_kind_and_names():
    points = DataInfo(kind="points", shape=(2,))
    G = get_architecture("toy_mlp", points).generator(ModelConfig(z_dim=2, g_dim=16), points)
    assert G(torch.randn(7, 2)).shape == (7, 2)
    with pytest.raises(ConfigError, match="is for image data"):
        get_architecture("dcgan", points)
    with pytest.raises(UnknownNameError, match="valid: dcgan, toy_mlp"):
        ARCHITECTURES.get("resnet")
    with pytest.raises(ValueError, match="power of two"):
        DCGANGenerator(8, 3, 28)


def test_toy_mlp_adagan_options():
    points = DataInfo(kind="points", shape=(2,))
    cfg = ModelConfig(arch="toy_mlp", z_dim=5, g_dim=64, g_layers=2, activation="tanh", init_std=0.8)
    G = get_architecture("toy_mlp", points).generator(cfg, points)
    linears = [m for m in G.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(5, 64), (64, 64), (64, 2)]
    assert any(isinstance(m, torch.nn.Tanh) for m in G.modules())
    weights = torch.cat([m.weight.flatten() for m in linears])
    assert weights.std().item() == pytest.approx(0.8, rel=0.1) and all((m.bias == 0).all() for m in linears)
