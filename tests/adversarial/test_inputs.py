"""Hostile input files for every reader, written in their real on-disk formats: each must end as one gankit error
that names the file (or load correctly), fast and in bounded memory; never a traceback, a crash, silent garbage,
a warning on stderr or a huge allocation. The CLI cases are `error_cases_inputs.CASES_INPUTS`."""
import gzip
import io
import os
import pickle
import struct
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from error_cases import run_case
from error_cases_inputs import CASES_INPUTS
from formats import (
    cifar_arrays,
    idx_bytes,
    npy_bytes,
    png_bytes,
    write_celeba,
    write_cifar_binary,
    write_cifar_python,
    write_mnist,
    write_npz_member,
)
from gankit.config import DataConfig
from gankit.data import cifar10, load_dataset
from gankit.data.image_io import MAX_PIXELS, read_image
from gankit.data.mnist import read_idx
from gankit.data.transforms import resize
from gankit.errors import ConfigError, DataError
from gankit.metrics.inception import load_inception
from gankit.metrics.inputs import load_image_set

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _file(folder: Path, name: str, data: bytes) -> Path:
    (folder / name).write_bytes(data)
    return folder / name


@pytest.mark.parametrize("case", CASES_INPUTS, ids=[c[0] for c in CASES_INPUTS])
def test_cli_gives_one_line_and_exit_2(tmp_path, case):
    code, _, err = run_case(tmp_path, case)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("gankit: error: "), err
    assert case[2] in lines[0]
    assert not (tmp_path / "out").exists()


# --- images: sizes, bombs, damage ---------------------------------------------------------------------------

@pytest.mark.parametrize("size", [(0, 0), (0, 5), (7, 0)])
def test_zero_size_images_are_refused(tmp_path, size):
    path = _file(tmp_path, "zero.png", png_bytes(None, size=size))
    with pytest.raises(DataError, match=rf"zero\.png: .*claims {size[0]}x{size[1]} pixels: zero size"):
        read_image(path)


@pytest.mark.parametrize("size", [(9000, 9000), (10_000, 10_000), (100_000, 100_000), (2**31 - 1, 2**31 - 1)])
def test_decompression_bombs_are_refused_before_decoding_without_warnings(tmp_path, size):
    path = _file(tmp_path, "bomb.png", png_bytes(None, size=size))  # ours, Pillow's warning and error zones
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(DataError, match=rf"bomb\.png: image .* exceeds the limit of {MAX_PIXELS:,} pixels"):
            read_image(path)
    assert not seen


@pytest.mark.parametrize("fmt, cut", [("PNG", 0.5), ("PNG", 0.9), ("JPEG", 0.5), ("PNG", 0.02)])
def test_truncated_images_name_the_file(tmp_path, fmt, cut):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(buffer, fmt)
    path = _file(tmp_path, "cut.img", buffer.getvalue()[: int(len(buffer.getvalue()) * cut)])
    with pytest.raises(DataError, match=r"cut\.img: unreadable image"):
        read_image(path)


def test_a_fifo_is_refused_not_waited_on(tmp_path):
    os.mkfifo(tmp_path / "pipe.png")
    with pytest.raises(DataError, match="pipe.png: not a regular image file"):
        read_image(tmp_path / "pipe.png")
    os.mkfifo(tmp_path / "data_batch_1")
    with pytest.raises(DataError, match="data_batch_1: not a regular file"):
        cifar10.safe_unpickle(tmp_path / "data_batch_1")


def test_chunked_resize_is_identical_and_bounded(monkeypatch):
    images = torch.randint(0, 256, (2 * 1024 + 3, 1, 9, 7), dtype=torch.uint8)
    whole = torch.nn.functional.interpolate(images.float(), size=(4, 4), mode="bilinear", antialias=True)
    expected = whole.round().clamp(0, 255).to(torch.uint8)
    assert torch.equal(resize(images, 4), expected)
    from gankit.data import transforms

    monkeypatch.setattr(transforms, "_RESIZE_ELEMENTS", 9 * 7 * 5)  # five images at a time
    seen = []
    real = torch.nn.functional.interpolate
    monkeypatch.setattr(transforms.F, "interpolate", lambda x, **kw: seen.append(len(x)) or real(x, **kw))
    assert torch.equal(resize(images, 4), expected) and max(seen) == 5


def test_celeba_lists_that_claim_or_hold_too_many_rows(tmp_path):
    """66 million rows behind a count of 5 took 5.3 GB to split before the count was compared; a count of 10^9 would
    allocate 10^9 rows of values. Now the first extra row stops the read, and a count the file cannot hold is refused."""
    root = write_celeba(tmp_path, 3)
    path = root / "list_attr_celeba.txt"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines + [lines[-1]] * 200_000) + "\n")
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"line 1 says 3 images but more rows follow \(line 6\)"):
            _load(root, "celeba")
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < 64 * 1024**2  # the text itself (8 MB) and little more
    path.write_text("\n".join(["999999999", *lines[1:]]) + "\n")
    with pytest.raises(DataError, match="line 1 says 999,999,999 images but a file of .* holds at most"):
        _load(root, "celeba")


def test_metric_sets_that_would_not_fit_memory_are_refused_before_reading(tmp_path, monkeypatch):
    from gankit.apps.evaluate import compare_image_sets
    from gankit.metrics import inputs

    folder = tmp_path / "set"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.png").write_bytes(png_bytes(np.zeros((16, 16, 3), np.uint8)))
    np.savez(tmp_path / "s.npz", images=np.zeros((3, 16, 16, 3), np.uint8))
    assert inputs.load_image_set(folder).shape == (3, 3, 16, 16) == inputs.load_image_set(tmp_path / "s.npz").shape
    monkeypatch.setattr(inputs, "available_memory", lambda: 2 * 3 * 16 * 16 * 3 - 1)  # a byte short of the peak
    for path in (folder, tmp_path / "s.npz"):
        with pytest.raises(DataError, match="takes about .* GiB of memory"):
            inputs.load_image_set(path)
    # a missing Inception weights file is said before either set is read (decoding a large set first took minutes)
    monkeypatch.setattr("gankit.apps.evaluate.load_image_set", lambda path: pytest.fail(f"{path} was read"))
    monkeypatch.delenv("GANKIT_INCEPTION_WEIGHTS", raising=False)
    with pytest.raises(ConfigError, match="none.pth .* is not a file"):
        compare_image_sets(folder, tmp_path / "s.npz", ["fid"], inception_weights=str(tmp_path / "none.pth"))


# --- CIFAR-10 ----------------------------------------------------------------------------------------------------

def _cifar_with(tmp: Path, batch: object = None, raw: bytes | None = None) -> Path:
    root = write_cifar_python(tmp / "cifar", 2)
    raw = pickle.dumps(batch, protocol=2) if raw is None else raw
    (root / "cifar-10-batches-py" / "data_batch_1").write_bytes(raw)
    return root


def _load(root: Path, name: str = "cifar10"):
    return load_dataset(DataConfig(name=name, root=str(root), size=8, in_memory=True), "train")


label_values = st.one_of(st.integers(0, 9), st.integers(-2**80, 2**80), st.floats(), st.booleans(), st.none(),
                         st.text(max_size=3), st.binary(max_size=3), st.lists(st.integers(0, 9), max_size=2))


@FAST
@given(labels=st.lists(label_values, min_size=2, max_size=2))
def test_cifar_labels_load_only_when_integers_0_to_9(labels):
    with tempfile.TemporaryDirectory() as tmp:
        root = _cifar_with(Path(tmp), {b"data": cifar_arrays(2, 0)[0], b"labels": labels})
        if all(type(v) is int and 0 <= v <= 9 for v in labels):
            assert _load(root).y[:2].tolist() == labels
            return
        with pytest.raises(DataError, match=r"data_batch_1: 'labels' must be integers 0-9, found .* at index [01]$"):
            _load(root)


@pytest.mark.parametrize("labels, fragment", [
    ([2**70, 1], "found an integer of 71 bits at index 0"),
    ([True, 1], r"found True \(bool\) at index 0"),
    (np.array([[1], [2]]), r"got an array of int64 with shape \(2, 1\)"),
    (np.array([1.0, 2.0]), "got an array of float64"),
    (np.array([3, 12]), "found 12 at index 1"),
    ("0123", r"must be a list of integers 0-9, got '0123' \(str\)"),
])
def test_cifar_label_messages(tmp_path, labels, fragment):
    with pytest.raises(DataError, match=fragment):
        _load(_cifar_with(tmp_path, {b"data": cifar_arrays(2, 0)[0], b"labels": labels}))


def test_cifar_binary_label_out_of_range_names_the_file(tmp_path):
    root = write_cifar_binary(tmp_path, 2)
    path = root / "cifar-10-batches-bin" / "data_batch_4.bin"
    path.write_bytes(b"\x0c" + path.read_bytes()[1:])
    with pytest.raises(DataError, match=r"data_batch_4\.bin: labels must be 0-9, found \d\.\.12"):
        _load(root)


def _same_hash_keys(n: int) -> bytes:
    """A protocol-2 dict of n int keys k * (2^61 - 1): one hash for all (CPython hashes ints modulo 2^61 - 1), so
    every insert walks every earlier key."""
    keys = (k * (2**61 - 1) for k in range(1, n + 1))
    return b"\x80\x02}(" + b"".join(b"\x8a" + bytes([len(b)]) + b + b"N" for v in keys
                                       for b in [v.to_bytes((v.bit_length() + 8) // 8, "little", signed=True)]) + b"u."


def _timed_refusal(tmp: Path, raw: bytes, fragment: str) -> None:
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(DataError, match=fragment):
            _load(_cifar_with(tmp, raw=raw))
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert time.perf_counter() - start < 10 and peak < 200 * 1024**2


@pytest.mark.parametrize("raw, fragment", [
    (b"\x80\x02(" + b"N" * 600_000 + b"l.", "more than 500,000 operations"),  # a list of 600,000 Nones
    (b"\x80\x02}N" + b"\x85" * 1_000_000 + b"Ns.", "tuples nested over 100 deep"),  # hashing it crashes CPython
    (b"\x80\x02N" + b"\x85q\x010h\x01" * 200 + b".", "tuples nested over 100 deep"),  # deepened through the memo
    (b"\x80\x04\x8e" + struct.pack("<Q", 2**60) + b"abc.", "truncated or corrupt pickle"),  # BINBYTES8 of 2^60
    (b"\x80\x04\x8d" + struct.pack("<Q", 2**62) + b"abc.", "truncated or corrupt pickle"),  # BINUNICODE8
    (b"\x80\x02\x8b" + struct.pack("<i", 2**31 - 1) + b".", "truncated or corrupt pickle"),  # LONG4
    (b"\x80\x02cnumpy\nndarray\nJ\x00\x00\x00\x40\x85R.", "truncated or corrupt pickle"),  # ndarray((2^30,))
    (b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x04\x00\x00\x00zlib\x86R.", "refusing _codecs.encode"),
    (b"\x80\x02" + b"]" * 100_000 + b"a" * 99_999 + b".", "expected a pickled dict, got list"),  # deep lists are fine
    (_same_hash_keys(60_000), "more than 10,000 dict or set entries"),  # 25 s to build when found by a helper
], ids=["600k-nones", "deep-tuple-key", "deep-tuple-via-memo", "binbytes8", "binunicode8", "long4", "ndarray-call",
        "zlib-codec", "deep-lists", "same-hash-keys"])
def test_cifar_pickle_bombs_are_refused_fast_in_bounded_memory(tmp_path, raw, fragment):
    _timed_refusal(tmp_path, raw, fragment)


def _numpy_pickle(array: np.ndarray) -> bytes:
    return pickle.dumps({b"data": array, b"labels": [0] * len(array)}, protocol=2)


def test_cifar_numpy_states_that_would_crash_numpy_are_refused(tmp_path):
    raw = _numpy_pickle(np.zeros((2, 3072), np.uint8))
    plain = b"J\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t"  # the dtype state's (..., -1, -1, flags=0)
    assert raw.count(plain) == 1
    forged = raw.replace(plain, plain[:-3] + b"K?t")  # flags 0x3f: numpy would decref the pixels as pointers
    with pytest.raises(DataError, match="refusing a numpy dtype state that is not a plain number type"):
        _load(_cifar_with(tmp_path, raw=forged))
    with pytest.raises(DataError, match="refusing numpy dtype 'O8'"):  # object arrays: a wrong shape segfaults numpy
        _load(_cifar_with(tmp_path / "o", raw=_numpy_pickle(np.array([None, 1], dtype=object))))
    wrong = raw.replace(b"M\x00\x0c", b"M\x01\x0c")  # shape (2, 3073) over 6,144 bytes
    with pytest.raises(DataError, match="does not match its 6144 data bytes"):
        _load(_cifar_with(tmp_path / "w", raw=wrong))


def test_cifar_oversized_files_are_refused_unread(tmp_path, monkeypatch):
    assert 46 * 10**6 < cifar10.MAX_BATCH_BYTES <= 256 * 1024**2  # above a real batch, far below a bomb
    monkeypatch.setattr(cifar10, "MAX_BATCH_BYTES", 10_000)
    with pytest.raises(DataError, match=r"data_batch_1: larger than .* refused unread"):
        _load(write_cifar_python(tmp_path / "py", 4))
    with pytest.raises(DataError, match=r"data_batch_1\.bin: larger than"):
        _load(write_cifar_binary(tmp_path / "bin", 4))


plain = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5),
                               st.binary(max_size=5)),
                     lambda inner: st.one_of(st.lists(inner, max_size=4), st.tuples(inner, inner),
                                             st.dictionaries(st.text(max_size=3), inner, max_size=3)), max_leaves=20)


@FAST
@given(value=plain, protocol=st.integers(0, 5))
def test_the_opcode_scan_accepts_every_plain_pickle(value, protocol):
    with tempfile.TemporaryDirectory() as tmp:
        path = _file(Path(tmp), "p", pickle.dumps(value, protocol=protocol))
        assert cifar10.safe_unpickle(path) == value


opcodes = st.sampled_from([b"N", b")", b"\x85", b"\x86", b"\x87", b"]", b"}", b"(", b"t", b"l", b"d", b"a", b"e", b"s",
                           b"u", b"0", b"2", b"1", b"q\x00", b"h\x00", b"\x94", b"K\x07", b"C\x01x", b"X\x01\x00\x00\x00y"])


@FAST
@given(program=st.lists(opcodes, max_size=60))
def test_random_opcode_programs_give_data_errors_or_objects(program):
    with tempfile.TemporaryDirectory() as tmp:
        path = _file(Path(tmp), "p", b"\x80\x04" + b"".join(program) + b".")
        try:
            cifar10.safe_unpickle(path)
        except DataError as err:
            assert str(path) in str(err)


# --- IDX / MNIST -------------------------------------------------------------------------------------------------

def _idx(dims: tuple[int, ...], data: bytes = b"", type_code: int = 0x08) -> bytes:
    return bytes([0, 0, type_code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + data


@pytest.mark.parametrize("dims, fragment", [
    ((2**31, 2**31, 4), "over the 4 GiB"),  # the int64 product wraps to exactly 0 bytes
    ((2**32 - 1,) * 3, "over the 4 GiB"),
    ((4000, 1000, 1000), r"truncated: header says \(4000, 1000, 1000\)"),  # under the cap: read in chunks, then refused
    ((0, 28, 28), r"header says \(0, 28, 28\): no images"),
    ((3, 0, 28), "no images, or images of zero size"),
    ((1, 16384, 16384), "over the 67,108,864 an image may have"),  # 256 MiB as uint8, 4x that resized as float
])
def test_idx_headers_with_absurd_sizes(tmp_path, dims, fragment):
    root = write_mnist(tmp_path, 12, 6)
    (root / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(dims, bytes(100 if all(dims) else 0))))
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz: .*" + fragment):
            _load(root, "mnist")
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < 64 * 1024**2


def test_idx_gzip_bomb_stops_after_the_header_size(tmp_path):
    root = write_mnist(tmp_path, 12, 6)
    images = root / "train-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes() + gzip.compress(bytes(16 << 20), 9) * 256)  # + 4 GiB of zeros
    start = time.perf_counter()
    with pytest.raises(DataError, match="size mismatch: header says"):
        _load(root, "mnist")
    assert time.perf_counter() - start < 5


def test_idx_more_dimensions_than_the_file_or_numpy_allow(tmp_path):
    with pytest.raises(DataError, match="truncated IDX header"):
        read_idx(_file(tmp_path, "a", bytes([0, 0, 8, 20]) + bytes(40)))
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(_file(tmp_path, "b", _idx((1,) * 100, b"\x01")))  # numpy allows 64 dimensions


def test_idx_odd_sizes_load(tmp_path):
    root = write_mnist(tmp_path, 12, 6, compress=False)
    pixels = np.arange(12 * 30 * 20, dtype=np.uint8).reshape(12, 30, 20)
    (root / "train-images-idx3-ubyte").write_bytes(idx_bytes(pixels))
    assert _load(root, "mnist").x.shape == (12, 1, 8, 8)


@FAST
@given(dims=st.lists(st.sampled_from([0, 1, 2, 3, 28, 2**16, 2**31, 2**32 - 1]), min_size=1, max_size=4),
       size=st.integers(0, 64), type_code=st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x07]))
@example(dims=[0, 2**31, 2**31], size=0, type_code=0x0B)  # found 2026-12-01: numpy refused the empty array as too big
def test_idx_random_headers_give_arrays_or_data_errors(dims, size, type_code):
    with tempfile.TemporaryDirectory() as tmp:
        path = _file(Path(tmp), "x.idx", _idx(tuple(dims), bytes(size), type_code))
        try:
            array = read_idx(path)
        except DataError as err:
            assert str(path) in str(err)
            return
        assert array.shape == tuple(dims) and array.nbytes == size


# --- CelebA ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("damage, fragment", [
    (lambda lines: [str(10**30), *lines[1:]], "line 1 should be the image count, got '1000000000000000000000000000000'"),
    (lambda lines: ["-4", *lines[1:]], "line 1 should be the image count"),
    (lambda lines: ["1_2", *lines[1:]], "line 1 should be the image count"),
    (lambda lines: [lines[0], lines[1], "/etc/passwd" + lines[2][10:], *lines[3:]], "'/etc/passwd' is not a plain file name"),
    (lambda lines: [lines[0], lines[1], ".." + lines[2][10:], *lines[3:]], "'..' is not a plain file name"),
])
def test_celeba_list_damage(tmp_path, damage, fragment):
    root = write_celeba(tmp_path, 4)
    attr = root / "list_attr_celeba.txt"
    attr.write_text("\n".join(damage(attr.read_text().splitlines())) + "\n")
    with pytest.raises(DataError, match="list_attr_celeba.txt: .*" + fragment):
        _load(root, "celeba")


def test_celeba_non_utf8_and_oversized_lists(tmp_path, monkeypatch):
    from gankit.data import celeba

    root = write_celeba(tmp_path, 4)
    attr = root / "list_attr_celeba.txt"
    attr.write_bytes(attr.read_bytes().replace(b"Male", b"M\xe4le"))
    with pytest.raises(DataError, match=r"list_attr_celeba\.txt: not a text file \(byte \d+ is not UTF-8\)"):
        _load(root, "celeba")
    monkeypatch.setattr(celeba, "MAX_LIST_BYTES", 100)
    with pytest.raises(DataError, match=r"list_attr_celeba\.txt: larger than .* refused unread"):
        _load(root, "celeba")


# --- .npz and folders for `gankit metrics` -------------------------------------------------------------------------

@pytest.mark.parametrize("payload, fragment", [
    (npy_bytes((10**12, 32, 32, 3)), "would take 3,072,000,000,000,000 bytes, over the 16 GiB limit"),
    (npy_bytes((1000, 32, 32, 3), data=bytes(10)), r"header says shape \(1000, 32, 32, 3\) \(3,072,000 bytes\) but the archive holds 10"),
    (npy_bytes((2, 4, 4, 3), data=bytes(97)), "but the archive holds 97 bytes"),
    (npy_bytes((0, 8, 8, 3)), "holds no images"),
    (npy_bytes((2, 8, 8, 3), "<f4", bytes(1536)), r"'images' must be uint8 \(N, H, W, 1\|3\), got float32"),
    (npy_bytes((2, 8, 8, 2), data=bytes(256)), r"got uint8 \(2, 8, 8, 2\)"),
    (npy_bytes((2,), "|O"), "got object"),
    (b"\x93NUMPY\x01\x00\xff\xff" + b"{" * 65535, "unreadable .npz"),
    (b"not an npy at all", "unreadable .npz"),
], ids=["trillion", "short-data", "extra-data", "no-images", "float32", "two-channels", "objects", "huge-header", "not-npy"])
def test_npz_headers_are_checked_before_allocation(tmp_path, payload, fragment):
    path = write_npz_member(tmp_path / "x.npz", "images.npy", payload)
    with pytest.raises(DataError, match=r"x\.npz: .*" + fragment):
        load_image_set(path)


def test_npz_that_is_not_a_zip_or_has_no_images(tmp_path):
    np.save(tmp_path / "raw.npy", np.zeros((2, 4, 4, 3), np.uint8))
    os.rename(tmp_path / "raw.npy", tmp_path / "raw.npz")
    with pytest.raises(DataError, match=r"raw\.npz: unreadable \.npz \(BadZipFile"):
        load_image_set(tmp_path / "raw.npz")
    np.savez(tmp_path / "other.npz", pictures=np.zeros((2, 4, 4, 3), np.uint8))
    with pytest.raises(DataError, match=r"other\.npz: no 'images' array \(found: pictures\)"):
        load_image_set(tmp_path / "other.npz")


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_valid_npz_still_loads(tmp_path, save):
    images = np.random.default_rng(0).integers(0, 256, (3, 5, 4, 3), dtype=np.uint8)
    save(tmp_path / "ok.npz", images=np.asfortranarray(images))
    assert torch.equal(load_image_set(tmp_path / "ok.npz"), torch.from_numpy(images).permute(0, 3, 1, 2))


def test_folders_with_mixed_modes_and_zero_size_images(tmp_path):
    folder = tmp_path / "set"
    folder.mkdir()
    Image.fromarray(np.full((2, 2, 3), 200, np.uint8)).save(folder / "a.png")
    Image.fromarray(np.full((2, 2), 100, np.uint8)).save(folder / "b.png")
    _file(folder, "c.png", png_bytes(np.full((2, 2), 32896, np.uint16)))
    Image.fromarray(np.full((2, 2, 4), 50, np.uint8)).save(folder / "d.png")
    assert load_image_set(folder)[:, :, 0, 0].tolist() == [[200] * 3, [100] * 3, [128] * 3, [50] * 3]
    _file(folder, "e.png", png_bytes(None, size=(2, 0)))
    with pytest.raises(DataError, match=r"e\.png: .*zero size"):
        load_image_set(folder)


def test_folder_sizes_come_from_headers_before_any_decoding(tmp_path, monkeypatch):
    from gankit.metrics import inputs

    folder = tmp_path / "set"
    folder.mkdir()
    Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(folder / "a.png")
    _file(folder, "b.png", png_bytes(None, size=(5, 4)))  # no pixel data: decoding it would fail
    with pytest.raises(DataError, match=r"b\.png: size \(4, 5\) differs from \(4, 6\) of the other images"):
        load_image_set(folder)
    Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(folder / "b.png")
    monkeypatch.setattr(inputs, "MAX_SET_BYTES", 100)
    with pytest.raises(DataError, match="2 images of 4x6 pixels would take over the"):
        load_image_set(folder)


# --- Inception weights ---------------------------------------------------------------------------------------------

def _torch_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("content, reason", [
    (os.urandom(2000), "neither torch.save's zip archive nor its older pickle format"),
    (b"model weights, honest\n", "neither torch.save's zip archive"),
    (b"", "the file is empty"),
    (pickle.dumps({"fc.weight": [1.0, 2.0]}), "neither torch.save's zip archive"),
    (b"PK\x03\x04" + bytes(100), "a damaged or foreign file"),
    (None, "a damaged or foreign file"),  # a zip that torch did not write
    (_torch_bytes({"fc.weight": "x", "fc.bias": 3}), "it holds a dict of int/str, no tensors"),
    (_torch_bytes([torch.zeros(2)]), "it holds a list, not a state dict"),
    (_torch_bytes({"w": torch.zeros(100)})[:300], "a damaged or foreign file: PytorchStreamReader failed reading zip archive"),
    (_torch_bytes({"w": torch.zeros(2), "f": os.system}), r"it holds Python objects \(posix.system\)"),
    (pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)[:-1] + b"junk", "a damaged or foreign file"),
], ids=["random", "text", "empty", "plain-pickle", "zip-junk", "foreign-zip", "no-tensors", "list", "truncated", "objects",
        "legacy-junk"])
def test_weights_that_are_not_torch_files(tmp_path, content, reason):
    path = tmp_path / "weights.pth"
    if content is None:
        import zipfile

        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("readme.txt", "hello")
    else:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=rf"Inception weights {path} is not a PyTorch weights file \({reason}"):
        load_inception(path)
