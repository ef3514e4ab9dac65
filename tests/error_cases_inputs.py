"""Adversarial input files, one per reader, in the format of `error_cases.CASES`: (what is wrong, build the input
and return the command's arguments, a fragment of the one-line message, context manager). Each file is written in
its real on-disk format; `tests/adversarial/test_inputs.py` runs every case with `error_cases.run_case`."""
from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
from PIL import Image

from error_cases import TINY, tiny_run
from formats import cifar_arrays, idx_bytes, npy_bytes, png_bytes, write_celeba, write_cifar_python, write_mnist, write_npz_member


def _train_on(tmp: Path, name: str, root: Path) -> list[str]:
    return ["train", "wgan_gp_digits", "--out", str(tmp / "out"), "--set", f"data.name={name}", "--set", f"data.root={root}",
            *TINY, "--steps", "1"]


def _metrics_on(folder_or_npz: Path, *extra: str) -> list[str]:
    return ["metrics", "--input1", str(folder_or_npz), "--input2", str(folder_or_npz), *(extra or ("--fd", "digits"))]


def _image_folder(tmp: Path, name: str, payload: bytes) -> Path:
    folder = tmp / "images"
    folder.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "a.png")
    (folder / name).write_bytes(payload)
    return folder


def _float_image(tmp: Path) -> list[str]:
    folder = _image_folder(tmp, "b.png", b"")
    Image.fromarray(np.full((8, 8), 0.5, np.float32)).save(folder / "b.png", format="TIFF")  # mode F, named .png
    return _metrics_on(folder)


def _cifar_labels(tmp: Path) -> list[str]:
    root = write_cifar_python(tmp / "cifar", 2)
    data, _ = cifar_arrays(2, 0)
    batch = {b"data": data, b"labels": [3.5, 1]}
    (root / "cifar-10-batches-py" / "data_batch_1").write_bytes(pickle.dumps(batch, protocol=2))
    return _train_on(tmp, "cifar10", root)


def _cifar_deep(tmp: Path) -> list[str]:
    root = write_cifar_python(tmp / "cifar", 2)
    # {((...(None,)...),): None}: a tuple nested a million deep as a dict key; hashing it overflows the C stack.
    (root / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"\x80\x02}N" + b"\x85" * 1_000_000 + b"Ns.")
    return _train_on(tmp, "cifar10", root)


def _mnist_bomb(tmp: Path) -> list[str]:
    root = write_mnist(tmp / "mnist", 12, 6)
    images = root / "train-images-idx3-ubyte.gz"
    bomb = gzip.compress(bytes(16 << 20), compresslevel=9)  # 16 KB that inflate to 16 MiB; 256 of them: 4 GiB
    images.write_bytes(images.read_bytes() + bomb * 256)  # gzip members in a row are one valid stream
    return _train_on(tmp, "mnist", root)


def _mnist_overflow(tmp: Path) -> list[str]:
    root = write_mnist(tmp / "mnist", 12, 6)
    header = idx_bytes(np.zeros((1, 1, 1), np.uint8))[:4] + (2**31).to_bytes(4, "big") * 2 + (4).to_bytes(4, "big")
    (root / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(header))  # 2^31 * 2^31 * 4 wraps int64 to 0
    return _train_on(tmp, "mnist", root)


def _celeba_count(tmp: Path) -> list[str]:
    root = write_celeba(tmp / "celeba", 4)
    lines = (root / "list_attr_celeba.txt").read_text().splitlines()
    (root / "list_attr_celeba.txt").write_text("\n".join([str(10**30), *lines[1:]]) + "\n")
    return _train_on(tmp, "celeba", root)


def _celeba_escape(tmp: Path) -> list[str]:
    root = write_celeba(tmp / "celeba", 4)
    text = (root / "list_attr_celeba.txt").read_text()
    (root / "list_attr_celeba.txt").write_text(text.replace("000002.jpg", "../../secret.jpg"))
    return _train_on(tmp, "celeba", root)


def _npz_trillion(tmp: Path) -> list[str]:
    return _metrics_on(write_npz_member(tmp / "fake.npz", "images.npy", npy_bytes((10**12, 32, 32, 3))))


def _npz_objects(tmp: Path) -> list[str]:
    np.savez(tmp / "fake.npz", images=np.array([None, 1], dtype=object))
    return _metrics_on(tmp / "fake.npz")


def _few_images(tmp: Path) -> list[str]:
    np.savez(tmp / "few.npz", images=np.zeros((3, 8, 8, 1), np.uint8))
    return _metrics_on(tmp / "few.npz")


def _few_samples(tmp: Path) -> list[str]:
    return ["eval", str(tiny_run(tmp)), "--metrics", "fd_is", "--num-samples", "4", "--num-real", "50"]


def _weights_not_torch(tmp: Path) -> list[str]:
    np.savez(tmp / "a.npz", images=np.zeros((2, 8, 8, 3), np.uint8))
    (tmp / "weights.pth").write_text("these are not weights\n")
    return _metrics_on(tmp / "a.npz", "--fid", "--inception-weights", str(tmp / "weights.pth"))


CASES_INPUTS = [
    ("image whose PNG header claims zero size", lambda t: _metrics_on(_image_folder(t, "b.png", png_bytes(None, size=(0, 5)))),
     "claims 0x5 pixels: zero size", None),
    ("image whose header claims 10^10 pixels (decompression bomb)",
     lambda t: _metrics_on(_image_folder(t, "b.png", png_bytes(None, size=(100_000, 100_000)))),
     "exceeds the limit of 67,108,864 pixels", None),
    ("floating-point image (mode F)", _float_image, "floating-point image (mode F) has no 8-bit scale", None),
    ("CIFAR-10 labels that are not integers 0-9", _cifar_labels, "'labels' must be integers 0-9, found 3.5 (float)", None),
    ("CIFAR-10 pickle with tuples nested a million deep", _cifar_deep, "tuples nested over 100 deep", None),
    ("MNIST gzip bomb (4 GiB of zeros after the data)", _mnist_bomb, "size mismatch: header says (12, 28, 28)", None),
    ("MNIST header whose sizes overflow", _mnist_overflow, "over the 4 GiB an IDX file may hold", None),
    ("CelebA list file with an absurd image count", _celeba_count, "line 1 should be the image count", None),
    ("CelebA list naming a file outside the image folder", _celeba_escape, "is not a plain file name", None),
    (".npz whose header claims 10^12 images", _npz_trillion, "over the 16 GiB limit of an image set", None),
    (".npz of Python objects", _npz_objects, "'images' must be uint8 (N, H, W, 1|3), got object", None),
    ("fewer images than a metric needs (gankit metrics)", _few_images,
     "fd_is: 10 splits need at least 10 generated items, got 3", None),
    ("fewer samples than a metric needs (gankit eval)", _few_samples,
     "fd_is: 10 splits need at least 10 generated items, got 4", None),
    ("Inception weights that are not a PyTorch file", _weights_not_torch, "is not a PyTorch weights file", None),
]
