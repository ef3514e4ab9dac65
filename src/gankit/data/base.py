"""Dataset containers, the dataset registry and `load_dataset`.

Every dataset gives a train and a test split. Images are stored as uint8 (N, C, H, W) and served as
float batches in [-1, 1]; 2-D toy data is stored and served as float (N, 2). Small datasets live on the
training device as one tensor and batches are drawn by index (no per-step collation); large file-backed
datasets (CelebA, big image folders) decode their batch on demand with a thread pool.
"""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch

from gankit.data.image_io import read_image
from gankit.data.transforms import prepare_images, to_signed_unit
from gankit.errors import DataError
from gankit.registry import Registry

Split = Literal["train", "test"]
# Decoded image bytes above which a file-backed dataset stays on disk unless data.in_memory is true.
IN_MEMORY_LIMIT = 2 * 1024**3


@dataclass(frozen=True)
class DataInfo:
    """What a model needs to know about the data without loading it."""

    kind: Literal["image", "points"]
    shape: tuple[int, ...]  # one item: (C, H, W) or (D,)
    num_classes: int = 0  # class labels y in [0, num_classes); 0 = none
    label_names: tuple[str, ...] = ()  # class names, or attribute names for attribute labels
    labels: Literal["none", "class", "attributes"] = "none"
    exclusive: tuple[tuple[int, ...], ...] = ()  # groups of attributes of which exactly one holds (hair colour)
    source: str = ""  # the files read (for the log: `data.name: mnist` without a root reads Fashion-MNIST)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataInfo:
        return cls(kind=data["kind"], shape=tuple(data["shape"]), num_classes=data.get("num_classes", 0),
                   label_names=tuple(data.get("label_names", ())), labels=data.get("labels", "none"),
                   exclusive=tuple(tuple(group) for group in data.get("exclusive", ())), source=data.get("source", ""))


class Dataset(Protocol):
    info: DataInfo

    def __len__(self) -> int: ...

    def get(self, index: torch.Tensor) -> dict[str, torch.Tensor]: ...

    def to(self, device: torch.device | str) -> Dataset: ...


@dataclass
class TensorDataset:
    """All items in memory: `x` uint8 images (N, C, H, W) or float points (N, D); `y` optional labels;
    `extra` more per-item tensors served in every batch under their names (AttrDigits: the digit and its stroke)."""

    x: torch.Tensor
    info: DataInfo
    y: torch.Tensor | None = None
    extra: dict[str, torch.Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.y is not None and len(self.y) != len(self.x):
            raise DataError(f"{len(self.x)} items but {len(self.y)} labels")
        if any(len(v) != len(self.x) for v in self.extra.values()):
            raise DataError(f"{len(self.x)} items but per-item tensors of other lengths")

    def __len__(self) -> int:
        return len(self.x)

    def get(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        index = index.to(self.x.device)
        x = self.x[index]
        batch = {"x": to_signed_unit(x) if x.dtype == torch.uint8 else x}
        if self.y is not None:
            batch["y"] = self.y[index]
        for name, values in self.extra.items():
            batch[name] = values[index]
        return batch

    def to(self, device: torch.device | str) -> TensorDataset:
        return TensorDataset(self.x.to(device), self.info, None if self.y is None else self.y.to(device),
                             {k: v.to(device) for k, v in self.extra.items()})


@dataclass
class FirstItems:
    """The first `count` items of a dataset (all if it has fewer), with the same interface."""

    dataset: Any
    count: int

    @property
    def info(self) -> DataInfo:
        return self.dataset.info

    def __len__(self) -> int:
        return min(self.count, len(self.dataset))

    def get(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.dataset.get(index)

    def to(self, device: torch.device | str) -> FirstItems:
        return FirstItems(self.dataset.to(device), self.count)


@dataclass
class FileDataset:
    """Images decoded from files per batch (crop/resize applied on load); labels held in memory."""

    paths: list[Path]
    info: DataInfo
    y: torch.Tensor | None
    size: int
    crop: int | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    _pool: ThreadPoolExecutor | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.paths)

    def load_one(self, i: int) -> torch.Tensor:
        mode = "L" if self.info.shape[0] == 1 else "RGB"
        array = torch.from_numpy(read_image(self.paths[i], mode)).permute(2, 0, 1)[None]
        return prepare_images(array, self.size, self.crop)[0]

    def get(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=4)
        items = list(self._pool.map(self.load_one, index.tolist()))
        batch = {"x": to_signed_unit(torch.stack(items).to(self.device))}
        if self.y is not None:
            batch["y"] = self.y[index.to(self.y.device)].to(self.device)
        return batch

    def to(self, device: torch.device | str) -> FileDataset:
        return FileDataset(self.paths, self.info, self.y, self.size, self.crop, torch.device(device))

    def materialize(self) -> TensorDataset:
        """Decode everything once into a TensorDataset."""
        x = torch.stack([self.load_one(i) for i in range(len(self))]) if len(self) else torch.zeros(0, *self.info.shape, dtype=torch.uint8)
        return TensorDataset(x, self.info, self.y)


def images_dataset(paths: list[Path], labels: torch.Tensor | None, cfg, info_kwargs: dict[str, Any]) -> TensorDataset | FileDataset:
    """A file-backed image dataset, decoded into memory when small enough (or when data.in_memory)."""
    channels = cfg.channels or 3
    info = DataInfo(kind="image", shape=(channels, cfg.size, cfg.size), **info_kwargs)
    files = FileDataset(paths, info, labels, cfg.size, cfg.crop)
    in_memory = cfg.in_memory
    if in_memory is None:
        in_memory = len(paths) * channels * cfg.size**2 <= IN_MEMORY_LIMIT
    return files.materialize() if in_memory else files


def holdout_split(n: int, split: Split, seed: int, fraction: float, count: int | None) -> np.ndarray:
    """Indices of a seeded train/test partition of n items (test = first `count` of a permutation)."""
    n_test = count if count is not None else max(1, round(n * fraction))
    if n_test >= n:
        raise DataError(f"cannot hold out {n_test} test items from a dataset of {n}")
    perm = np.random.default_rng(seed).permutation(n)
    chosen = perm[:n_test] if split == "test" else perm[n_test:]
    return np.sort(chosen)


def limit(dataset: TensorDataset | FileDataset, max_images: int | None):
    if max_images is None or max_images >= len(dataset):
        return dataset
    if isinstance(dataset, TensorDataset):
        return TensorDataset(dataset.x[:max_images], dataset.info, None if dataset.y is None else dataset.y[:max_images],
                             {k: v[:max_images] for k, v in dataset.extra.items()})
    return FileDataset(dataset.paths[:max_images], dataset.info, None if dataset.y is None else dataset.y[:max_images],
                       dataset.size, dataset.crop, dataset.device)


Loader = Callable[[Any, Split], "TensorDataset | FileDataset"]
DATASETS: Registry[Loader] = Registry("dataset")

