"""Pictures of samples: image grids, or scatter plots for 2-D points."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gankit.data.image_io import make_grid, save_png


def _new_axes():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(4, 4), dpi=100)


def _figure_image(fig) -> np.ndarray:
    """Render a matplotlib figure to uint8 (H, W, 3) and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[:, :, :3].copy()
    plt.close(fig)
    return image


def scatter_image(points: np.ndarray, real: np.ndarray | None = None, title: str = "") -> np.ndarray:
    """2-D samples (orange) over real data (grey) -> uint8 (H, W, 3)."""
    fig, ax = _new_axes()
    if real is not None:
        ax.scatter(real[:, 0], real[:, 1], s=2, c="0.6", alpha=0.5, label="real", linewidths=0)
    ax.scatter(points[:, 0], points[:, 1], s=2, c="tab:orange", alpha=0.7, label="generated", linewidths=0)
    both = points if real is None else np.concatenate([points, real])
    lo, hi = np.percentile(both, 0.5, axis=0), np.percentile(both, 99.5, axis=0)
    pad = 0.1 * (hi - lo).max() + 1e-6
    ax.set_xlim(lo[0] - pad, hi[0] + pad)
    ax.set_ylim(lo[1] - pad, hi[1] + pad)
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=7, markerscale=4)
    if title:
        ax.set_title(title, fontsize=9)
    return _figure_image(fig)


def weighted_scatter_image(real: np.ndarray, weights: np.ndarray, samples: np.ndarray, title: str) -> np.ndarray:
    """Real points sized and coloured by their data weight, model samples on top (AdaGAN's step plot)."""
    fig, ax = _new_axes()
    scaled = weights / weights.max() if weights.max() > 0 else weights
    ax.scatter(real[:, 0], real[:, 1], s=2 + 30 * scaled, c=scaled, cmap="Blues", vmin=-0.3, vmax=1, alpha=0.6,
               linewidths=0, label="real (size = data weight)")
    ax.scatter(samples[:, 0], samples[:, 1], s=3, c="tab:orange", alpha=0.7, linewidths=0, label="mixture")
    ax.set_title(title, fontsize=8)
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=6, markerscale=2)
    return _figure_image(fig)


def samples_image(samples: torch.Tensor, real: torch.Tensor | None = None, title: str = "", nrow: int | None = None) -> np.ndarray:
    """Images (N, C, H, W) in [-1, 1] -> a grid (small images enlarged by pixel repetition to >= 64 px,
    so a 16 px sample is visible); points (N, 2) -> a scatter plot."""
    if samples.dim() == 4:
        factor = max(1, -(-64 // samples.shape[-1]))
        grid = make_grid(samples, nrow)
        return grid.repeat(factor, axis=0).repeat(factor, axis=1) if factor > 1 else grid
    return scatter_image(samples.detach().cpu().numpy(), None if real is None else real.cpu().numpy(), title)


def save_samples(samples: torch.Tensor, path: str | Path, real: torch.Tensor | None = None, title: str = "",
                 nrow: int | None = None) -> np.ndarray:
    image = samples_image(samples, real, title, nrow)
    save_png(image, path)
    return image
