import torch
from torch import nn
from torch.testing import assert_close

from gankit.penalties import PENALTIES, gradient_penalty, input_gradient_norm


class Linear(nn.Module):
    """D(x) = <w, x>: the input gradient is w everywhere, so the penalty has a closed form."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x, c=None):
        return (x.flatten(1) * self.w).sum(1)


def test_wgangp_closed_form_on_a_linear_critic():
    w = torch.tensor([3.0, 4.0])  # ||w|| = 5
    D = Linear(w)
    real, fake = torch.randn(6, 2), torch.randn(6, 2)
    expected = (torch.sqrt(torch.tensor(25.0 + 1e-4)) - 1) ** 2
    assert_close(gradient_penalty(D, real, fake), expected)
    assert_close(input_gradient_norm(D, real), torch.full((6,), (25 + 1e-4) ** 0.5))


def test_wgangp_differentiates_through_the_critic():
    D = Linear(torch.tensor([0.6, 0.8]))  # ||w|| = 1 -> the penalty's gradient vanishes
    gradient_penalty(D, torch.randn(4, 2), torch.randn(4, 2)).backward()
    assert D.w.grad.abs().max() < 1e-3
    D = Linear(torch.tensor([3.0, 4.0]))
    gradient_penalty(D, torch.randn(4, 2), torch.randn(4, 2)).backward()
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w|| = 1.6 w
    assert_close(D.w.grad, 1.6 * torch.tensor([3.0, 4.0]), atol=1e-3, rtol=1e-3)


def test_wgangp_on_images_and_conv_critic():
    D = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(1))
    D(torch.zeros(1, 3, 8, 8))
    critic = lambda x, c=None: D(x).squeeze(1)
    wrapped = type("W", (nn.Module,), {"forward": lambda self, x, c=None: critic(x)})()
    value = gradient_penalty(wrapped, torch.randn(5, 3, 8, 8), torch.randn(5, 3, 8, 8))
    assert value.dim() == 0 and torch.isfinite(value) and value.requires_grad


def test_none_is_zero():
    assert PENALTIES.get("none")(None, torch.randn(3, 2), torch.randn(3, 2)).item() == 0.0
