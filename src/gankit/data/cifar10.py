"""CIFAR-10 in both distributions: python pickles (`cifar-10-batches-py/`) and binary (`cifar-10-batches-bin/`).

Pickles are read with an unpickler that only builds plain containers and numpy arrays: a pickle that
asks for anything else (a function to call) is refused before it runs.
"""
from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import torch

from gankit.data.base import DATASETS, DataInfo, TensorDataset
from gankit.data.transforms import prepare_images
from gankit.errors import DataError

CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
RECORD = 1 + 3 * 32 * 32
_SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor"), ("__builtin__", "object"), ("builtins", "object"),
}


class RefusedPickle(pickle.UnpicklingError):
    pass


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _SAFE_GLOBALS:
            raise RefusedPickle(f"refusing to load '{module}.{name}' (only arrays and plain containers)")
        return super().find_class(module, name)


def safe_unpickle(path: Path) -> object:
    try:
        with open(path, "rb") as fh:
            return _SafeUnpickler(io.BytesIO(fh.read()), encoding="latin1").load()
    except FileNotFoundError:
        raise DataError(f"{path}: missing CIFAR-10 batch file") from None
    except RefusedPickle as err:
        raise DataError(f"{path}: {err}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError, UnicodeDecodeError,
            OverflowError) as err:
        raise DataError(f"{path}: truncated or corrupt pickle ({type(err).__name__}: {err})") from None
    except MemoryError:  # a damaged length field (e.g. BINBYTES8's 8-byte size) asks for an impossible allocation
        raise DataError(f"{path}: corrupt pickle (a length field asks for more memory than there is)") from None


def _key(d: dict, name: str, path: Path):
    for k in (name, name.encode()):
        if k in d:
            return d[k]
    raise DataError(f"{path}: no '{name}' entry (keys: {sorted(str(k) for k in d)})")


def _read_python_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    batch = safe_unpickle(path)
    if not isinstance(batch, dict):
        raise DataError(f"{path}: expected a pickled dict, got {type(batch).__name__}")
    data, labels = np.asarray(_key(batch, "data", path)), np.asarray(_key(batch, "labels", path))
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"{path}: 'data' must be uint8 (N, 3072), got {data.dtype} {data.shape}")
    if labels.shape != (len(data),):
        raise DataError(f"{path}: {labels.size} labels for {len(data)} images")
    return data, labels


def _read_binary_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise DataError(f"{path}: missing CIFAR-10 batch file")
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % RECORD:
        raise DataError(f"{path}: size {raw.size} bytes is not a whole number of {RECORD}-byte records (truncated?)")
    records = raw.reshape(-1, RECORD)
    return records[:, 1:], records[:, 0]


def find_layout(root: Path) -> tuple[str, Path]:
    for sub, kind in (("cifar-10-batches-py", "python"), ("cifar-10-batches-bin", "binary")):
        for folder in (root / sub, root):
            marker = "data_batch_1" if kind == "python" else "data_batch_1.bin"
            if (folder / marker).is_file() or (folder / ("test_batch" if kind == "python" else "test_batch.bin")).is_file():
                return kind, folder
    raise DataError(f"{root}: no CIFAR-10 files (expected cifar-10-batches-py/ or cifar-10-batches-bin/ "
                    "with data_batch_1..5 and test_batch)")


@DATASETS.register("cifar10")
def load_cifar10(cfg, split) -> TensorDataset:
    if not cfg.root:
        raise DataError("data.root: CIFAR-10 needs the folder holding cifar-10-batches-py/ or cifar-10-batches-bin/")
    kind, folder = find_layout(Path(cfg.root))
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    reader = _read_python_batch if kind == "python" else _read_binary_batch
    parts = [reader(folder / (n if kind == "python" else n + ".bin")) for n in names]
    data = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts]).astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{folder}: labels must be 0-9, found {labels.min()}..{labels.max()}")
    x = torch.from_numpy(data.reshape(-1, 3, 32, 32).copy())  # channel-planar R, G, B
    x = prepare_images(x, cfg.size, cfg.crop, cfg.channels)
    info = DataInfo(kind="image", shape=tuple(x.shape[1:]), num_classes=10, label_names=CLASS_NAMES, labels="class")
    return TensorDataset(x, info, torch.from_numpy(labels))
