"""Datasets (train and test splits, images in [-1, 1]), transforms, image I/O and the batch sampler."""
from gankit.data import attr_digits, celeba, cifar10, digits, image_folder, mnist, toy2d  # noqa: F401  (registration)
from gankit.data.base import DATASETS, DataInfo, FileDataset, TensorDataset, load_dataset
from gankit.data.sampler import InfiniteSampler

__all__ = ["DATASETS", "DataInfo", "FileDataset", "InfiniteSampler", "TensorDataset", "load_dataset"]
