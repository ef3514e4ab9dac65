"""MNIST and Fashion-MNIST from IDX files (gzip or raw).

IDX: magic 00 00 TT ND (TT = element type, ND = number of dimensions), ND big-endian uint32 sizes, then the
data in C order. Images have magic 2051 (0x00000803: uint8, 3 dims), labels 2049 (0x00000801).
Without `data.root`, Debian's `dataset-fashion-mnist` folder is used.
"""
from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from gankit.data.base import DATASETS, DataInfo, TensorDataset
from gankit.data.transforms import prepare_images
from gankit.errors import DataError

DEFAULT_ROOT = Path("/usr/share/datasets/fashion-mnist")
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
FASHION_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            return gzip.decompress(raw)
        return raw
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise DataError(f"{path}: truncated or corrupt gzip file ({err})") from None


def read_idx(path: str | Path, expected_magic: int | None = None) -> np.ndarray:
    """Parse one IDX file, checking its magic number and that the data size matches the header."""
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DataError(f"{path}: truncated IDX file ({len(raw)} bytes, no header)")
    magic = struct.unpack(">I", raw[:4])[0]
    if expected_magic is not None and magic != expected_magic:
        raise DataError(f"{path}: wrong magic number {magic} (0x{magic:08x}); expected {expected_magic} (0x{expected_magic:08x})")
    zeros, type_code, ndim = magic >> 16, (magic >> 8) & 0xFF, magic & 0xFF
    if zeros != 0 or type_code not in _DTYPES or ndim == 0:
        raise DataError(f"{path}: not an IDX file (magic 0x{magic:08x})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_DTYPES[type_code])
    expected = int(np.prod(dims)) * dtype.itemsize
    found = len(raw) - header
    if found < expected:
        raise DataError(f"{path}: truncated: header says {dims} ({expected} data bytes), file has {found}")
    if found > expected:
        raise DataError(f"{path}: size mismatch: header says {dims} ({expected} data bytes), file has {found}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)


def find_idx_file(root: Path, prefix: str, kind: str) -> Path:
    """`train-images-idx3-ubyte[.gz]` and the dotted variant `train-images.idx3-ubyte`."""
    ndim = "3" if kind == "images" else "1"
    stems = [f"{prefix}-{kind}-idx{ndim}-ubyte", f"{prefix}-{kind}.idx{ndim}-ubyte"]
    for stem in stems:
        for name in (stem + ".gz", stem):
            if (root / name).is_file():
                return root / name
    raise DataError(f"{root}: missing {stems[0]}[.gz] (MNIST/Fashion-MNIST IDX files expected there)")


@DATASETS.register("mnist")
def load_mnist(cfg, split) -> TensorDataset:
    root = Path(cfg.root) if cfg.root else DEFAULT_ROOT
    if not root.is_dir():
        hint = " (install Debian's dataset-fashion-mnist or set data.root)" if cfg.root is None else \
            " (set data.root to the folder holding train-images-idx3-ubyte[.gz] and the other IDX files)"
        raise DataError(f"{root}: no such folder for MNIST IDX files{hint}")
    prefix = "train" if split == "train" else "t10k"
    images_path, labels_path = find_idx_file(root, prefix, "images"), find_idx_file(root, prefix, "labels")
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if images.ndim != 3 or labels.ndim != 1:
        raise DataError(f"{images_path}: expected (N, H, W) images and (N,) labels, got {images.shape} and {labels.shape}")
    if len(images) != len(labels):
        raise DataError(f"{labels_path}: {len(labels)} labels for {len(images)} images in {images_path.name}")
    x = prepare_images(torch.from_numpy(images.astype(np.uint8))[:, None], cfg.size, cfg.crop, cfg.channels)
    y = torch.from_numpy(labels.astype(np.int64))
    if len(y) and (y.min() < 0 or y.max() > 9):
        raise DataError(f"{labels_path}: labels must be 0-9, found {int(y.min())}..{int(y.max())}")
    names = FASHION_NAMES if "fashion" in str(root).lower() else tuple(str(d) for d in range(10))
    info = DataInfo(kind="image", shape=tuple(x.shape[1:]), num_classes=10, label_names=names, labels="class")
    return TensorDataset(x, info, y)
