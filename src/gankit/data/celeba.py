"""CelebA aligned faces: `img_align_celeba/*.jpg`, `list_attr_celeba.txt`, optional `list_eval_partition.txt`.

Labels are the selected attributes (`data.attributes`) as 0/1 floats. The test split is the official
partition 2 when `list_eval_partition.txt` exists, else `data.test_count` images (StarGAN: 2,000) held out
by a seeded shuffle. Preprocessing as in StarGAN: center crop (`data.crop`, 178), resize to `data.size`.
"""
from __future__ import annotations

import io
import os
import re
from pathlib import Path

import numpy as np
import torch

from gankit.data.base import DATASETS, images_dataset
from gankit.errors import DataError

DEFAULT_TEST_COUNT = 2000
MAX_LIST_BYTES = 256 * 1024**2  # list_attr_celeba.txt is 26 MB
HAIR_COLOURS = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")


def _text(path: Path) -> str:
    if not path.is_file():  # a FIFO or device would block or never end
        raise DataError(f"{path}: not a regular file")
    with open(path, "rb") as fh:  # read(n) reserves n bytes first: ask for the file's size (+1), not the cap
        raw = fh.read(min(os.fstat(fh.fileno()).st_size, MAX_LIST_BYTES) + 1)
    if len(raw) > MAX_LIST_BYTES:
        raise DataError(f"{path}: larger than {MAX_LIST_BYTES // 1024**2} MiB, far more than a CelebA list file (26 MB); "
                        "refused unread")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not a text file (byte {err.start} is not UTF-8)") from None


def _check_file_name(name: str, path: Path, line: int) -> None:
    """A listed image must be a plain name inside img_align_celeba/, not a path that reaches elsewhere."""
    if name in (".", "..") or any(c in name for c in "/\\\0"):
        raise DataError(f"{path}: line {line}: {name[:40]!r} is not a plain file name inside img_align_celeba/")


def read_attributes(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    """(attribute names, file names, values in {0, 1} of shape (N, A)), read a line at a time: a file with more
    rows than its count line says stops at the first extra one, and a count the file is too small to hold is
    refused before anything is allocated for it."""
    if not path.is_file():
        raise DataError(f"{path}: missing CelebA attribute file")
    text = _text(path)
    lines = io.StringIO(text)
    first, second = lines.readline(), lines.readline()
    if not second:
        raise DataError(f"{path}: expected a count line and an attribute-name line")
    if not re.fullmatch(r"[0-9]{1,9}", first.strip()):  # CelebA has 202,599; int() would take 10**30 or '1_0'
        raise DataError(f"{path}: line 1 should be the image count, got '{first.strip()[:40]}'")
    count, names = int(first.strip()), second.split()
    room = len(text) // (2 + 2 * len(names))  # a row is at least a 1-character name and a 1-character value each
    if count > room:
        raise DataError(f"{path}: line 1 says {count:,} images but a file of {len(text):,} bytes holds at most {room:,} rows")
    files, values = [], np.empty((count, len(names)), dtype=np.float32)
    for number, line in enumerate(lines, 3):
        row = line.split()
        if not row:
            continue
        if len(files) == count:
            raise DataError(f"{path}: line 1 says {count} images but more rows follow (line {number})")
        if len(row) != len(names) + 1 or any(v not in ("1", "-1") for v in row[1:]):
            raise DataError(f"{path}: line {number}: expected a file name and {len(names)} values of 1 or -1")
        _check_file_name(row[0], path, number)
        values[len(files)] = [v == "1" for v in row[1:]]
        files.append(row[0])
    if len(files) != count:
        raise DataError(f"{path}: line 1 says {count} images but {len(files)} rows follow")
    return names, files, values


def read_partition(path: Path, listed: set[str] | None = None) -> dict[str, int]:
    """File name -> 0 (train), 1 (validation), 2 (test); only the names in `listed` are kept, so the dict is never
    larger than the attribute list (a file of many other names costs time, not memory)."""
    partition = {}
    for number, line in enumerate(io.StringIO(_text(path)), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
            raise DataError(f"{path}: line {number}: expected 'file.jpg 0|1|2'")
        if listed is None or parts[0] in listed:
            partition[parts[0]] = int(parts[1])
    return partition


@DATASETS.register("celeba")
def load_celeba(cfg, split):
    if not cfg.root:
        raise DataError("data.root: CelebA needs the folder holding img_align_celeba/ and list_attr_celeba.txt")
    root = Path(cfg.root)
    names, files, values = read_attributes(root / "list_attr_celeba.txt")
    selected = cfg.attributes or names
    unknown = [a for a in selected if a not in names]
    if unknown:
        raise DataError(f"data.attributes: unknown CelebA attribute '{unknown[0]}'; valid in "
                        f"{root / 'list_attr_celeba.txt'}: {', '.join(names)}")
    values = values[:, [names.index(a) for a in selected]]
    partition_file = root / "list_eval_partition.txt"
    if partition_file.is_file():
        partition = read_partition(partition_file, set(files))
        missing = [f for f in files if f not in partition]
        if missing:
            raise DataError(f"{partition_file}: no entry for {missing[0]}")
        keep = [i for i, f in enumerate(files) if (partition[f] == 2) == (split == "test")]
    else:
        n_test = min(cfg.test_count or DEFAULT_TEST_COUNT, max(len(files) - 1, 1))
        perm = np.random.default_rng(cfg.seed).permutation(len(files))
        keep = sorted(perm[:n_test] if split == "test" else perm[n_test:])
    image_dir = root / "img_align_celeba"
    if not image_dir.is_dir():
        raise DataError(f"{image_dir}: missing CelebA image folder")
    absent = next((f for f in files if not (image_dir / f).is_file()), None)
    if absent is not None:
        raise DataError(f"{image_dir / absent}: image listed in list_attr_celeba.txt is missing")
    paths = [image_dir / files[i] for i in keep]
    labels = torch.from_numpy(values[keep])
    hair = tuple(i for i, name in enumerate(selected) if name in HAIR_COLOURS)  # exclusive, as in StarGAN
    return images_dataset(paths, labels, cfg, dict(label_names=tuple(selected), labels="attributes", source=f"{image_dir}: "
                                                   f"{len(paths)} images ({split} split)",
                                                   num_classes=len(selected), exclusive=(hair,) if len(hair) > 1 else ()))
