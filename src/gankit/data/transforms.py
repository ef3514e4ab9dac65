"""Tensor transforms for image batches (N, C, H, W)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

# ITU-R BT.601 luma, the weights Pillow uses for RGB -> L.
_LUMA = (0.299, 0.587, 0.114)
_RESIZE_ELEMENTS = 1 << 22  # values resized at once (1,365 RGB images of 32 px, 16 MB as float): each image is
# independent, so chunks give identical results, and a float copy never takes 4x a whole dataset's uint8 bytes


def center_crop(images: torch.Tensor, height: int, width: int | None = None) -> torch.Tensor:
    width = width or height
    h, w = images.shape[-2:]
    top, left = max((h - height) // 2, 0), max((w - width) // 2, 0)
    return images[..., top:top + height, left:left + width]


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize to size x size with antialiasing when shrinking; keeps the dtype (uint8 rounds)."""
    if images.shape[-2:] == (size, size):
        return images
    chunk = max(1, _RESIZE_ELEMENTS // max(images[0].numel(), 1)) if len(images) else 1
    if len(images) > chunk:
        return torch.cat([resize(part, size) for part in images.split(chunk)])
    out = F.interpolate(images.float(), size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    if images.dtype == torch.uint8:
        return out.round().clamp(0, 255).to(torch.uint8)
    return out


def convert_channels(images: torch.Tensor, channels: int | None) -> torch.Tensor:
    c = images.shape[1]
    if channels is None or channels == c:
        return images
    if c == 1 and channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    if c == 3 and channels == 1:
        weights = torch.tensor(_LUMA, dtype=torch.float32).view(1, 3, 1, 1)
        gray = (images.float() * weights).sum(1, keepdim=True)
        return gray.round().clamp(0, 255).to(images.dtype) if images.dtype == torch.uint8 else gray
    raise ValueError(f"cannot convert {c} channels to {channels}")


def prepare_images(images: torch.Tensor, size: int, crop: int | None = None, channels: int | None = None) -> torch.Tensor:
    """uint8 (N, C, H, W) -> center crop (`crop`, else the largest square) -> resize -> channels."""
    h, w = images.shape[-2:]
    side = min(crop or min(h, w), h, w)
    images = center_crop(images, side)
    return convert_channels(resize(images, size), channels)


def to_signed_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1]."""
    return images.float().div_(127.5).sub_(1.0)


def augment(images: torch.Tensor, hflip: bool, shift: int) -> torch.Tensor:
    """The training batches' augmentations (`data.hflip`, `data.shift`), in that order."""
    if hflip:
        images = random_hflip(images)
    return random_shift(images, shift) if shift else images


def random_hflip(images: torch.Tensor) -> torch.Tensor:
    """Flip each image left-right with probability 1/2 (global torch RNG, so it resumes exactly)."""
    flip = torch.rand(images.shape[0], device=images.device) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), images.flip(-1), images)


def random_shift(images: torch.Tensor, max_shift: int = 2, replicate: bool = False) -> torch.Tensor:
    """Translate each image by up to `max_shift` pixels each way (padded with black, -1 in [-1, 1], or the edge
    pixels); global torch RNG, so it resumes exactly."""
    n, _, h, w = images.shape
    padded = F.pad(images, [max_shift] * 4, mode="replicate") if replicate else F.pad(images, [max_shift] * 4, value=-1.0)
    device = images.device
    dx, dy = torch.randint(0, 2 * max_shift + 1, (2, n), device=device)
    rows = dy[:, None] + torch.arange(h, device=device)  # (N, H): each image's window, gathered in one indexing pass
    cols = dx[:, None] + torch.arange(w, device=device)  # (N, W)
    index = torch.arange(n, device=device)[:, None, None]
    return padded[index, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()
