"""CIFAR-10 in both distributions: python pickles (`cifar-10-batches-py/`) and binary (`cifar-10-batches-bin/`).

Pickles are never handed to numpy or to arbitrary code. Before unpickling, the opcode stream is scanned
(`pickletools.genops`, which builds nothing): a file over MAX_BATCH_BYTES, over MAX_PICKLE_OPS operations or
with tuples nested deeper than MAX_TUPLE_DEPTH (hashing one as a dict key recurses in C and crashes the
interpreter) or over MAX_HASHED_ITEMS dict/set entries (keys crafted to share one hash make building the dict
quadratic: minutes for a 3 MB file) is refused. The unpickler then builds only plain containers: the few globals a numpy array's
pickle names are replaced by stand-ins that check their arguments and rebuild the array with
`np.frombuffer` from bytes that are in the file. numpy's own `dtype.__setstate__` / `ndarray.__setstate__`
are never called on pickled state: they accept forged flags and sizes that crash the process.
"""
from __future__ import annotations

import codecs
import io
import math
import os
import pickle
import pickletools
import re
from pathlib import Path

import numpy as np
import torch

from gankit.data.base import DATASETS, DataInfo, TensorDataset
from gankit.data.transforms import prepare_images
from gankit.errors import DataError

CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
RECORD = 1 + 3 * 32 * 32
# A batch of 10,000 images is 30.7 MB in either layout (46 MB when Python 3 re-pickles it with protocol 2).
MAX_BATCH_BYTES = 128 * 1024**2
MAX_PICKLE_OPS = 500_000  # a batch takes 30,000 (protocol 3+) to 90,000 (protocol 2) operations
MAX_TUPLE_DEPTH = 100  # a batch nests tuples 2 deep; CPython's C stack overflows hashing ~10^5
MAX_HASHED_ITEMS = 10_000  # dict/set entries: a batch's dict holds 4; crafted keys with one hash cost n^2 to insert
_TUPLE_OPS = {"EMPTY_TUPLE", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3"}
_KEEPS_TARGET = {"APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS", "BUILD", "DUP", "MEMOIZE", "READONLY_BUFFER"}
_PUTS = {"PUT", "BINPUT", "LONG_BINPUT"}
# dict/set entries each op adds, from what it pops (the container first, then the items)
_HASHED = {"SETITEM": lambda popped: 1, "SETITEMS": lambda popped: (len(popped) - 1) // 2,
           "ADDITEMS": lambda popped: len(popped) - 1, "FROZENSET": len}
_GETS = {"GET", "BINGET", "LONG_BINGET"}


class RefusedPickle(pickle.UnpicklingError):
    pass


class _DtypeStandIn:
    """What `numpy.dtype(spec, align, copy)` in a pickle becomes: a plain bool/int/float type and its byte order."""

    def __init__(self, spec, align=False, copy=True):
        spec = spec.decode("latin1") if isinstance(spec, bytes) else spec
        if not isinstance(spec, str) or not re.fullmatch(r"[biuf][1248]", spec):
            raise RefusedPickle(f"refusing numpy dtype {str(spec)[:20]!r} (only plain bool, int and float types)")
        self.dtype = np.dtype(spec)

    def __setstate__(self, state):
        # numpy pickles a plain type's state as (3, byte order, None, None, None, -1, -1, 0); anything else sets
        # fields, sub-arrays or flags (numpy believes forged 'holds objects' flags, and crashes on them).
        plain = isinstance(state, tuple) and len(state) == 8 and state[0] == 3 and state[2:5] == (None, None, None)
        if not (plain and state[1] in ("<", ">", "|", "=") and state[5:] in ((-1, -1, 0), (self.dtype.itemsize, 1, 0))):
            raise RefusedPickle("refusing a numpy dtype state that is not a plain number type")
        if state[1] in ("<", ">"):
            self.dtype = self.dtype.newbyteorder(state[1])


class _ArrayStandIn:
    """What numpy's `_reconstruct(ndarray, (0,), b'b')` becomes; BUILD then gives shape, dtype and the bytes."""

    array: np.ndarray | None = None

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) not in (4, 5):  # (version,) shape, dtype, Fortran order, data
            raise RefusedPickle("refusing a numpy array state of an unknown layout")
        shape, dtype, fortran, data = state[-4:]
        if type(fortran) not in (bool, int):
            raise RefusedPickle("refusing a numpy array state whose Fortran flag is not a bool")
        self.array = _from_bytes(data, dtype, shape, "F" if fortran else "C")


def _from_bytes(data, dtype, shape, order: str) -> np.ndarray:
    """The array over bytes that are in the pickle: nothing is allocated beyond what the file holds."""
    if isinstance(data, str):
        data = data.encode("latin1")  # a Python 2 str, decoded with encoding="latin1"
    if not isinstance(data, (bytes, bytearray)) or not isinstance(dtype, _DtypeStandIn):
        raise RefusedPickle("refusing a numpy array without plain bytes and a plain dtype")
    if not (isinstance(shape, tuple) and len(shape) <= 32 and all(type(n) is int and n >= 0 for n in shape)):
        raise RefusedPickle("refusing a numpy array whose shape is not a tuple of sizes")
    if math.prod(shape) * dtype.dtype.itemsize != len(data):
        raise RefusedPickle(f"numpy array of shape {shape[:4]} does not match its {len(data)} data bytes")
    return np.frombuffer(data, dtype.dtype).reshape(shape, order=order)


_NDARRAY = object()  # numpy.ndarray: only ever an argument of _reconstruct; called, it would allocate any size


def _reconstruct(subtype, shape, dtype) -> _ArrayStandIn:
    if subtype is not _NDARRAY or shape != (0,):  # numpy always writes _reconstruct(ndarray, (0,), b'b')
        raise RefusedPickle("refusing numpy _reconstruct arguments that numpy never writes")
    return _ArrayStandIn()


def _frombuffer(buffer, dtype, shape, order) -> _ArrayStandIn:  # numpy's protocol-5 form
    if order not in ("C", "F"):
        raise RefusedPickle("refusing a numpy buffer order that is not C or F")
    stand_in = _ArrayStandIn()
    stand_in.array = _from_bytes(buffer, dtype, shape, order)
    return stand_in


def _latin1(text, encoding="latin1", errors="strict") -> bytes:  # how protocol 2 writes bytes: _codecs.encode
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise RefusedPickle(f"refusing _codecs.encode with encoding {str(encoding)[:20]!r}")
    return codecs.encode(text, "latin1")


def _empty_bytes(*args) -> bytes:  # how protocols 0-2 write b"": bytes(); bytes(n) would allocate n bytes
    if args:
        raise RefusedPickle("refusing bytes() with arguments")
    return b""


_STAND_INS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct, ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer, ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): _NDARRAY, ("numpy", "dtype"): _DtypeStandIn, ("_codecs", "encode"): _latin1,
    ("__builtin__", "bytes"): _empty_bytes, ("builtins", "bytes"): _empty_bytes,
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _STAND_INS:
            raise RefusedPickle(f"refusing to load '{module}.{name}' (only arrays and plain containers)")
        return _STAND_INS[(module, name)]


def _scan(raw: bytes, path: Path) -> None:
    """Walk the opcodes without building anything: refuse too many of them, and tuples nested deep enough to crash
    the interpreter when hashed. Each stack slot and memo entry carries the tuple depth of what it holds (tuples
    are immutable, so the depth of one never changes after it is built)."""
    stack: list[int] = []
    marks: list[int] = []
    memo: dict[object, int] = {}
    hashed = 0
    for count, (op, arg, _) in enumerate(pickletools.genops(raw), 1):
        if count > MAX_PICKLE_OPS:
            raise DataError(f"{path}: refusing a pickle of more than {MAX_PICKLE_OPS:,} operations "
                            "(a CIFAR-10 batch takes under 100,000)")
        popped = _pop(op, stack, marks)
        if op.name in _HASHED and (hashed := hashed + _HASHED[op.name](popped)) > MAX_HASHED_ITEMS:
            raise DataError(f"{path}: refusing a pickle with more than {MAX_HASHED_ITEMS:,} dict or set entries "
                            "(a CIFAR-10 batch's dict holds 4)")
        if op.name in _TUPLE_OPS:
            depth = 1 + max(popped, default=0)
            if depth > MAX_TUPLE_DEPTH:
                raise DataError(f"{path}: refusing a pickle with tuples nested over {MAX_TUPLE_DEPTH} deep")
        elif op.name in _GETS:
            depth = memo.get(arg, 0)
        else:  # the object an op keeps (a list appended to, a duplicate) stays as deep as it was; anything new is 0
            depth = popped[0] if op.name in _KEEPS_TARGET and popped else 0
        if op.name in _PUTS:
            memo[arg] = stack[-1] if stack else 0
        elif op.name == "MEMOIZE":
            memo[len(memo)] = depth
        for item in op.stack_after:
            if item is pickletools.markobject:
                marks.append(len(stack))
            else:
                stack.append(depth)


def _pop(op: pickletools.OpcodeInfo, stack: list[int], marks: list[int]) -> list[int]:
    before = op.stack_before
    if pickletools.markobject in before:  # everything above the last MARK, and the items below it the op takes
        if not marks:
            raise ValueError(f"{op.name} without a MARK")
        start = marks.pop() - before.index(pickletools.markobject)
    else:
        start = len(stack) - len(before)
    if start < 0:
        raise ValueError(f"{op.name} pops more than the stack holds")
    popped = stack[start:]
    del stack[start:]
    return popped


def _read_capped(path: Path) -> bytes:
    if not path.exists():
        raise DataError(f"{path}: missing CIFAR-10 batch file")
    if not path.is_file():  # a FIFO or device would block or never end
        raise DataError(f"{path}: not a regular file (expected a CIFAR-10 batch)")
    with open(path, "rb") as fh:  # read(n) reserves n bytes first: ask for the file's size (+1), not the cap
        raw = fh.read(min(os.fstat(fh.fileno()).st_size, MAX_BATCH_BYTES) + 1)
    if len(raw) > MAX_BATCH_BYTES:
        raise DataError(f"{path}: larger than {MAX_BATCH_BYTES // 1024**2} MiB, far more than a CIFAR-10 batch "
                        "(31 MB); refused unread")
    return raw


def safe_unpickle(path: Path) -> object:
    raw = _read_capped(path)
    try:
        _scan(raw, path)
        return _SafeUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except RefusedPickle as err:
        raise DataError(f"{path}: {err}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError, UnicodeDecodeError,
            OverflowError) as err:
        raise DataError(f"{path}: truncated or corrupt pickle ({type(err).__name__}: {str(err)[:200]})") from None
    except MemoryError:  # not expected after the scan; kept so that no allocation failure escapes as a traceback
        raise DataError(f"{path}: corrupt pickle (a length field asks for more memory than there is)") from None


def _key(d: dict, name: str, path: Path):
    for k in (name, name.encode()):
        if k in d:
            return d[k]
    keys = [repr(k)[:40] if isinstance(k, (str, bytes)) else type(k).__name__ for k in list(d)[:10]]
    raise DataError(f"{path}: no '{name}' entry (keys: {', '.join(keys)}{', ...' if len(d) > 10 else ''})")


def _describe(value) -> str:
    """A label value for a message: never the decimal digits of a huge int, never a long string."""
    if type(value) is int:
        return str(value) if abs(value) < 10**12 else f"an integer of {value.bit_length()} bits"
    if isinstance(value, (bool, float, str, bytes)):
        return f"{repr(value)[:24]} ({type(value).__name__})"
    return "None" if value is None else f"a {type(value).__name__}"


def _labels(value, path: Path) -> np.ndarray:
    """CIFAR labels: a list of Python ints (or a 1-D integer array), each 0-9; bools, floats and others refused."""
    if isinstance(value, _ArrayStandIn) and value.array is not None:
        labels = value.array
        if labels.dtype.kind not in "iu" or labels.ndim != 1:
            raise DataError(f"{path}: 'labels' must be integers 0-9, got an array of {labels.dtype} with shape {labels.shape}")
        bad = np.flatnonzero((labels < 0) | (labels > 9))
        if bad.size:
            raise DataError(f"{path}: 'labels' must be integers 0-9, found {labels[bad[0]]} at index {bad[0]}")
        return labels.astype(np.int64)
    if not isinstance(value, (list, tuple)):
        raise DataError(f"{path}: 'labels' must be a list of integers 0-9, got {_describe(value)}")
    for i, label in enumerate(value):
        if type(label) is not int or not 0 <= label <= 9:
            raise DataError(f"{path}: 'labels' must be integers 0-9, found {_describe(label)} at index {i}")
    return np.array(value, dtype=np.int64)


def _read_python_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    batch = safe_unpickle(path)
    if not isinstance(batch, dict):
        raise DataError(f"{path}: expected a pickled dict, got {type(batch).__name__}")
    data = _key(batch, "data", path)
    if not isinstance(data, _ArrayStandIn) or data.array is None:
        raise DataError(f"{path}: 'data' must be a uint8 array (N, 3072), got {_describe(data)}")
    data = data.array
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"{path}: 'data' must be uint8 (N, 3072), got {data.dtype} {data.shape}")
    labels = _labels(_key(batch, "labels", path), path)
    if labels.shape != (len(data),):
        raise DataError(f"{path}: {labels.size} labels for {len(data)} images")
    return data, labels


def _read_binary_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    raw = np.frombuffer(_read_capped(path), dtype=np.uint8)
    if raw.size == 0 or raw.size % RECORD:
        raise DataError(f"{path}: size {raw.size} bytes is not a whole number of {RECORD}-byte records (truncated?)")
    records = raw.reshape(-1, RECORD)
    labels = records[:, 0]
    if labels.max() > 9:
        raise DataError(f"{path}: labels must be 0-9, found {labels.min()}..{labels.max()}")
    return records[:, 1:], labels


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
    labels = np.concatenate([p[1] for p in parts]).astype(np.int64)  # each file's labels checked to be 0-9
    x = torch.from_numpy(data.reshape(-1, 3, 32, 32).copy())  # channel-planar R, G, B
    x = prepare_images(x, cfg.size, cfg.crop, cfg.channels)
    info = DataInfo(kind="image", shape=tuple(x.shape[1:]), num_classes=10, label_names=CLASS_NAMES, labels="class",
                    source=f"{folder}/{names[0]}{'..' + names[-1] if len(names) > 1 else ''} ({kind} batches)")
    return TensorDataset(x, info, torch.from_numpy(labels))
