"""Corrupt the loaders' real on-disk formats at random bytes: only gankit's own errors may come out (a user
mistake is a one-line DataError, never a crash inside numpy, gzip, pickle or Pillow), or the data loads."""
import shutil
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from formats import write_celeba, write_cifar_binary, write_cifar_python, write_image_folder, write_mnist
from gankit.config import DataConfig
from gankit.data import load_dataset
from gankit.errors import GankitError

# (dataset config, fixture writer, the files worth corrupting relative to the root)
FORMATS = {
    "mnist_gz": (dict(name="mnist", size=8), lambda r: write_mnist(r, 12, 6), ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]),
    "mnist_raw": (dict(name="mnist", size=8), lambda r: write_mnist(r, 12, 6, compress=False),
                  ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"]),
    "cifar_python": (dict(name="cifar10", size=8), lambda r: write_cifar_python(r, 2),
                     ["cifar-10-batches-py/data_batch_1", "cifar-10-batches-py/data_batch_5"]),
    "cifar_binary": (dict(name="cifar10", size=8), lambda r: write_cifar_binary(r, 2),
                     ["cifar-10-batches-bin/data_batch_1.bin", "cifar-10-batches-bin/data_batch_3.bin"]),
    "celeba": (dict(name="celeba", size=16, crop=178, attributes=["Black_Hair", "Male"], test_count=2),
               lambda r: write_celeba(r, 6), ["list_attr_celeba.txt", "img_align_celeba/000001.jpg"]),
    "image_folder": (dict(name="image_folder", size=8), lambda r: write_image_folder(r, per_class=2),
                     ["cats/0.jpg", "cats/1.png", "dogs/1.png"]),
}
PRISTINE: dict[str, Path] = {}


def test_every_file_backed_dataset_is_fuzzed_and_benchable():
    """A loader added to the registry without a fuzz entry (or, for `gankit bench`, a synthetic stand-in) fails here."""
    from gankit.data import DATASETS
    from gankit.data.synthetic import EMBEDDED, synthetic_info

    fuzzed = {config["name"] for config, _, _ in FORMATS.values()}
    file_backed = set(DATASETS.names()) - set(EMBEDDED)
    assert file_backed - fuzzed == set(), "registered datasets read from files but not fuzzed here"
    for config, _, _ in FORMATS.values():
        assert synthetic_info(DataConfig(**config)).shape[1:] == (config["size"], config["size"])


def pristine(kind: str) -> Path:
    """Each format's valid fixture, written once per session."""
    if kind not in PRISTINE:
        root = Path(tempfile.mkdtemp(prefix=f"fuzz-{kind}-"))
        FORMATS[kind][1](root)
        PRISTINE[kind] = root
    return PRISTINE[kind]


damage = st.one_of(
    st.tuples(st.just("flip"), st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)),
                                        min_size=1, max_size=8)),
    st.tuples(st.just("truncate"), st.floats(0, 1, exclude_max=True)),
    st.tuples(st.just("append"), st.binary(min_size=1, max_size=64)),
)


def corrupt(path: Path, how) -> None:
    data = bytearray(path.read_bytes())
    kind, arg = how
    if kind == "flip":
        for where, value in arg:
            data[int(where * len(data))] = value
    elif kind == "truncate":
        data = data[: int(arg * len(data))]
    else:
        data += arg
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("kind", list(FORMATS))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(file_index=st.integers(0, 2), how=damage)
@example(file_index=0, how=("flip", [(0.203125, 0)]))  # found 2026-12-01: a NUL in the CelebA header's "Male"
@example(file_index=0, how=("flip", [(0.0, 142)]))  # found 2026-12-01: a CIFAR pickle whose opcode asks for exabytes
@example(file_index=0, how=("flip", [(0.0, 80)]))  # found 2026-12-01: pickle's own message had a line break
def test_corrupted_files_give_only_gankit_errors(kind, file_index, how):
    config, _, files = FORMATS[kind]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        shutil.copytree(pristine(kind), root)
        corrupt(root / files[file_index % len(files)], how)
        cfg = DataConfig(root=str(root), in_memory=True, **config)
        try:
            data = load_dataset(cfg, "train")
            batch = data.get(torch.arange(len(data)))
        except GankitError as err:
            message = str(err)
            assert message and "\n" not in message and str(root) in message  # one line that names the file
            return
        assert torch.isfinite(batch["x"]).all() and batch["x"].abs().max() <= 1.0
