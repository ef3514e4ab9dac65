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


def test_r1_r2_and_dragan_closed_forms_on_a_linear_critic():
    D = Linear(torch.tensor([3.0, 4.0]))  # grad D = w everywhere: ||w||^2 = 25
    real, fake = torch.randn(6, 2), torch.randn(6, 2)
    assert_close(PENALTIES.get("r1")(D, real, fake), torch.tensor(25.0))
    assert_close(PENALTIES.get("r2")(D, real, fake), torch.tensor(25.0))
    assert_close(PENALTIES.get("dragan")(D, real, fake), (torch.sqrt(torch.tensor(25.0 + 1e-4)) - 1) ** 2)
    PENALTIES.get("r1")(D, real, fake).backward()
    assert_close(D.w.grad, 2 * torch.tensor([3.0, 4.0]))  # d/dw ||w||^2


def test_dragan_perturbs_within_the_data_range():
    seen = []

    class Probe(nn.Module):
        def forward(self, x, c=None):
            seen.append(x.detach().clone())
            return x.flatten(1).sum(1)

    real = torch.rand(64, 3, 4, 4) * 2 - 1
    torch.manual_seed(0)
    PENALTIES.get("dragan")(Probe(), real, real, data_range=(-1.0, 1.0))
    noisy = seen[0]
    std = real.std(unbiased=False)
    assert noisy.min() >= -1 and noisy.max() <= 1
    inside = (noisy > -1) & (noisy < 1)
    shift = (noisy - real)[inside]
    assert shift.abs().max() <= std / 2 + 1e-6 and shift.abs().max() > std / 4  # |std (u - 0.5)| <= std / 2


def test_l2_is_the_mean_over_kernels_of_half_the_squared_norm():
    D = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    with torch.no_grad():
        D[0].weight.fill_(1.0)  # sum w^2 / 2 = 3
        D[1].weight.fill_(2.0)  # 12 / 2 = 6
        D[0].bias.fill_(100.0)  # biases do not count
    assert_close(PENALTIES.get("l2")(D, None, None), torch.tensor(4.5))
    sn = nn.Sequential(nn.utils.parametrizations.spectral_norm(nn.Linear(2, 3)))
    with torch.no_grad():
        sn[0].parametrizations.weight.original.fill_(1.0)
    assert_close(PENALTIES.get("l2")(sn, None, None), torch.tensor(3.0))  # the trained tensor, not W / sigma
