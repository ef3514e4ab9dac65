"""Writers of tiny datasets in the real on-disk formats, for loader tests."""
from __future__ import annotations

import gzip
import math
import pickle
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image

CELEBA_NAMES = ["5_o_Clock_Shadow", "Black_Hair", "Blond_Hair", "Brown_Hair", "Eyeglasses", "Male", "Smiling", "Young"]


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(">u1" if type_code == 0x08 else array.dtype).tobytes()


def write_mnist(root: Path, n_train: int = 24, n_test: int = 12, compress: bool = True, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            data = idx_bytes(array)
            path = root / f"{prefix}-{kind}-ubyte"
            if compress:
                path.with_name(path.name + ".gz").write_bytes(gzip.compress(data))
            else:
                path.write_bytes(data)
    return root


def cifar_arrays(n: int, seed: int) -> tuple[np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    return data, [int(v) for v in rng.integers(0, 10, size=n)]


def write_cifar_python(root: Path, per_batch: int = 4) -> Path:
    """Python-2-style batches: bytes keys, as CIFAR-10's pickles come back in Python 3."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        data, labels = cifar_arrays(per_batch, i)
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": data,
                 b"filenames": [f"img{j}.png".encode() for j in range(per_batch)]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"airplane"] * 10}, protocol=2))
    return root


def _py2_str(text: bytes) -> bytes:  # a Python 2 str: SHORT_BINSTRING or BINSTRING
    return (b"U" + bytes([len(text)]) if len(text) < 256 else b"T" + struct.pack("<i", len(text))) + text


def _py2_int(n: int) -> bytes:  # BININT1, BININT2 or BININT
    return b"K" + bytes([n]) if n < 256 else b"M" + struct.pack("<H", n) if n < 65536 else b"J" + struct.pack("<i", n)


def cifar_python2_batch(data: np.ndarray, labels: list[int]) -> bytes:
    """A batch laid out as CIFAR-10's own files are (Python 2 cPickle, protocol 2): str keys, and the pixels as one
    BINSTRING in numpy's _reconstruct / BUILD form, which Python 3 reads back with encoding='latin1'."""
    dtype = (b"cnumpy\ndtype\n" + _py2_str(b"u1") + b"K\x00K\x01\x87R"
             + b"(K\x03" + _py2_str(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb")
    array = (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + _py2_str(b"b") + b"\x87R"
             + b"(K\x01" + _py2_int(data.shape[0]) + _py2_int(data.shape[1]) + b"\x86" + dtype + b"\x89"
             + _py2_str(data.tobytes()) + b"tb")
    label_list = b"](" + b"".join(_py2_int(v) for v in labels) + b"e"
    return (b"\x80\x02}(" + _py2_str(b"data") + array + _py2_str(b"labels") + label_list
            + _py2_str(b"batch_label") + _py2_str(b"training batch 1 of 5") + b"u.")


def write_cifar_binary(root: Path, per_batch: int = 4) -> Path:
    folder = root / "cifar-10-batches-bin"
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate([f"data_batch_{k}.bin" for k in range(1, 6)] + ["test_batch.bin"]):
        data, labels = cifar_arrays(per_batch, i)
        records = np.concatenate([np.array(labels, dtype=np.uint8)[:, None], data], axis=1)
        (folder / name).write_bytes(records.tobytes())
    (folder / "batches.meta.txt").write_text("airplane\n" * 10)
    return root


def write_celeba(root: Path, n: int = 12, partition: bool = False, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    images = root / "img_align_celeba"
    images.mkdir(parents=True, exist_ok=True)
    lines = [str(n), " ".join(CELEBA_NAMES)]
    for i in range(n):
        name = f"{i + 1:06d}.jpg"
        pixels = rng.integers(0, 256, size=(218, 178, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(images / name, quality=90)
        values = ["1" if (i >> (k % 4)) & 1 else "-1" for k in range(len(CELEBA_NAMES))]
        lines.append(name + " " + "  ".join(values))  # the real file pads with one or two spaces
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    if partition:
        split = ["0"] * (n - 4) + ["1", "1", "2", "2"]
        (root / "list_eval_partition.txt").write_text("".join(f"{i + 1:06d}.jpg {s}\n" for i, s in enumerate(split)))
    return root


def write_image_folder(root: Path, classes: tuple[str, ...] = ("cats", "dogs"), per_class: int = 6) -> Path:
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, size=(20, 24, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / c / f"{i}.{'png' if i % 2 else 'jpg'}")
    return root


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(array: np.ndarray | None, colour_type: int = 0, size: tuple[int, int] | None = None,
              chunks: tuple[bytes, ...] = ()) -> bytes:
    """A PNG laid out as the spec says, including what Pillow will not write: 16-bit samples (a uint16 array,
    stored big-endian) and headers that claim any `size` (width, height) over no image data. `colour_type`:
    0 grey, 2 RGB, 3 palette (give PLTE/tRNS in `chunks`), 4 grey + alpha, 6 RGBA."""
    if array is None:
        (width, height), depth, scanlines = size, 8, b""
    else:
        height, width = array.shape[:2]
        depth = 8 * array.dtype.itemsize
        big_endian = array.astype(array.dtype.newbyteorder(">"))
        scanlines = b"".join(b"\0" + row.tobytes() for row in big_endian)  # filter type 0 (none) per row
    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + b"".join(chunks)
            + png_chunk(b"IDAT", zlib.compress(scanlines)) + png_chunk(b"IEND", b""))


def npy_bytes(shape: tuple[int, ...], descr: str = "|u1", data: bytes = b"", fortran: bool = False) -> bytes:
    """An .npy (format 1.0) whose header says `shape` and `descr`, whatever `data` follows it."""
    header = repr({"descr": descr, "fortran_order": fortran, "shape": tuple(shape)}).encode("latin1")
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"  # numpy pads the header to a multiple of 64 bytes
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + data


def write_npz_member(path: Path, member: str, payload: bytes, compress: bool = False) -> Path:
    """An .npz (a zip archive) with one member, e.g. 'images.npy' holding `npy_bytes(...)`."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as archive:
        archive.writestr(member, payload)
    return path


def randomize_inception(model, seed: int):
    """He-initialised convs and BatchNorms with plausible statistics (running_var > 0), so that activations
    stay O(1) through the 94 units and every output is finite."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d):
                fan_in = module.weight[0].numel()
                module.weight.normal_(0, math.sqrt(2 / fan_in), generator=g)
            elif isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.8, 1.2, generator=g)
                module.bias.normal_(0, 0.1, generator=g)
                module.running_mean.normal_(0, 0.1, generator=g)
                module.running_var.uniform_(0.5, 1.5, generator=g)
            elif isinstance(module, torch.nn.Linear):
                module.weight.normal_(0, 1 / math.sqrt(module.in_features), generator=g)
                module.bias.normal_(0, 0.1, generator=g)
    return model.eval()
