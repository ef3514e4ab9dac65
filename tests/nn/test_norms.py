"""The 2-D normalizations' CPU layout handling (issue 24: channels-last maps on AMX CPUs)."""
from __future__ import annotations

import pytest
import torch

from gankit.nn.norms import NORMS_2D


@pytest.mark.parametrize("norm", ["instance", "layer"])
def test_group_norms_take_channels_last_maps_through_channels_first_and_give_them_back(norm):
    """Same output and gradients as on the channels-first map; the result keeps the caller's channels-last layout."""
    torch.manual_seed(0)
    layer = NORMS_2D.get(norm)(6).double()
    with torch.no_grad():
        layer.weight.uniform_(0.5, 1.5), layer.bias.uniform_(-1, 1)
    x = torch.randn(2, 6, 5, 4, dtype=torch.float64)
    x_cl = x.contiguous(memory_format=torch.channels_last).requires_grad_()
    x = x.requires_grad_()
    y, y_cl = layer(x), layer(x_cl)
    assert y_cl.is_contiguous(memory_format=torch.channels_last) and not y_cl.is_contiguous()
    torch.testing.assert_close(y_cl, y, rtol=1e-12, atol=1e-12)
    g = torch.randn_like(y)
    for a, b in zip(torch.autograd.grad(y_cl, [x_cl, layer.weight, layer.bias], g),
                    torch.autograd.grad(y, [x, layer.weight, layer.bias], g)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
