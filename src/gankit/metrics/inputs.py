"""Image sets for `gankit metrics`: a folder of PNG/JPEG files or an .npz with uint8 `images` (N, H, W, C).

A folder is read as torch-fidelity reads one: its own *.png, *.jpg, *.jpeg files (not sub-folders), in
name order, decoded to RGB."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gankit.data.image_io import read_image
from gankit.errors import DataError

FOLDER_SUFFIXES = (".png", ".jpg", ".jpeg")


def load_image_set(path: str | Path) -> torch.Tensor:
    """uint8 (N, C, H, W). Folder images are decoded as RGB (as torch-fidelity does) and must share one size."""
    path = Path(path)
    if path.suffix.lower() == ".npz":
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        try:
            with np.load(path) as data:
                if "images" not in data.files:
                    raise DataError(f"{path}: no 'images' array (found: {', '.join(data.files) or 'none'})")
                images = data["images"]
        except (OSError, ValueError) as err:
            raise DataError(f"{path}: unreadable .npz ({err})") from None
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
            raise DataError(f"{path}: 'images' must be uint8 (N, H, W, 1|3), got {images.dtype} {images.shape}")
        return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    if not path.is_dir():
        raise DataError(f"{path}: expected a folder of images or an .npz file")
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in FOLDER_SUFFIXES and p.is_file())
    if not files:
        raise DataError(f"{path}: no PNG/JPEG images found")
    arrays = [read_image(f, "RGB") for f in files]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        odd = next(f for f, a in zip(files, arrays) if a.shape != arrays[0].shape)
        size = next(a.shape[:2] for a in arrays if a.shape != arrays[0].shape)
        raise DataError(f"{odd}: size {size} differs from {arrays[0].shape[:2]} of the other images")
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def to_signed(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 127.5 - 1.0
