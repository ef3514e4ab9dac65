"""Image files and grids with Pillow and numpy (no torchvision).

`read_image` decodes any Pillow mode to 8-bit 'L' or 'RGB' on the full scale:
- 16-bit grey ('I;16', 'I;16B', ... and 16-bit PNGs) maps 0..65535 to 0..255 by rounding (32896 -> 128);
  Pillow's own conversion would clip everything above 255 to white;
- 'I' (32-bit integers, e.g. from TIFF) is read as 16-bit when its values lie in 0..65535, else refused:
  there is no scale to map it by;
- 'F' (floating point) is refused for the same reason;
- alpha ('LA', 'RGBA', 'PA', palettes with transparency) is dropped: pixels keep their stored colour, as in
  torch-fidelity and torchvision; 'P', 'CMYK', '1' convert as Pillow converts them.
Files whose header claims more than MAX_PIXELS pixels or a zero width/height are refused before decoding.
"""
from __future__ import annotations

import contextlib
import math
import re
import struct
import threading
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from gankit.errors import DataError
from gankit.files import atomic_write

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
# 8192 x 8192: a 200 MB RGB array. Real datasets stay far below (CelebA 178 x 218, FFHQ 1024 x 1024); a header
# that claims more is a decompression bomb or a mistake, refused before anything is decoded.
MAX_PIXELS = 1 << 26
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")
# What Pillow's decoders raise on damaged files (fuzzed files also reach struct, index and key errors in plugins).
_DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, KeyError,
                  TypeError, ZeroDivisionError)
_BOMB = "(a decompression bomb?); refused before decoding"
# Warning filters are process-wide: opens that turn Pillow's bomb warning into an error take turns (opening only
# reads the header, so this costs nothing; decoding runs outside the lock, in parallel).
_OPEN_LOCK = threading.Lock()


def read_image(path: str | Path, mode: str = "RGB") -> np.ndarray:
    """Decode an image file to uint8 (H, W, C); `mode` is a Pillow mode ('RGB' or 'L'). See the module docstring for
    how other modes and bit depths are scaled."""
    path = Path(path)
    with _refusals(path), _open(path) as img:
        _check_size(img, path)
        array = np.array(_to_8bit(img, path).convert(mode), dtype=np.uint8)  # a writable copy
    return array[:, :, None] if array.ndim == 2 else array


def image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) from the file's header, without decoding it; refused as `read_image` would refuse it."""
    path = Path(path)
    with _refusals(path), _open(path) as img:
        _check_size(img, path)
        return img.size[1], img.size[0]


@contextlib.contextmanager
def _refusals(path: Path):
    """Whatever Pillow raises on a bad file, as one DataError naming it."""
    if path.exists() and not path.is_file():  # a FIFO or device would block or never end
        raise DataError(f"{path}: not a regular image file")
    try:
        yield
    except FileNotFoundError:
        raise DataError(f"{path}: image file not found") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise _bomb(path, err) from None
    except MemoryError:
        raise DataError(f"{path}: unreadable image (decoding it needs more memory than there is)") from None
    except _DECODE_ERRORS as err:
        raise DataError(f"{path}: unreadable image ({_reason(err, path)})") from None


def _bomb(path: Path, err: Exception) -> DataError:  # Pillow's own limit, above ours
    claimed = re.search(r"\((\d+) pixels\)", str(err))
    size = f"of {int(claimed[1]):,} pixels" if claimed else "size"
    return DataError(f"{path}: image {size} exceeds the limit of {MAX_PIXELS:,} pixels {_BOMB}")


def _open(path: Path) -> Image.Image:
    with _OPEN_LOCK, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)  # a refusal below, never a stderr line
        return Image.open(path)


def _check_size(img: Image.Image, path: Path) -> None:
    width, height = img.size
    if width <= 0 or height <= 0:
        raise DataError(f"{path}: image has zero size ({width}x{height} pixels)")
    if width * height > MAX_PIXELS:
        raise DataError(f"{path}: image of {width}x{height} pixels exceeds the limit of {MAX_PIXELS:,} pixels {_BOMB}")


def _to_8bit(img: Image.Image, path: Path) -> Image.Image:
    """An image in a mode that Pillow converts to 'L'/'RGB' without losing the scale."""
    if img.mode in _SIXTEEN_BIT or img.mode == "I":
        values = np.asarray(img).astype(np.int64)  # (H, W); I;16B arrives big-endian, astype makes it native
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise DataError(f"{path}: 32-bit integer image (mode I) with values {values.min()}..{values.max()} outside "
                            "0..65535 has no 8-bit scale; save it as an 8- or 16-bit image")
        return Image.fromarray(((values * 255 + 32767) // 65535).astype(np.uint8), "L")  # round(v * 255 / 65535)
    if img.mode == "F":
        raise DataError(f"{path}: floating-point image (mode F) has no 8-bit scale; save it as an 8- or 16-bit image")
    if img.mode == "P" and "transparency" in img.info:
        return img.convert("RGBA")  # Pillow warns when converting such palettes straight to RGB
    if img.mode == "CMYK":
        return img.convert("RGB")
    return img


def _reason(err: BaseException, path: Path) -> str:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    if isinstance(err, UnidentifiedImageError) and (size := _png_header_size(path)) and 0 in size:
        return f"its PNG header claims {size[0]}x{size[1]} pixels: zero size"
    return text


def _png_header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR, which Pillow does not report when it refuses the file."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(24)
    except OSError:
        return None
    if len(head) < 24 or not head.startswith(b"\x89PNG\r\n\x1a\n") or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


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


def save_png(array: np.ndarray, path: str | Path, durable: bool = True) -> None:
    """Write uint8 (H, W, C) with C in {1, 3} as PNG, creating parent folders; through a temporary file and a rename
    (fsynced unless not `durable`), so no half-written PNG ever stands under its name."""
    if array.shape[-1] == 1:
        array = array[:, :, 0]
    image = Image.fromarray(np.ascontiguousarray(array))
    atomic_write(Path(path), lambda tmp: image.save(tmp, format="PNG"), fsync=durable)


def save_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None) -> None:
    save_png(make_grid(images, nrow), path)
