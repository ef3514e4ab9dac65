import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrizations

from gankit.nn.layers import WholeMapConv2d


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_whole_map_conv_is_the_convolution(channels_last, bias):
    torch.manual_seed(0)
    layer = WholeMapConv2d(64, 5, 2, bias=bias)
    x = torch.randn(7, 64, 2, 2, requires_grad=True)
    if channels_last:
        layer = layer.to(memory_format=torch.channels_last)
    out = layer(x.contiguous(memory_format=torch.channels_last) if channels_last else x)
    ref = F.conv2d(x, layer.weight, layer.bias)
    assert out.shape == ref.shape == (7, 5, 1, 1)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(ref)
    grads = torch.autograd.grad(out, (x, layer.weight), g)
    ref_grads = torch.autograd.grad(ref, (x, layer.weight), g)
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_whole_map_conv_falls_back_on_larger_maps_and_takes_spectral_norm():
    torch.manual_seed(0)
    layer = WholeMapConv2d(8, 3, 2)
    x = torch.randn(4, 8, 5, 5)
    torch.testing.assert_close(layer(x), F.conv2d(x, layer.weight, layer.bias))  # (4, 3, 4, 4)
    parametrizations.spectral_norm(layer)
    y = torch.randn(4, 8, 2, 2)
    layer.eval()  # no power iteration: the same normalized weight in both calls
    torch.testing.assert_close(layer(y), F.conv2d(y, layer.weight, layer.bias))
    assert set(layer.state_dict()) >= {"bias", "parametrizations.weight.original"}


@pytest.mark.parametrize("in_size, kernel, stride, padding", [(2, 4, 2, 1), (4, 4, 2, 1), (8, 4, 2, 1), (5, 3, 1, 1),
                                                             (6, 5, 2, 2)])
def test_matmul_conv_matches_the_convolution_to_second_order(in_size, kernel, stride, padding):
    """Same outputs, gradients and penalty-style double-backward gradients as F.conv2d (the path WGAN-GP needs)."""
    from gankit.nn.layers import MatmulConv2d

    torch.manual_seed(0)
    layer = MatmulConv2d(24, 32, kernel, stride, padding)
    x = torch.randn(3, 24, in_size, in_size, requires_grad=True)

    def penalty_grads(conv):
        out = conv(x)
        g, = torch.autograd.grad(out.square().sum(), x, create_graph=True)
        return out, torch.autograd.grad(g.square().sum() + out.sum(), (x, layer.weight, layer.bias))

    out, grads = penalty_grads(layer)
    ref, ref_grads = penalty_grads(lambda inp: F.conv2d(inp, layer.weight, layer.bias, stride, padding))
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_matmul_conv_uses_the_matmul_only_for_few_output_rows(monkeypatch):
    from gankit.nn.layers import MatmulConv2d

    layer = MatmulConv2d(8, 16, 4, 2, 1)
    calls = []
    real_unfold = F.unfold
    monkeypatch.setattr(F, "unfold", lambda *a, **k: calls.append(a[0].shape) or real_unfold(*a, **k))
    layer(torch.randn(4, 8, 8, 8))  # 4 x 4 x 4 = 64 rows: matmul
    layer(torch.randn(64, 8, 8, 8))  # 1,024 rows: the convolution
    assert calls == [torch.Size([4, 8, 8, 8])]


@pytest.mark.parametrize("size, kernel, stride, padding, live", [
    (2, 4, 2, 1, (1, 2)),  # StarGAN D's last layer at 64 px: 2x2 map, 1x1 output
    (1, 3, 1, 1, (1, 1)),  # its patch head there: a 3x3 kernel on a 1x1 map
    (4, 4, 2, 1, (0, 3)),  # every tap reads the map for some output position
    (3, 5, 1, 2, (0, 4)),
])
def test_live_taps(size, kernel, stride, padding, live):
    from gankit.nn.layers import live_taps

    assert live_taps(size, kernel, stride, padding) == live
    # brute force: a tap is live iff a 1 at some input pixel reaches some output through it
    out = (size + 2 * padding - kernel) // stride + 1
    taps = {i for o in range(out) for i in range(kernel) if 0 <= o * stride - padding + i < size}
    assert (min(taps), max(taps)) == live


def test_cropped_conv_is_the_full_convolution_and_loads_full_kernels():
    from gankit.nn.layers import MatmulConv2d, TapCroppedConv2d, conv_for_size

    torch.manual_seed(3)
    full = nn.Conv2d(48, 64, 4, 2, 1)
    after_full = torch.randn(5)
    torch.manual_seed(3)
    layer = conv_for_size(48, 64, 4, 2, 1, size=2)
    after_cropped = torch.randn(5)
    assert isinstance(layer, TapCroppedConv2d) and layer.weight.shape == (64, 48, 2, 2)
    assert torch.equal(after_full, after_cropped)  # the same random draws, so the rest of a network is unchanged
    torch.testing.assert_close(layer.weight, full.weight[:, :, 1:3, 1:3], rtol=0, atol=0)
    assert torch.equal(layer.bias, full.bias)

    x = torch.randn(6, 48, 2, 2, requires_grad=True)

    def penalty_grads(conv, weight):
        out = conv(x)
        g, = torch.autograd.grad(out.square().sum(), x, create_graph=True)
        return out, torch.autograd.grad(g.square().sum() + out.sum(), (x, weight))

    out, (gx, gw) = penalty_grads(layer, layer.weight)
    ref, (rx, rw) = penalty_grads(full, full.weight)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gx, rx, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(gw, rw[:, :, 1:3, 1:3], rtol=1e-4, atol=1e-4)
    assert rw[:, :, 0].abs().max() == 0 and rw[:, :, :, 3].abs().max() == 0  # what was cut never had a gradient

    fresh = conv_for_size(48, 64, 4, 2, 1, size=2)
    fresh.load_state_dict(full.state_dict())  # a checkpoint written before the crop
    torch.testing.assert_close(fresh(x), ref, rtol=1e-5, atol=1e-5)
    assert type(conv_for_size(48, 64, 4, 2, 1, size=4)) is MatmulConv2d  # nothing to cut on a 4x4 map


def test_stargan_discriminator_at_64px_leaves_out_dead_taps_unless_weights_are_normalized():
    from gankit.families.stargan.networks import StarDiscriminator

    torch.manual_seed(0)
    cropped = StarDiscriminator(3, 64, 5, repeat=6)
    torch.manual_seed(0)
    full = StarDiscriminator(3, 64, 5, repeat=6, crop_dead_taps=False)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(full) - count(cropped) == 2048 * 1024 * 12 + 2048 * 8  # 12 of 16 taps of the 1024->2048 layer, 8 of 9 of the head
    x = torch.randn(2, 3, 64, 64)
    for a, b in zip(cropped(x), full(x)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    cropped.load_state_dict(full.state_dict())
    for a, b in zip(cropped(x), full(x)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
