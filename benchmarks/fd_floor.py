"""The floor a generator is measured against: FD (domain-classifier Fréchet distance), KID, precision/recall,
density/coverage and the class balance between real image sets, for every shipped classifier whose data is here:
the test split against the training split, and one half of the training split against the other.

    python benchmarks/fd_floor.py [NAME ...]
"""
from __future__ import annotations

import argparse

import torch

from gankit.apps.evaluate import compare_image_sets
from gankit.config import DataConfig
from gankit.data import load_dataset
from gankit.data.image_io import to_uint8
from gankit.errors import DataError
from gankit.metrics.classifiers import CLASSIFIERS

METRICS = ["fd", "fd_kid", "fd_prc", "fd_dc", "fd_classes"]


def images(dataset, start: int, count: int) -> torch.Tensor:
    return to_uint8(dataset.get(torch.arange(start, start + count))["x"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=CLASSIFIERS.names())
    args = parser.parse_args()
    for name in args.names:
        spec = CLASSIFIERS.get(name)
        try:
            train = load_dataset(DataConfig(**spec.data), "train")
            test = load_dataset(DataConfig(**spec.data), "test")
        except DataError as err:
            print(f"{name}: skipped ({err})")
            continue
        n = min(len(train) // 2, len(test), 10_000)
        pairs = {f"test ({n}) vs train (first {n})": (images(test, 0, n), images(train, 0, n)),
                 f"train (first {n}) vs train (next {n})": (images(train, n, n), images(train, 0, n))}
        for label, (fake, real) in pairs.items():
            scores = compare_image_sets(fake, real, METRICS, name)["scores"]
            print(f"{name}: {label}: " + ", ".join(f"{k} {v:.4g}" for k, v in scores.items()), flush=True)


if __name__ == "__main__":
    main()
