"""The patch matrix-product convolutions compute what nn.Conv2d / nn.ConvTranspose2d compute, to every order of
gradient (the gradient penalty differentiates the critic's input gradient), and fall back where they do not apply."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from gankit.models.dcgan import DCGANCritic, DCGANGenerator
from gankit.nn import patches
from gankit.nn.norms import apply_weight_norm
from gankit.nn.patches import Col2im, Im2col, PatchConv2d, PatchConvTranspose2d
from gankit.penalties import gradient_penalty

# (in, out, kernel, stride, padding, input size): DCGAN's 5x5 stride-2 layers, odd sizes, a 3x3 and a 4x4 kernel
CONVS = [(5, 7, 5, 2, 2, 8), (3, 4, 5, 2, 2, 7), (4, 6, 3, 1, 1, 4), (2, 3, 4, 2, 1, 8), (3, 2, 3, 2, 0, 5)]
DECONVS = [(7, 5, 5, 2, 2, 1, 4), (3, 4, 4, 2, 1, 0, 4), (4, 2, 3, 1, 1, 0, 3), (2, 3, 3, 2, 1, 1, 2)]


@pytest.fixture(autouse=True)
def small_layers_too(monkeypatch):
    """These layers are far below the multiply-adds from which the patch product is used: take it anyway."""
    monkeypatch.setattr(patches, "MIN_MACS", 0)


def pair(plain_cls, patch_cls, *args, **kwargs):
    torch.manual_seed(0)
    plain, patch = plain_cls(*args, **kwargs).double(), patch_cls(*args, **kwargs).double()
    patch.load_state_dict(plain.state_dict())
    return plain, patch


def assert_same_to_second_order(plain, patch, x):
    """Forward, the input and weight gradients, and the gradient of the input gradient's norm (the penalty's)."""
    def penalty_and_grads(net):
        x_ = x.clone().requires_grad_()
        y = net(x_)
        (gx,) = torch.autograd.grad((y * torch.cos(y)).sum(), x_, create_graph=True)
        return y, torch.autograd.grad(gx.square().sum() + y.sum(), [x_, *net.parameters()])

    y_plain, grads_plain = penalty_and_grads(plain)
    y_patch, grads_patch = penalty_and_grads(patch)
    torch.testing.assert_close(y_patch, y_plain, rtol=1e-10, atol=1e-10)
    for a, b in zip(grads_patch, grads_plain):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("cin,cout,k,s,p,size", CONVS)
def test_patch_convolution_equals_the_convolution(cin, cout, k, s, p, size):
    plain, patch = pair(nn.Conv2d, PatchConv2d, cin, cout, k, s, p)
    assert_same_to_second_order(plain, patch, torch.randn(3, cin, size, size, dtype=torch.float64))


@pytest.mark.parametrize("cin,cout,k,s,p,op,size", DECONVS)
def test_patch_transposed_convolution_equals_the_transposed_convolution(cin, cout, k, s, p, op, size):
    plain, patch = pair(nn.ConvTranspose2d, PatchConvTranspose2d, cin, cout, k, s, p, op)
    x = torch.randn(3, cin, size, size, dtype=torch.float64)
    assert patch(x).shape == plain(x).shape
    assert_same_to_second_order(plain, patch, x)


def test_im2col_and_col2im_are_adjoint():
    """<im2col(x), c> = <x, col2im(c)> for random x and c: the identity both backward passes rest on."""
    torch.manual_seed(1)
    x, k, s, oh, ow = torch.randn(2, 9, 7, 3, dtype=torch.float64), 3, 2, 4, 3
    cols = Im2col.apply(x, k, s, oh, ow)
    assert cols.shape == (2, oh, ow, k, k, 3)
    c = torch.randn_like(cols)
    torch.testing.assert_close((cols * c).sum(), (x * Col2im.apply(c, tuple(x.shape), k, s)).sum())
    assert torch.autograd.gradgradcheck(lambda t: Im2col.apply(t, k, s, oh, ow), (x.requires_grad_(),))


def test_large_maps_small_products_and_the_switch_use_the_convolution_itself(monkeypatch):
    """Past max_positions, below MIN_MACS, or with the switch off the layer is the convolution itself."""
    calls = []
    monkeypatch.setattr(Im2col, "apply", lambda *a: calls.append(a) or (_ for _ in ()).throw(AssertionError))
    monkeypatch.setattr(Col2im, "apply", lambda *a: calls.append(a) or (_ for _ in ()).throw(AssertionError))
    conv = PatchConv2d(3, 4, 5, 2, 2)
    conv(torch.randn(1, 3, 16, 16))  # 8x8 = 64 output positions > 16
    conv.max_positions = 0
    conv(torch.randn(1, 3, 8, 8))
    monkeypatch.setattr(patches, "MIN_MACS", 2 * 16 * 3 * 4 * 25 + 1)  # one more than a batch of 2 does
    PatchConv2d(3, 4, 5, 2, 2)(torch.randn(2, 3, 8, 8))
    PatchConvTranspose2d(4, 3, 5, 2, 2, 1)(torch.randn(2, 4, 4, 4))
    assert not calls
    with pytest.raises(AssertionError):  # and at MIN_MACS the product is taken
        PatchConv2d(3, 4, 5, 2, 2)(torch.randn(3, 3, 8, 8))


@pytest.mark.parametrize("norm", ["none", "spectral"])
def test_dcgan_with_and_without_patches_is_one_function(norm):
    """The switch (model.patch_convs) changes neither the parameters nor the numbers, penalty included."""
    torch.manual_seed(0)
    nets = []
    for on in (True, False):
        torch.manual_seed(0)
        G, D = DCGANGenerator(8, 3, 32, dim=8, patch_convs=on), DCGANCritic(3, 32, dim=8, patch_convs=on)
        nets.append((G.double(), apply_weight_norm(D, norm).double().eval()))
    (G1, D1), (G0, D0) = nets
    assert G1.state_dict().keys() == G0.state_dict().keys() and D1.state_dict().keys() == D0.state_dict().keys()
    z = torch.randn(4, 8, dtype=torch.float64)
    real = torch.rand(4, 3, 32, 32, dtype=torch.float64) * 2 - 1
    fake1, fake0 = G1(z), G0(z)
    torch.testing.assert_close(fake1, fake0, rtol=1e-10, atol=1e-10)
    torch.manual_seed(2)
    gp1 = gradient_penalty(D1, real, fake1.detach())
    torch.manual_seed(2)
    gp0 = gradient_penalty(D0, real, fake0.detach())
    torch.testing.assert_close(gp1, gp0, rtol=1e-9, atol=1e-12)
    g1 = torch.autograd.grad(gp1, list(D1.parameters()), allow_unused=True)  # the output bias is not in the penalty
    g0 = torch.autograd.grad(gp0, list(D0.parameters()), allow_unused=True)
    assert sum(g is not None for g in g1) >= 7
    assert not any(isinstance(m, (PatchConv2d, PatchConvTranspose2d)) for m in [*G0.modules(), *D0.modules()])
    for a, b in zip(g1, g0):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)


def test_bf16_autocast_runs_the_product_in_bf16_and_stays_close():
    torch.manual_seed(0)
    plain, patch = nn.Conv2d(16, 32, 5, 2, 2), PatchConv2d(16, 32, 5, 2, 2)
    patch.load_state_dict(plain.state_dict())
    x = torch.randn(4, 16, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y_plain, y_patch = plain(x), patch(x)
    assert y_patch.dtype == torch.bfloat16
    torch.testing.assert_close(y_patch.float(), y_plain.float(), rtol=0.05, atol=0.05)


@pytest.mark.parametrize("cls, plain_cls, shape", [(PatchConv2d, nn.Conv2d, (2, 4, 8, 8)),
                                                   (PatchConvTranspose2d, nn.ConvTranspose2d, (2, 4, 4, 4))])
def test_a_spectral_norms_power_iteration_runs_once_per_forward_pass(cls, plain_cls, shape):
    """Each read of a spectrally normed `weight` in training mode is one power iteration: the patch layer reads it
    once per call, as the plain layer does, so u, v and the outputs stay those of the plain layer step after step."""
    args = (4, 3, 5, 2, 2) + ((1,) if cls is PatchConvTranspose2d else ())
    plain, patch = (apply_weight_norm(nn.Sequential(c(*args)), "spectral")[0].double() for c in (plain_cls, cls))
    patch.load_state_dict(plain.state_dict())
    x = torch.randn(*shape, dtype=torch.float64)
    for _ in range(3):
        torch.testing.assert_close(patch(x), plain(x), rtol=1e-10, atol=1e-10)
    for key, value in plain.state_dict().items():
        torch.testing.assert_close(patch.state_dict()[key], value, rtol=1e-12, atol=1e-12)
