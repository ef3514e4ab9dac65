"""Latent noise: z ~ N(0, I), U[-1, 1] or U[0, 1) (the Improved-GAN paper code's), by `model.z_dist`."""
from __future__ import annotations

import torch
from torch import Tensor


def sample_latent(n: int, z_dim: int, dist: str, device, generator: torch.Generator | None = None) -> Tensor:
    """(n, z_dim) latents drawn on the generator's device (CPU generators draw on CPU, then move)."""
    where = generator.device if generator is not None else device
    if dist == "normal":
        z = torch.randn(n, z_dim, device=where, generator=generator)
    else:
        z = torch.rand(n, z_dim, device=where, generator=generator)
        if dist == "uniform":
            z = z.mul_(2).sub_(1)
    return z.to(device)
