"""Image sets for `gankit metrics`: a folder of PNG/JPEG files or an .npz with uint8 `images` (N, H, W, C).

A folder is read as torch-fidelity reads one: its own *.png, *.jpg, *.jpeg files (not sub-folders), in
name order, decoded to RGB. An .npz's `images.npy` header is read and checked (dtype, shape, that the archive
member holds exactly that many bytes, MAX_SET_BYTES) before numpy allocates the array; pickled objects are
never loaded.
"""
from __future__ import annotations

import math
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from gankit.data.image_io import image_size, read_image
from gankit.errors import DataError
from gankit.memory import available_memory

FOLDER_SUFFIXES = (".png", ".jpg", ".jpeg")
# 50,000 images of 256 x 256 x 3 (the usual FID reference set at that size) take 9.8 GB.
MAX_SET_BYTES = 16 * 1024**3
_EXPECTED = "'images' must be uint8 (N, H, W, 1|3)"
_NPZ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError, SyntaxError)


def load_image_set(path: str | Path) -> torch.Tensor:
    """uint8 (N, C, H, W). Folder images are decoded as RGB (as torch-fidelity does) and must share one size."""
    path = Path(path)
    if path.suffix.lower() == ".npz":  # the array, then its (N, C, H, W) copy
        return torch.from_numpy(_read_npz_images(path)).permute(0, 3, 1, 2).contiguous()
    if not path.is_dir():
        raise DataError(f"{path}: expected a folder of images or an .npz file")
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in FOLDER_SUFFIXES and p.is_file())
    if not files:
        raise DataError(f"{path}: no PNG/JPEG images found")
    sizes = [image_size(f) for f in files]  # headers only: refuse odd sizes and huge sets before decoding any
    odd = next((i for i, size in enumerate(sizes) if size != sizes[0]), None)
    if odd is not None:
        raise DataError(f"{files[odd]}: size {sizes[odd]} differs from {sizes[0]} of the other images")
    (height, width), count = sizes[0], len(files)
    if count * width * height * 3 > MAX_SET_BYTES:
        raise DataError(f"{path}: {count:,} images of {height}x{width} pixels would take over the "
                        f"{MAX_SET_BYTES // 1024**3} GiB limit of an image set")
    check_fits_memory(path, count * width * height * 3)
    images = np.empty((count, 3, height, width), np.uint8)  # filled in place: one copy of the set, never a list of it
    for i, file in enumerate(files):
        images[i] = read_image(file, "RGB").transpose(2, 0, 1)
    return torch.from_numpy(images)


def check_fits_memory(path: Path, set_bytes: int) -> None:
    """Reading a set holds about twice its uint8 bytes at the peak (a decoded array and its (N, C, H, W) copy):
    refuse a set that would not fit the memory free now, before the allocation fails or the OOM killer comes."""
    need, free = 2 * set_bytes, available_memory()
    if free is not None and need > free:
        raise DataError(f"{path}: reading it takes about {need / 2**30:.1f} GiB of memory, {free / 2**30:.1f} GiB "
                        "is free")


def _read_npz_images(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n.removesuffix(".npy") for n in archive.namelist()]
            if "images" not in names:
                raise DataError(f"{path}: no 'images' array (found: {', '.join(names[:20]) or 'none'})")
            member = archive.getinfo(archive.namelist()[names.index("images")])
            with archive.open(member) as fh:
                shape, dtype = _checked_header(fh, member.file_size, path)
                images = np.lib.format.read_array(fh, allow_pickle=False)
    except _NPZ_ERRORS as err:
        raise DataError(f"{path}: unreadable .npz ({type(err).__name__}: {str(err)[:200]})") from None
    return images


def _checked_header(fh, member_size: int, path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from the .npy header; refuses what numpy would otherwise allocate before reading a byte.
    Leaves `fh` where `np.lib.format.read_array` expects it, after re-reading the magic."""
    version = np.lib.format.read_magic(fh)
    if version not in ((1, 0), (2, 0)):  # np.save writes 3.0 only for non-Latin-1 field names: never for images
        raise DataError(f"{path}: 'images' is an .npy of version {version}, expected 1.0 or 2.0")
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read_header(fh)
    header_bytes = fh.tell()
    if dtype != np.uint8 or len(shape) != 4 or shape[-1] not in (1, 3):
        raise DataError(f"{path}: {_EXPECTED}, got {dtype} {shape}")
    if 0 in shape:
        raise DataError(f"{path}: 'images' holds no images, or images of zero size: shape {shape}")
    data_bytes = math.prod(shape)
    if data_bytes > MAX_SET_BYTES:
        raise DataError(f"{path}: 'images' of shape {shape} would take {data_bytes:,} bytes, over the "
                        f"{MAX_SET_BYTES // 1024**3} GiB limit of an image set")
    if header_bytes + data_bytes != member_size:
        raise DataError(f"{path}: 'images' header says shape {shape} ({data_bytes:,} bytes) but the archive holds "
                        f"{member_size - header_bytes:,} bytes of data")
    check_fits_memory(path, data_bytes)
    fh.seek(0)
    return shape, dtype


def to_signed(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 127.5 - 1.0
