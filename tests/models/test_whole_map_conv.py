import pytest
import torch
import torch.nn.functional as F
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
