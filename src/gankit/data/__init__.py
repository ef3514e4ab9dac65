"""Datasets (train and test splits, images in [-1, 1]), transforms, image I/O and the batch sampler."""
from gankit.data import attr_digits, celeba, cifar10, digits, image_folder, mnist, toy2d  # noqa: F401  (registration)
from gankit.data.base import DATASETS, DataInfo, FileDataset, Split, TensorDataset, limit
from gankit.data.sampler import InfiniteSampler
from gankit.errors import ConfigError


def load_dataset(cfg, split: Split = "train") -> TensorDataset | FileDataset:
    """Build the `split` of the dataset that `cfg` (a DataConfig) names (every loader is registered above)."""
    dataset = limit(DATASETS.get(cfg.name)(cfg, split), cfg.max_images)
    if (cfg.hflip or cfg.shift) and dataset.info.kind != "image":  # a flip of (N, D) points broadcast to (N, 1, N, D)
        raise ConfigError(f"data.hflip and data.shift move image pixels; data '{cfg.name}' gives {dataset.info.kind}")
    return dataset


__all__ = ["DATASETS", "DataInfo", "FileDataset", "InfiniteSampler", "TensorDataset", "load_dataset"]
