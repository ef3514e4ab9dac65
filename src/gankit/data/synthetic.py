"""Random data shaped like a dataset that is not on disk, so `gankit bench` can time any preset (a step's
cost depends on shapes, not on pixel values). Never used for training."""
from __future__ import annotations

import torch

from gankit.data.base import DataInfo, TensorDataset
from gankit.data.celeba import HAIR_COLOURS
from gankit.errors import DataError

# The file-backed datasets: channels and labels as their loaders produce them (celeba below, from its config).
_IMAGES = {"mnist": (1, "class", 10), "cifar10": (3, "class", 10), "image_folder": (3, "none", 0)}
EMBEDDED = ("digits", "attr_digits", "toy2d")  # generated or shipped: always loadable, never needs a stand-in


def synthetic_info(cfg) -> DataInfo:
    """The DataInfo the loader of `cfg` (a DataConfig) would give, without reading files."""
    if cfg.name == "celeba":
        names = tuple(cfg.attributes)
        if not names:
            raise DataError("data.attributes: synthetic CelebA needs the attribute names to select")
        hair = tuple(i for i, name in enumerate(names) if name in HAIR_COLOURS)
        return DataInfo(kind="image", shape=(cfg.channels or 3, cfg.size, cfg.size), num_classes=len(names),
                        label_names=names, labels="attributes", exclusive=(hair,) if len(hair) > 1 else ())
    if cfg.name not in _IMAGES:
        if cfg.name in EMBEDDED:
            raise DataError(f"data.name '{cfg.name}': ships with gankit, no synthetic stand-in needed")
        raise DataError(f"data.name '{cfg.name}': no synthetic stand-in is declared (gankit.data.synthetic); "
                        "bench it on its files")
    channels, labels, classes = _IMAGES[cfg.name]
    return DataInfo(kind="image", shape=(cfg.channels or channels, cfg.size, cfg.size), num_classes=classes,
                    label_names=tuple(str(i) for i in range(classes)), labels=labels)


def synthetic_dataset(cfg, n: int, seed: int = 0) -> TensorDataset:
    """`n` uniform random uint8 images (and labels) with the shape of `cfg`'s dataset."""
    info = synthetic_info(cfg)
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, *info.shape), generator=g, dtype=torch.uint8)
    if info.labels == "class":
        y = torch.randint(0, info.num_classes, (n,), generator=g)
    elif info.labels == "attributes":
        y = torch.randint(0, 2, (n, info.num_classes), generator=g).float()
        for group in info.exclusive:  # exactly one of a group, as real labels
            y[:, list(group)] = 0
            y[torch.arange(n), torch.tensor(group)[torch.randint(0, len(group), (n,), generator=g)]] = 1
    else:
        y = None
    return TensorDataset(x, info, y)
