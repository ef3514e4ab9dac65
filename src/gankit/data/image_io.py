"""Image files and grids with Pillow and numpy (no torchvision)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from gankit.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def read_image(path: str | Path, mode: str = "RGB") -> np.ndarray:
    """Decode an image file to uint8 (H, W, C); `mode` is a Pillow mode ('RGB' or 'L')."""
    try:
        with Image.open(path) as img:
            img = img.convert(mode)
            array = np.array(img, dtype=np.uint8)  # a writable copy
    except FileNotFoundError:
        raise DataError(f"{path}: image file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise DataError(f"{path}: unreadable image ({str(err).splitlines()[0] if str(err) else type(err).__name__})") from None
    return array[:, :, None] if array.ndim == 2 else array


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float (N, C, H, W) -> uint8 (N, C, H, W), rounding to nearest."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def make_grid(images: torch.Tensor, nrow: int | None = None, padding: int = 2, pad_value: int = 255) -> np.ndarray:
    """uint8 or [-1, 1] float (N, C, H, W) -> one uint8 (H', W', C) array, `nrow` images per row."""
    if images.dtype != torch.uint8:
        images = to_uint8(images)
    images = images.cpu()
    n, c, h, w = images.shape
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / nrow)
    grid = torch.full((c, rows * (h + padding) + padding, nrow * (w + padding) + padding), pad_value, dtype=torch.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, top:top + h, left:left + w] = images[i]
    return grid.permute(1, 2, 0).numpy()


def save_png(array: np.ndarray, path: str | Path) -> None:
    """Write uint8 (H, W, C) with C in {1, 3} as PNG, creating parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if array.shape[-1] == 1:
        array = array[:, :, 0]
    Image.fromarray(np.ascontiguousarray(array)).save(path)


def save_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None) -> None:
    save_png(make_grid(images, nrow), path)
