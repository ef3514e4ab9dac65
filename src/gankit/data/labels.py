"""The semi-supervised protocol's labelled subset: N labels per class from a seeded permutation of the
train split (openai/improved-gan: permute, then the first N of each class); the rest stays unlabelled.
The test split is never read here."""
from __future__ import annotations

import numpy as np
import torch

from gankit.errors import DataError


def labelled_subset(labels: torch.Tensor, per_class: int | None, seed: int) -> torch.Tensor:
    """Indices (int64, in permutation order) of `per_class` items of each class; None = every item."""
    labels = labels.cpu()
    if per_class is None:
        return torch.arange(len(labels))
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(labels)))
    permuted = labels[order]
    chosen = []
    for k in torch.unique(labels).tolist():
        rows = order[permuted == k][:per_class]
        if len(rows) < per_class:
            raise DataError(f"ssl.labels_per_class is {per_class} but class {k} has only {len(rows)} training items")
        chosen.append(rows)
    picked = torch.cat(chosen)
    return order[torch.isin(order, picked)]  # back in permutation order, classes interleaved


def class_counts(labels: torch.Tensor, num_classes: int) -> list[int]:
    return torch.bincount(labels.cpu(), minlength=num_classes).tolist()
