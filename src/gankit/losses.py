"""Adversarial losses (compare_gan `loss_lib`; Kurach et al. 2018, table 1). One pure function each,
logits in, scalar out, real before fake; D(x) = sigmoid(logit) where a loss needs a probability.

`LOSSES[name]` is the (discriminator loss, generator loss) pair. G's loss takes the fake logits alone, except
where `g_needs_real` is set: the relativistic losses compare fakes with a real batch in G's step too, so their G
loss is (fake_logits, real_logits) and the families run a real batch through D in that step (or refuse the loss:
`Family.config_problem`).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from gankit.registry import Registry


class LossPair(NamedTuple):
    d_loss: Callable[[Tensor, Tensor], Tensor]  # (real_logits, fake_logits) -> scalar
    g_loss: Callable[..., Tensor]  # (fake_logits) -> scalar, or (fake_logits, real_logits) if g_needs_real
    g_needs_real: bool = False  # relativistic losses compare fakes with reals in the G step too


LOSSES: Registry[LossPair] = Registry("loss")


def d_non_saturating(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """BCE(l_real, 1) + BCE(l_fake, 0)."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def g_non_saturating(fake_logits: Tensor) -> Tensor:
    """BCE(l_fake, 1) = -log D(G(z))."""
    return F.softplus(-fake_logits).mean()


def d_wasserstein(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """-mean(l_real) + mean(l_fake): the negated critic estimate of the Wasserstein-1 distance."""
    return fake_logits.mean() - real_logits.mean()


def g_wasserstein(fake_logits: Tensor) -> Tensor:
    return -fake_logits.mean()


def d_hinge(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def g_hinge(fake_logits: Tensor) -> Tensor:
    return -fake_logits.mean()


def d_least_squares(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """0.5 (mean((D_real - 1)^2) + mean(D_fake^2)) on D = sigmoid(logits), as compare_gan."""
    return 0.5 * ((torch.sigmoid(real_logits) - 1).square().mean() + torch.sigmoid(fake_logits).square().mean())


def g_least_squares(fake_logits: Tensor) -> Tensor:
    return 0.5 * (torch.sigmoid(fake_logits) - 1).square().mean()


def g_minimax(fake_logits: Tensor) -> Tensor:
    """The original (saturating) minimax G loss: mean log(1 - D(G(z))) = -mean softplus(l_fake)."""
    return -F.softplus(fake_logits).mean()


def d_relativistic_average(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """RaGAN (Jolicoeur-Martineau 2018, eq. 9 with the sigmoid): a real should look more real than the average
    fake, a fake less real than the average real: BCE(l_r - mean l_f, 1) + BCE(l_f - mean l_r, 0)."""
    return F.softplus(-(real_logits - fake_logits.mean())).mean() + F.softplus(fake_logits - real_logits.mean()).mean()


def g_relativistic_average(fake_logits: Tensor, real_logits: Tensor) -> Tensor:
    """The same comparison with the roles swapped: BCE(l_f - mean l_r, 1) + BCE(l_r - mean l_f, 0)."""
    return F.softplus(-(fake_logits - real_logits.mean())).mean() + F.softplus(real_logits - fake_logits.mean()).mean()


LOSSES.register("minimax")(LossPair(d_non_saturating, g_minimax))
LOSSES.register("relativistic_average")(LossPair(d_relativistic_average, g_relativistic_average, g_needs_real=True))
LOSSES.register("non_saturating")(LossPair(d_non_saturating, g_non_saturating))
LOSSES.register("wasserstein")(LossPair(d_wasserstein, g_wasserstein))
LOSSES.register("hinge")(LossPair(d_hinge, g_hinge))
LOSSES.register("least_squares")(LossPair(d_least_squares, g_least_squares))
