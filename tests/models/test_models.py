import pytest
import torch
from torch import nn

from gankit.config import ModelConfig
from gankit.data.base import DataInfo
from gankit.errors import ConfigError, UnknownNameError
from gankit.families import FAMILIES  # noqa: F401  (importing the families registers their architectures)
from gankit.models import ARCHITECTURES, build_network, get_architecture
from gankit.models.dcgan import DCGANCritic, DCGANGenerator
from gankit.models.resnet_cifar import ResNetDiscriminator, ResNetGenerator, UpConv3x3, nearest, unpool
from gankit.models.sndcgan import SNDCGANDiscriminator, SNDCGANGenerator
from gankit.nn.norms import apply_weight_norm, data_dependent_init


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
    with pytest.raises(UnknownNameError, match="valid: dcgan, resnet_cifar, sndcgan, ssl_cnn, ssl_conv, ssl_mlp, stargan, toy_mlp"):
        ARCHITECTURES.get("resnet")
    with pytest.raises(ValueError, match="power of two"):
        DCGANGenerator(8, 3, 28)


def test_toy_mlp_adagan_options():
    points = DataInfo(kind="points", shape=(2,))
    cfg = ModelConfig(arch="toy_mlp", z_dim=5, g_dim=64, g_layers=2, activation="tanh", init_std=0.8)
    G = build_network(cfg, points, "generator")
    linears = [m for m in G.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(5, 64), (64, 64), (64, 2)]
    assert any(isinstance(m, torch.nn.Tanh) for m in G.modules())
    weights = torch.cat([m.weight.flatten() for m in linears])
    assert weights.std().item() == pytest.approx(0.8, rel=0.1) and all((m.bias == 0).all() for m in linears)



def test_unpool_inserts_zeros():
    x = torch.arange(1.0, 5.0).view(1, 1, 2, 2)
    expected = torch.tensor([[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]], dtype=torch.float32)
    assert torch.equal(unpool(x)[0, 0], expected)


def test_nearest_upsampling_repeats_each_pixel_over_its_block_and_the_generator_uses_the_chosen_one():
    x = torch.arange(1.0, 5.0).view(1, 1, 2, 2)
    expected = torch.tensor([[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]], dtype=torch.float32)
    assert torch.equal(nearest(x)[0, 0], expected)
    z = torch.randn(2, 8)
    torch.manual_seed(0)
    a = ResNetGenerator(8, 1, 16, dim=4, upsample="unpool")
    torch.manual_seed(0)
    b = ResNetGenerator(8, 1, 16, dim=4, upsample="nearest")
    assert all(blk.conv1.upsample == blk.shortcut.upsample == "nearest" for blk in b.blocks)
    assert a(z).shape == b(z).shape == (2, 1, 16, 16) and not torch.allclose(a(z), b(z))  # same weights, other map


@pytest.mark.parametrize("norm", ["none", "spectral"])
@pytest.mark.parametrize("upsample", ["unpool", "nearest"])
def test_the_transposed_up_convolution_equals_upsampling_then_a_3x3_convolution(upsample, norm):
    """Forward and every gradient equal those of upsample(x) -> Conv2d with the same parameters (closed form)."""
    torch.manual_seed(0)
    fused = apply_weight_norm(nn.Sequential(UpConv3x3(3, 5, upsample)), norm)[0]
    plain = apply_weight_norm(nn.Sequential(nn.Conv2d(3, 5, 3, padding=1)), norm)[0]
    plain.load_state_dict(fused.state_dict())
    fused.eval(), plain.eval()  # spectral norm: no power iteration, so both read the same weight
    x = torch.randn(2, 3, 4, 6, requires_grad=True)
    y_fused = fused(x)
    y_plain = plain({"unpool": unpool, "nearest": nearest}[upsample](x))
    assert y_fused.shape == (2, 5, 8, 12)
    torch.testing.assert_close(y_fused, y_plain, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(y_plain)
    grads_fused = torch.autograd.grad(y_fused, [x, *fused.parameters()], g)
    grads_plain = torch.autograd.grad(y_plain, [x, *plain.parameters()], g)
    for a, b in zip(grads_fused, grads_plain):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_resnet_cifar_32_matches_the_reference_layout():
    G, D = ResNetGenerator(128, 3, 32, dim=256), ResNetDiscriminator(3, 32, dim=128)
    assert G.fc.out_features == 4 * 4 * 256 and len(G.blocks) == 3
    assert all(b.scale == "up" and b.shortcut.kernel_size == (3, 3) for b in G.blocks)
    assert [b.scale for b in D.blocks] == ["down", "down", "none", "none"]
    assert [(b.conv1.in_channels, b.conv1.out_channels) for b in D.blocks] == [(3, 128)] + [(128, 128)] * 3
    assert all(b.shortcut.kernel_size == (3, 3) for b in D.blocks) and D.fc.in_features == 128
    sizes = []
    h = torch.randn(2, 3, 32, 32)
    for block in D.blocks:
        h = block(h)
        sizes.append(h.shape[-1])
    assert sizes == [16, 8, 8, 8]
    x = G(torch.rand(2, 128) * 2 - 1)
    assert x.shape == (2, 3, 32, 32) and x.abs().max() <= 1 and D(x).shape == (2,)


def test_sndcgan_32_matches_the_paper():
    G, D = SNDCGANGenerator(128, 3, 32, dim=64), SNDCGANDiscriminator(3, 32, dim=64)
    convs = [(m.out_channels, m.kernel_size[0], m.stride[0]) for m in D.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs == [(64, 3, 1), (64, 4, 2), (128, 3, 1), (128, 4, 2), (256, 3, 1), (256, 4, 2), (512, 3, 1)]
    assert D.fc.in_features == 4 * 4 * 512 and G.fc[0].out_features == 4 * 4 * 512
    deconvs = [(m.in_channels, m.out_channels) for m in G.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert deconvs == [(512, 256), (256, 128), (128, 64)]
    x = G(torch.randn(2, 128))
    assert x.shape == (2, 3, 32, 32) and D(x).shape == (2,)


@pytest.mark.parametrize("arch", ["dcgan", "resnet_cifar", "sndcgan"])
@pytest.mark.parametrize("size", [8, 16])
def test_image_architectures_at_other_sizes(arch, size):
    info = DataInfo(kind="image", shape=(1, size, size))
    cfg = ModelConfig(arch=arch, z_dim=8, g_dim=8, d_dim=8)
    G, D = build_network(cfg, info, "generator"), build_network(cfg, info, "discriminator")
    x = G(torch.randn(3, 8))
    assert x.shape == (3, 1, size, size) and D(x).shape == (3,)


def test_build_network_applies_init_batch_norm_and_spectral_norm():
    info = DataInfo(kind="image", shape=(3, 32, 32))
    cfg = ModelConfig(arch="resnet_cifar", z_dim=16, g_dim=16, d_dim=16, init_std=0.02, bn_decay=0.99, bn_eps=1e-3,
                      d_norm="spectral")
    G, D = build_network(cfg, info, "generator"), build_network(cfg, info, "discriminator")
    bns = [m for m in G.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(m.momentum == pytest.approx(0.01) and m.eps == 1e-3 for m in bns)
    assert G.fc.weight.std().item() == pytest.approx(0.02, rel=0.1) and (G.fc.bias == 0).all()
    wrapped = [m for m in D.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert wrapped and all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in wrapped)
    assert not any(torch.nn.utils.parametrize.is_parametrized(m) for m in G.modules())


def test_spectral_norm_sigma_approaches_the_top_singular_value():
    torch.manual_seed(0)
    layer = torch.nn.Linear(20, 30)
    top = torch.linalg.matrix_norm(layer.weight.detach(), 2).item()
    net = apply_weight_norm(torch.nn.Sequential(layer), "spectral")
    with torch.no_grad():  # start the persistent u far from the top singular vector: only the iterations converge it
        u = net[0].parametrizations.weight[0]._u
        u.copy_(torch.nn.functional.normalize(torch.randn_like(u), dim=0))
    errors = []
    for _ in range(30):  # each training forward pass runs one more power iteration on the persistent u
        net(torch.randn(4, 20))
        with torch.no_grad():
            w_over_sigma = net[0].weight
        original = net[0].parametrizations.weight.original
        sigma = (original / w_over_sigma).flatten()[0].item()
        errors.append(abs(sigma - top) / top)
    assert errors[-1] < 1e-3 and errors[-1] <= errors[0]
    assert torch.linalg.matrix_norm(net[0].weight.detach(), 2).item() == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("d_norm, kernels", [("none", {4, 2, 1}), ("spectral", {4, 3})])
def test_stargan_d_cuts_dead_taps_only_without_a_weight_reparametrization(d_norm, kernels):
    """Spectral and weight norm see the whole kernel (its dead taps change sigma), so there D keeps it."""
    info = DataInfo(kind="image", shape=(3, 64, 64), labels="attributes", num_classes=5)
    cfg = ModelConfig(arch="stargan", d_dim=8, d_layers=6, d_norm=d_norm)
    D = build_network(cfg, info, "discriminator")
    convs = [m for m in D.modules() if isinstance(m, torch.nn.Conv2d)]
    assert {m.kernel_size[0] for m in convs if m is not D.cls} == kernels


def test_instance_norm_is_torchs_instance_norm_and_loads_its_weights():
    from gankit.nn.norms import NORMS_2D

    torch.manual_seed(0)
    ref = torch.nn.InstanceNorm2d(6, affine=True)
    with torch.no_grad():
        ref.weight.uniform_(0.5, 1.5), ref.bias.uniform_(-1, 1)
    norm = NORMS_2D.get("instance")(6)
    norm.load_state_dict(ref.state_dict())
    x = (3 * torch.randn(4, 6, 5, 7) + torch.arange(6.0).view(1, 6, 1, 1)).requires_grad_(True)
    out, expected = norm(x), ref(x)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(out)
    for a, b in zip(torch.autograd.grad(out, (x, norm.weight, norm.bias), g),
                    torch.autograd.grad(expected, (x, ref.weight, ref.bias), g)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    norm.eval()  # no running statistics: the same in eval mode
    torch.testing.assert_close(norm(x), expected, rtol=1e-5, atol=1e-5)


def test_data_dependent_init_gives_each_unit_mean_0_and_std_scale_on_the_batch():
    """Salimans & Kingma's init: after it, every weight-normed layer's outputs on the init batch have mean 0 and the
    requested std per unit (channels of a conv over batch and positions); W's direction v is untouched; a layer
    without a bias is only rescaled; spectral-normed layers are left alone."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 6, 3), torch.nn.ReLU(), torch.nn.ConvTranspose2d(6, 4, 3),
                              torch.nn.Flatten(), torch.nn.Linear(4 * 8 * 8, 5, bias=False))
    apply_weight_norm(net, "weight")
    side = apply_weight_norm(torch.nn.Sequential(torch.nn.Linear(5, 2)), "spectral")
    full = torch.nn.Sequential(net, side)
    x = torch.randn(64, 3, 8, 8) * 4 + 2
    directions = [m.parametrizations.weight.original1.clone() for m in (net[0], net[2], net[4])]
    side_before = {k: v.clone() for k, v in side.state_dict().items()}
    assert data_dependent_init(full, x, scale=0.5) == 3
    with torch.no_grad():
        conv = net[0](x)
        assert torch.allclose(conv.mean((0, 2, 3)), torch.zeros(6), atol=1e-5)
        assert torch.allclose(conv.std((0, 2, 3), unbiased=False), torch.full((6,), 0.5), atol=1e-4)
        deconv = net[2](net[1](conv))
        assert torch.allclose(deconv.mean((0, 2, 3)), torch.zeros(4), atol=1e-5)
        assert torch.allclose(deconv.std((0, 2, 3), unbiased=False), torch.full((4,), 0.5), atol=1e-4)
        out = net(x)  # no bias: rescaled only
        assert torch.allclose(out.std(0, unbiased=False), torch.full((5,), 0.5), atol=1e-4)
        assert out.mean(0).abs().max() > 1e-3
    assert all(torch.equal(m.parametrizations.weight.original1, v) for m, v in zip((net[0], net[2], net[4]), directions))
    # (its power-iteration vectors _u, _v move with any training-mode pass; its weight and bias do not)
    assert all(torch.equal(side.state_dict()[k], v) for k, v in side_before.items() if not k.endswith(("_u", "_v")))
