"""The training sample grids: `samples/step-NNNNNNN.png` from the fixed inputs (the family draws them: a grid of
samples, StarGAN's translation rows, 2-D points over the data), and once `samples/real.png`, training images
drawn the same way, to compare by eye."""
from __future__ import annotations

from pathlib import Path

import torch

from gankit.viz import save_samples

REAL_GRID = "real.png"  # samples/real.png: training images shown as the sample grids are, for comparison


@torch.no_grad()
def save_sample_grid(family, G: torch.nn.Module, fixed: torch.Tensor, data, folder: Path, step: int):
    """Write the grid of `G` (the sampling generator) at `step`; returns the image (H, W, C uint8) for TensorBoard."""
    was_training = G.training
    G.eval()
    samples, nrow = family.sample_grid(G, fixed, data)
    G.train(was_training)
    real = data.get(torch.arange(min(len(data), 2000)))["x"] if samples.dim() == 2 else None
    image = save_samples(samples, folder / f"step-{step:07d}.png", real, f"step {step}", nrow)
    reference = folder / REAL_GRID
    if samples.dim() == 4 and nrow is None and not reference.exists():  # a grid of samples: real ones to compare by eye
        spread = torch.linspace(0, len(data) - 1, len(samples)).round().long()  # over the data: all classes
        save_samples(data.get(spread)["x"].cpu(), reference)
    return image
