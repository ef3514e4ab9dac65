"""MNIST and Fashion-MNIST from IDX files (gzip or raw).

IDX: magic 00 00 TT ND (TT = element type, ND = number of dimensions), ND big-endian uint32 sizes, then the
data in C order. Images have magic 2051 (0x00000803: uint8, 3 dims), labels 2049 (0x00000801).
Without `data.root`, Debian's `dataset-fashion-mnist` folder is used.
"""
from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from gankit.data.base import DATASETS, DataInfo, TensorDataset
from gankit.data.image_io import MAX_PIXELS
from gankit.data.transforms import prepare_images
from gankit.errors import DataError

DEFAULT_ROOT = Path("/usr/share/datasets/fashion-mnist")
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
# EMNIST's largest file holds 0.6 GB; a header that claims more is refused before any data is read.
MAX_IDX_BYTES = 4 * 1024**3
MAX_IDX_DIMS = 32  # numpy's limit is 64; real IDX files have 1 to 4
FASHION_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def read_idx(path: str | Path, expected_magic: int | None = None) -> np.ndarray:
    """Parse one IDX file (gzip or raw), checking its magic number and that the data size matches the header.
    Only as many bytes as the header promises, plus one to notice extra data, are ever read or decompressed, so a
    gzip bomb or a header that claims terabytes costs nothing."""
    path = Path(path)
    if not path.is_file():  # a FIFO or device would block or never end
        raise DataError(f"{path}: missing or not a regular file (expected an IDX file)")
    try:
        with _open_idx(path) as fh:
            return _parse_idx(fh, path, expected_magic)
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise DataError(f"{path}: truncated or corrupt gzip file ({err})") from None


def _open_idx(path: Path) -> BinaryIO:
    with open(path, "rb") as fh:
        compressed = fh.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if compressed else open(path, "rb")


def _parse_idx(fh: BinaryIO, path: Path, expected_magic: int | None) -> np.ndarray:
    head = fh.read(4)
    if len(head) < 4:
        raise DataError(f"{path}: truncated IDX file ({len(head)} bytes, no header)")
    magic = struct.unpack(">I", head)[0]
    if expected_magic is not None and magic != expected_magic:
        raise DataError(f"{path}: wrong magic number {magic} (0x{magic:08x}); expected {expected_magic} (0x{expected_magic:08x})")
    zeros, type_code, ndim = magic >> 16, (magic >> 8) & 0xFF, magic & 0xFF
    if zeros != 0 or type_code not in _DTYPES or not 0 < ndim <= MAX_IDX_DIMS:
        raise DataError(f"{path}: not an IDX file (magic 0x{magic:08x})")
    sizes = fh.read(4 * ndim)
    if len(sizes) < 4 * ndim:
        raise DataError(f"{path}: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", sizes)
    dtype = np.dtype(_DTYPES[type_code])
    expected = math.prod(dims) * dtype.itemsize  # Python ints: a product of 32-bit sizes cannot wrap around
    # Zero sizes aside too: numpy refuses an empty array of shape (0, 2^31, 2^31) as "too big".
    if math.prod(max(d, 1) for d in dims) * dtype.itemsize > MAX_IDX_BYTES:
        raise DataError(f"{path}: header says {dims}: sizes over the {MAX_IDX_BYTES // 1024**3} GiB an IDX file may hold; "
                        "refused unread")
    if len(dims) >= 3 and math.prod(dims[1:]) > MAX_PIXELS:  # resizing one would take 4 bytes a pixel more
        raise DataError(f"{path}: header says images of {' x '.join(map(str, dims[1:]))} values, over the "
                        f"{MAX_PIXELS:,} an image may have (MNIST's are 28 x 28); refused unread")
    data = _read_up_to(fh, expected + 1)
    if len(data) < expected:
        raise DataError(f"{path}: truncated: header says {dims} ({expected} data bytes), file has {len(data)}")
    if len(data) > expected:
        raise DataError(f"{path}: size mismatch: header says {dims} ({expected} data bytes), file has more")
    return np.frombuffer(data, dtype=dtype).reshape(dims)


def _read_up_to(fh: BinaryIO, size: int, chunk: int = 1 << 24) -> bytearray:
    """At most `size` bytes, read in chunks: one read(size) would allocate `size` bytes up front."""
    data = bytearray()
    while len(data) < size and (part := fh.read(min(chunk, size - len(data)))):
        data += part
    return data


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
    if 0 in images.shape:
        raise DataError(f"{images_path}: header says {images.shape}: no images, or images of zero size")
    if len(images) != len(labels):
        raise DataError(f"{labels_path}: {len(labels)} labels for {len(images)} images in {images_path.name}")
    x = prepare_images(torch.from_numpy(images.astype(np.uint8))[:, None], cfg.size, cfg.crop, cfg.channels)
    y = torch.from_numpy(labels.astype(np.int64))
    if len(y) and (y.min() < 0 or y.max() > 9):
        raise DataError(f"{labels_path}: labels must be 0-9, found {int(y.min())}..{int(y.max())}")
    names = FASHION_NAMES if "fashion" in str(root).lower() else tuple(str(d) for d in range(10))
    default = " (data.root not set: Debian's Fashion-MNIST)" if cfg.root is None else ""
    info = DataInfo(kind="image", shape=tuple(x.shape[1:]), num_classes=10, label_names=names, labels="class",
                    source=f"{images_path} and {labels_path.name}{default}")
    return TensorDataset(x, info, y)
