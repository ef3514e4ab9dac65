"""Discriminator penalties (compare_gan `penalty_lib`). Pure functions
`(discriminator, real, fake, **batch) -> scalar`; the training step multiplies by `loss.penalty_weight`."""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from gankit.registry import Registry

Penalty = Callable[..., Tensor]
PENALTIES: Registry[Penalty] = Registry("penalty")


def input_gradient_norm(discriminator: nn.Module, x: Tensor, **batch) -> Tensor:
    """Per-sample sqrt(1e-4 + sum (dD/dx)^2), with a graph so the penalty can be differentiated."""
    # torch.func.vjp rather than torch.autograd.grad: the same numbers and double backward in eager mode, and it
    # also works inside torch.func.grad (the compiled training iteration, train.compile).
    logits, vjp = torch.func.vjp(lambda t: discriminator(t, batch.get("c")), x.detach())
    (grad,) = vjp(torch.ones_like(logits))
    return torch.sqrt(1e-4 + grad.flatten(1).square().sum(1))


@PENALTIES.register("wgangp")
def gradient_penalty(discriminator: nn.Module, real: Tensor, fake: Tensor, **batch) -> Tensor:
    """WGAN-GP (Gulrajani et al. 2017, eq. 3): mean((||grad D(x_hat)|| - 1)^2), x_hat = real + a (fake - real),
    a ~ U[0, 1] per sample. The 1e-4 under the root (compare_gan) keeps the gradient finite at 0."""
    alpha = torch.rand(real.shape[0], *[1] * (real.dim() - 1), device=real.device, dtype=real.dtype)
    x_hat = real + alpha * (fake.detach() - real)
    return (input_gradient_norm(discriminator, x_hat, **batch) - 1).square().mean()


@PENALTIES.register("none")
def no_penalty(discriminator: nn.Module, real: Tensor, fake: Tensor, **batch) -> Tensor:
    return real.new_zeros(())
