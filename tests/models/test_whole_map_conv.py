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
