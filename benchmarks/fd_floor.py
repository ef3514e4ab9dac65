"""The floor a generator is measured against: FD (domain-classifier Fréchet distance), KID and precision/
recall between the real train and test splits, for every shipped classifier whose data is available.

    python benchmarks/fd_floor.py
"""
from __future__ import annotations

import torch

from gankit.config import DataConfig
from gankit.data import load_dataset
from gankit.data.image_io import to_uint8
from gankit.errors import DataError
from gankit.evaluate import compare_image_sets
from gankit.metrics.classifiers import CLASSIFIERS


def main() -> None:
    for name in CLASSIFIERS.names():
        spec = CLASSIFIERS.get(name)
        try:
            train = load_dataset(DataConfig(**spec.data), "train")
            test = load_dataset(DataConfig(**spec.data), "test")
        except DataError as err:
            print(f"{name}: skipped ({err})")
            continue
        n_train, n_test = min(len(train), 10_000), min(len(test), 10_000)
        a = to_uint8(train.get(torch.arange(n_train))["x"])
        b = to_uint8(test.get(torch.arange(n_test))["x"])
        scores = compare_image_sets(b, a, ["fd", "fd_kid", "fd_prc"], name)["scores"]
        print(f"{name}: test ({n_test}) vs train ({n_train}): " + ", ".join(f"{k} {v:.4g}" for k, v in scores.items()))


if __name__ == "__main__":
    main()
