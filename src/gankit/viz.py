"""Pictures of samples: image grids (small images enlarged, columns optionally named), or scatter plots for 2-D points."""
from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from gankit.data.image_io import make_grid, save_png

SHOWN_SIZE = 64  # px: smaller images are enlarged by a whole factor to at least this, so a 16 px sample is visible
PADDING = 2  # px between the images of a grid, before enlargement
HEADER_MARGIN = 3  # px above and below a header's text
HEADER_LINES = 3  # at most, per column label


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


def enlargement(size: int) -> int:
    """The whole factor by which a grid of `size` px images is enlarged: the smallest reaching SHOWN_SIZE, at least 1."""
    return max(1, -(-SHOWN_SIZE // size))


def enlarge(grid: np.ndarray, size: int) -> np.ndarray:
    """A uint8 (H, W, C) grid of `size` px images, enlarged by `enlargement(size)` with nearest-neighbour repetition
    (every pixel a crisp square, no blur)."""
    factor = enlargement(size)
    return grid.repeat(factor, axis=0).repeat(factor, axis=1) if factor > 1 else grid


def _font():
    return ImageFont.load_default()  # shipped inside Pillow: never a download


def _text_width(font, text: str) -> int:
    return font.getbbox(text)[2] if text else 0


def _wrap(text: str, font, width: int) -> list[str]:
    """`text` in lines no wider than `width` px, broken after commas and at spaces; a word wider than a line, and
    the last of HEADER_LINES lines when more would follow, are cut short with '..'."""
    lines: list[str] = []
    for word in re.findall(r"[^ ,]+,?", text) or [""]:
        if lines and _text_width(font, joined := f"{lines[-1]} {word}") <= width:
            lines[-1] = joined
        else:
            lines.append(word)
    if len(lines) > HEADER_LINES:
        lines = lines[:HEADER_LINES - 1] + [lines[HEADER_LINES - 1] + ".."]
    for i, line in enumerate(lines):
        while _text_width(font, line) > width and len(line) > 3:
            line = line[:-3].rstrip(".") + ".."
        lines[i] = line
    return lines


def column_header(labels: Sequence[str], size: int, channels: int) -> np.ndarray:
    """uint8 (h, W, channels), black text on white: each label centred over its column of an enlarged grid of `size`
    px images with len(labels) columns (W = the grid's width), in Pillow's default font, wrapped to the column."""
    font, factor = _font(), enlargement(size)
    cell = (size + PADDING) * factor  # one column and the padding after it
    width = len(labels) * cell + PADDING * factor
    wrapped = [_wrap(label, font, cell - 2) for label in labels]
    line_height = font.getbbox("Ahgjy_|")[3] + 2
    header = Image.new("L", (width, max(map(len, wrapped)) * line_height + 2 * HEADER_MARGIN), 255)
    draw = ImageDraw.Draw(header)
    for column, lines in enumerate(wrapped):
        centre = (PADDING + column * (size + PADDING)) * factor + size * factor / 2
        for row, line in enumerate(lines):
            draw.text((round(centre - _text_width(font, line) / 2), HEADER_MARGIN + row * line_height), line, fill=0, font=font)
    array = np.asarray(header)[:, :, None]  # (h, W, 1)
    return array.repeat(channels, axis=2) if channels > 1 else array


def samples_image(samples: torch.Tensor, real: torch.Tensor | None = None, title: str = "", nrow: int | None = None,
                  columns: Sequence[str] | None = None) -> np.ndarray:
    """Images (N, C, H, W) in [-1, 1] -> a grid, `nrow` per row, enlarged (`enlarge`), with a header row naming each
    column when `columns` (len == nrow) is given; points (N, 2) -> a scatter plot."""
    if samples.dim() == 4:
        size = samples.shape[-1]
        grid = enlarge(make_grid(samples, nrow, padding=PADDING), size)
        if columns is None:
            return grid
        if len(columns) != nrow:
            raise ValueError(f"{len(columns)} column labels for a grid of {nrow} columns")
        return np.concatenate([column_header(columns, size, grid.shape[2]), grid])
    return scatter_image(samples.detach().cpu().numpy(), None if real is None else real.cpu().numpy(), title)


def save_samples(samples: torch.Tensor, path: str | Path, real: torch.Tensor | None = None, title: str = "",
                 nrow: int | None = None, columns: Sequence[str] | None = None) -> np.ndarray:
    image = samples_image(samples, real, title, nrow, columns)
    save_png(image, path)
    return image
