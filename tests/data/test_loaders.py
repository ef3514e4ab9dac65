import gzip
import os
import pickle

import numpy as np
import pytest
import torch

from formats import CELEBA_NAMES, idx_bytes, write_celeba, write_cifar_binary, write_cifar_python, write_image_folder, write_mnist
from gankit.config import DataConfig
from gankit.data import load_dataset
from gankit.data.mnist import read_idx
from gankit.data.toy2d import gmm_variance_factor, toy_modes
from gankit.errors import DataError


def test_digits_splits_are_disjoint_and_scaled():
    train, test = load_dataset(DataConfig(name="digits"), "train"), load_dataset(DataConfig(name="digits"), "test")
    assert len(train) + len(test) == 1797 and len(test) == 180
    assert train.x.shape[1:] == (1, 32, 32) and train.x.dtype == torch.uint8
    batch = train.get(torch.arange(10))
    assert batch["x"].min() == -1 and batch["x"].max() <= 1 and batch["y"].shape == (10,)
    # No image appears in both splits.
    flat = lambda d: {bytes(row) for row in d.x.flatten(1).numpy()}
    assert not flat(train) & flat(test)
    rgb = load_dataset(DataConfig(name="digits", size=16, channels=3), "train")
    assert rgb.x.shape[1:] == (3, 16, 16) and torch.equal(rgb.x[:, 0], rgb.x[:, 2])


def test_toy_distributions_match_the_reference():
    centres, std = toy_modes("8gaussians")
    assert np.allclose(np.linalg.norm(centres, axis=1), 2 / 1.414) and std == pytest.approx(0.02 / 1.414)
    data = load_dataset(DataConfig(name="toy2d", distribution="25gaussians", num_train=2500), "train")
    counts = torch.bincount(data.y, minlength=25)
    assert (counts == 100).all()  # equal counts per mode, as gan_toy.py
    centres, std = toy_modes("25gaussians")
    assert np.abs(data.x.numpy() - centres[data.y.numpy()]).max() < 6 * std
    # AdaGAN GMM: variance 15 / (3 * 10^2) = 0.05 for 10 modes; the table for few modes.
    assert 15 / gmm_variance_factor(10) == pytest.approx(0.05)
    assert gmm_variance_factor(3) == pytest.approx(8.0)
    gmm = load_dataset(DataConfig(name="toy2d", distribution="gmm", modes=10, num_train=20000, seed=3), "train")
    means, sd = toy_modes("gmm", 10, 3)
    assert np.abs(means).max() <= 15
    resid = gmm.x.numpy() - means[gmm.y.numpy()]
    assert resid.var() == pytest.approx(0.05, rel=0.05)
    again = load_dataset(DataConfig(name="toy2d", distribution="gmm", modes=10, num_train=20000, seed=3), "train")
    test = load_dataset(DataConfig(name="toy2d", distribution="gmm", modes=10, num_test=100, seed=3), "test")
    assert torch.equal(gmm.x, again.x) and not torch.equal(gmm.x[:100], test.x)
    swiss = load_dataset(DataConfig(name="toy2d", distribution="swissroll", num_train=500), "train")
    assert swiss.x.shape == (500, 2) and swiss.y is None


# --- MNIST IDX --------------------------------------------------------------------------------------

@pytest.mark.parametrize("compress", [True, False])
def test_mnist_gz_and_raw(tmp_path, compress):
    root = write_mnist(tmp_path, compress=compress)
    train = load_dataset(DataConfig(name="mnist", root=str(root), size=28), "train")
    test = load_dataset(DataConfig(name="mnist", root=str(root), size=32), "test")
    assert train.x.shape == (24, 1, 28, 28) and test.x.shape == (12, 1, 32, 32)
    assert train.y.tolist() == [i % 10 for i in range(24)]
    raw = read_idx(root / ("train-images-idx3-ubyte" + (".gz" if compress else "")), 2051)
    assert torch.equal(train.x[:, 0], torch.from_numpy(raw.copy()))  # size 28: pixels untouched


def _rewrite(path, data: bytes):
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


@pytest.mark.parametrize("damage, message", [
    ("missing", "missing train-labels-idx1-ubyte"),
    ("magic", "wrong magic number 2049"),
    ("truncated", "truncated: header says (24, 28, 28)"),
    ("extra", "size mismatch"),
    ("gzip", "truncated or corrupt gzip"),
    ("count", "23 labels for 24 images"),
    ("header", "truncated IDX"),
])
def test_mnist_broken_files(tmp_path, damage, message):
    root = write_mnist(tmp_path)
    images, labels = root / "train-images-idx3-ubyte.gz", root / "train-labels-idx1-ubyte.gz"
    data = gzip.decompress(images.read_bytes())
    if damage == "missing":
        labels.unlink()
    elif damage == "magic":
        _rewrite(images, gzip.decompress(labels.read_bytes()))  # a labels file where images belong
    elif damage == "truncated":
        _rewrite(images, data[:-100])
    elif damage == "extra":
        _rewrite(images, data + b"\0" * 7)
    elif damage == "gzip":
        images.write_bytes(images.read_bytes()[:-30])
    elif damage == "count":
        _rewrite(labels, idx_bytes(np.zeros(23, dtype=np.uint8)))
    elif damage == "header":
        _rewrite(images, data[:2])
    with pytest.raises(DataError) as err:
        load_dataset(DataConfig(name="mnist", root=str(root)), "train")
    assert message in str(err.value)


def test_mnist_missing_folder(tmp_path):
    with pytest.raises(DataError, match="no such folder for MNIST IDX files"):
        load_dataset(DataConfig(name="mnist", root=str(tmp_path / "nope")), "train")


def test_fashion_mnist_from_debian_when_installed():
    from gankit.data.mnist import DEFAULT_ROOT

    if not (DEFAULT_ROOT / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    test = load_dataset(DataConfig(name="mnist", size=28), "test")
    assert len(test) == 10_000 and test.info.label_names[0] == "T-shirt/top"
    assert torch.bincount(test.y).tolist() == [1000] * 10


# --- CIFAR-10 ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("writer", [write_cifar_python, write_cifar_binary])
def test_cifar10_both_distributions(tmp_path, writer):
    from formats import cifar_arrays

    root = writer(tmp_path)
    train = load_dataset(DataConfig(name="cifar10", root=str(root)), "train")
    test = load_dataset(DataConfig(name="cifar10", root=str(root)), "test")
    assert train.x.shape == (20, 3, 32, 32) and test.x.shape == (4, 3, 32, 32)
    data, labels = cifar_arrays(4, 5)  # the test batch
    assert test.y.tolist() == labels
    # Channel-planar rows: the first 1,024 bytes are the red plane, row-major.
    assert torch.equal(test.x[0, 0], torch.from_numpy(data[0, :1024].reshape(32, 32)))
    assert torch.equal(test.x[0, 2], torch.from_numpy(data[0, 2048:].reshape(32, 32)))


def test_python_and_binary_cifar_agree(tmp_path):
    a = load_dataset(DataConfig(name="cifar10", root=str(write_cifar_python(tmp_path / "a"))), "train")
    b = load_dataset(DataConfig(name="cifar10", root=str(write_cifar_binary(tmp_path / "b"))), "train")
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)


def test_cifar_python2_layout_loads(tmp_path):
    from formats import cifar_arrays, cifar_python2_batch

    root = write_cifar_python(tmp_path)
    data, labels = cifar_arrays(4, 9)
    (root / "cifar-10-batches-py" / "test_batch").write_bytes(cifar_python2_batch(data, labels))
    test = load_dataset(DataConfig(name="cifar10", root=str(root)), "test")
    assert test.y.tolist() == labels and torch.equal(test.x.flatten(1), torch.from_numpy(data))


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_cifar_pickle_that_runs_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = write_cifar_python(tmp_path)
    (root / "cifar-10-batches-py" / "data_batch_2").write_bytes(pickle.dumps({b"data": _Evil()}, protocol=2))
    with pytest.raises(DataError, match="data_batch_2: refusing to load 'posix.system'"):
        load_dataset(DataConfig(name="cifar10", root=str(root)), "train")
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("damage, message", [
    ("truncated_py", "data_batch_1: truncated or corrupt pickle"),
    ("missing_py", "data_batch_3: missing CIFAR-10 batch file"),
    ("nokey", "no 'labels' entry"),
    ("truncated_bin", "not a whole number of 3073-byte records"),
    ("empty", "no CIFAR-10 files"),
])
def test_cifar_broken_files(tmp_path, damage, message):
    if damage.endswith("_bin"):
        root = write_cifar_binary(tmp_path)
        path = root / "cifar-10-batches-bin" / "data_batch_1.bin"
        path.write_bytes(path.read_bytes()[:-5])
    elif damage == "empty":
        root = tmp_path
    else:
        root = write_cifar_python(tmp_path)
        folder = root / "cifar-10-batches-py"
        if damage == "truncated_py":
            (folder / "data_batch_1").write_bytes((folder / "data_batch_1").read_bytes()[:100])
        elif damage == "missing_py":
            (folder / "data_batch_3").unlink()
        else:
            (folder / "data_batch_1").write_bytes(pickle.dumps({b"data": np.zeros((4, 3072), np.uint8)}, protocol=2))
    with pytest.raises(DataError) as err:
        load_dataset(DataConfig(name="cifar10", root=str(root)), "train")
    assert message in str(err.value)


# --- CelebA --------------------------------------------------------------------------------------------

def test_celeba_attributes_crop_and_holdout(tmp_path):
    root = write_celeba(tmp_path)
    cfg = DataConfig(name="celeba", root=str(root), size=16, crop=178, attributes=["Black_Hair", "Male"], test_count=3)
    train, test = load_dataset(cfg, "train"), load_dataset(cfg, "test")
    assert len(train) == 9 and len(test) == 3 and train.x.shape[1:] == (3, 16, 16)
    assert train.info.label_names == ("Black_Hair", "Male") and train.info.labels == "attributes"
    lines = (root / "list_attr_celeba.txt").read_text().splitlines()[2:]
    expected = {line.split()[0]: [float(line.split()[1 + CELEBA_NAMES.index(a)] == "1") for a in ("Black_Hair", "Male")]
                for line in lines}
    # The labels follow the images, whichever were held out.
    names = set(expected)
    got = {tuple(v) for v in torch.cat([train.y, test.y]).tolist()}
    assert got == {tuple(v) for v in expected.values()} and len(names) == 12


def test_celeba_official_partition(tmp_path):
    root = write_celeba(tmp_path, partition=True)
    cfg = DataConfig(name="celeba", root=str(root), size=8, attributes=["Young"])
    assert len(load_dataset(cfg, "test")) == 2 and len(load_dataset(cfg, "train")) == 10


def test_celeba_lazy_loading_matches_in_memory(tmp_path):
    root = write_celeba(tmp_path)
    lazy = load_dataset(DataConfig(name="celeba", root=str(root), size=8, in_memory=False, test_count=2), "train")
    eager = load_dataset(DataConfig(name="celeba", root=str(root), size=8, in_memory=True, test_count=2), "train")
    index = torch.tensor([3, 0, 5])
    assert torch.equal(lazy.get(index)["x"], eager.get(index)["x"])
    assert torch.equal(lazy.get(index)["y"], eager.get(index)["y"])


@pytest.mark.parametrize("damage, message", [
    ("attribute", "unknown CelebA attribute 'Purple_Hair'"),
    ("missing_image", "000003.jpg: image listed in list_attr_celeba.txt is missing"),
    ("bad_image", "000002.jpg: unreadable image"),
    ("bad_row", "line 4: expected a file name and 8 values"),
    ("count", "line 1 says 12 images but 11 rows follow"),
])
def test_celeba_broken(tmp_path, damage, message):
    root = write_celeba(tmp_path)
    attrs = ["Purple_Hair"] if damage == "attribute" else ["Male"]
    attr_file = root / "list_attr_celeba.txt"
    lines = attr_file.read_text().splitlines()
    if damage == "missing_image":
        (root / "img_align_celeba" / "000003.jpg").unlink()
    elif damage == "bad_image":
        (root / "img_align_celeba" / "000002.jpg").write_bytes(b"not a jpeg at all")
    elif damage == "bad_row":
        lines[3] = lines[3].replace("-1", "0", 1) if "-1" in lines[3] else lines[3].replace(" 1", " 0", 1)
        attr_file.write_text("\n".join(lines))
    elif damage == "count":
        attr_file.write_text("\n".join(lines[:-1]))
    with pytest.raises(DataError) as err:
        data = load_dataset(DataConfig(name="celeba", root=str(root), size=8, attributes=attrs, in_memory=True,
                                       test_count=2), "train")
        data.get(torch.arange(len(data)))
    assert message in str(err.value)


# --- image folders ---------------------------------------------------------------------------------------

def test_image_folder_classes_and_flat(tmp_path):
    root = write_image_folder(tmp_path / "tree")
    train = load_dataset(DataConfig(name="image_folder", root=str(root), size=16, test_count=2), "train")
    assert len(train) == 10 and train.info.label_names == ("cats", "dogs") and set(train.y.tolist()) == {0, 1}
    flat = tmp_path / "flat"
    flat.mkdir()
    for p in list((root / "cats").iterdir()):
        p.rename(flat / p.name)
    data = load_dataset(DataConfig(name="image_folder", root=str(flat), size=8, channels=1, test_count=1), "train")
    assert data.y is None and data.x.shape == (5, 1, 8, 8)


def test_image_folder_errors(tmp_path):
    with pytest.raises(DataError, match="no PNG/JPEG images found"):
        load_dataset(DataConfig(name="image_folder", root=str(tmp_path)), "train")
    root = write_image_folder(tmp_path / "tree")
    (root / "dogs" / "0.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(DataError, match=r"dogs/0.jpg: unreadable image"):
        load_dataset(DataConfig(name="image_folder", root=str(root), size=8, test_count=1), "train")
