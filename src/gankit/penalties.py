"""Discriminator penalties (compare_gan `penalty_lib`). Pure functions
`(discriminator, real, fake, **batch) -> scalar`; the training step multiplies by `loss.penalty_weight`."""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from gankit.nn.norms import batch_stats_only
from gankit.registry import Registry

Penalty = Callable[..., Tensor]
PENALTIES: Registry[Penalty] = Registry("penalty")


def input_gradients(discriminator: nn.Module, x: Tensor, **batch) -> Tensor:
    """dD/dx per sample, flattened to (N, -1), with a graph so a penalty on it can be differentiated."""
    # torch.func.vjp rather than torch.autograd.grad: the same numbers and double backward in eager mode, and it
    # also works inside torch.func.grad (the compiled training iteration, train.compile).
    with batch_stats_only(discriminator):
        logits, vjp = torch.func.vjp(lambda t: discriminator(t, batch.get("c")), x.detach())
    (grad,) = vjp(torch.ones_like(logits))
    return grad.flatten(1).float()  # fp32 norms under bf16 autocast (train.precision)


def input_gradient_norm(discriminator: nn.Module, x: Tensor, **batch) -> Tensor:
    """Per-sample sqrt(1e-4 + sum (dD/dx)^2) (compare_gan's slopes)."""
    return torch.sqrt(1e-4 + input_gradients(discriminator, x, **batch).square().sum(1))


@PENALTIES.register("wgangp")
def gradient_penalty(discriminator: nn.Module, real: Tensor, fake: Tensor, **batch) -> Tensor:
    """WGAN-GP (Gulrajani et al. 2017, eq. 3): mean((||grad D(x_hat)|| - 1)^2), x_hat = real + a (fake - real),
    a ~ U[0, 1] per sample. The 1e-4 under the root (compare_gan) keeps the gradient finite at 0."""
    alpha = torch.rand(real.shape[0], *[1] * (real.dim() - 1), device=real.device, dtype=real.dtype)
    x_hat = real + alpha * (fake.detach() - real)
    return (input_gradient_norm(discriminator, x_hat, **batch) - 1).square().mean()


@PENALTIES.register("dragan")
def dragan_penalty(discriminator: nn.Module, real: Tensor, fake: Tensor, data_range=None, **batch) -> Tensor:
    """DRAGAN (Kodali et al. 2017) as compare_gan: x_noisy = x + std(x) (u - 0.5), u ~ U[0, 1) per element and
    std over the whole batch, clipped to the data range (images: [-1, 1]); mean((||grad D(x_noisy)|| - 1)^2)."""
    real = real.detach()
    noisy = real + real.std(unbiased=False) * (torch.rand_like(real) - 0.5)
    if data_range is not None:
        noisy = noisy.clamp(*data_range)
    return (input_gradient_norm(discriminator, noisy, **batch) - 1).square().mean()


def discriminator_kernels(discriminator: nn.Module) -> list[Tensor]:
    """The weight matrices and convolution kernels (the trained tensors under spectral or weight norm)."""
    kernels = []
    for name, p in discriminator.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        if p.dim() >= 2 and (leaf == "weight" or name.endswith(("weight.original", "weight.original1"))):
            kernels.append(p)
    return kernels


@PENALTIES.register("l2")
def l2_penalty(discriminator: nn.Module, real: Tensor, fake: Tensor, **batch) -> Tensor:
    """Weight decay on D as compare_gan: the mean over D's kernels of sum(w^2) / 2 (biases and norms excluded)."""
    kernels = discriminator_kernels(discriminator)
    return torch.stack([k.square().sum() / 2 for k in kernels]).mean()


@PENALTIES.register("r1")
def r1_penalty(discriminator: nn.Module, real: Tensor, fake: Tensor, **batch) -> Tensor:
    """R1 (Mescheder et al. 2018): mean ||grad D(x)||^2 on real data. Their gamma/2 is `loss.penalty_weight`."""
    return input_gradients(discriminator, real, **batch).square().sum(1).mean()


@PENALTIES.register("r2")
def r2_penalty(discriminator: nn.Module, real: Tensor, fake: Tensor, **batch) -> Tensor:
    """R2: the same on generated data."""
    return input_gradients(discriminator, fake, **batch).square().sum(1).mean()


@PENALTIES.register("none")
def no_penalty(discriminator: nn.Module, real: Tensor, fake: Tensor, **batch) -> Tensor:
    return real.new_zeros(())
