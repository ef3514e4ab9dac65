"""k-NN manifold metrics on features.

Improved precision and recall (Kynkäänniemi et al. 2019, k = 3): a sample lies on the other set's manifold
if it is within the k-NN radius of at least one of that set's points. Density and coverage (Naeem et al.
2020): density counts how many real-sample balls hold each fake (divided by k), coverage is the share of
real balls that hold at least one fake.
"""
from __future__ import annotations

import numpy as np
import torch

BLOCK = 2048  # rows of the distance matrix held at once: memory stays O(BLOCK * N)


def knn_radii(features: torch.Tensor, k: int) -> torch.Tensor:
    """Distance of each point to its k-th nearest neighbour in the same set (itself excluded)."""
    if len(features) <= k:
        raise ValueError(f"need more than k={k} points, got {len(features)}")
    # The smallest distance in each row is the point to itself (0), so take the (k+1)-th.
    return torch.cat([torch.cdist(features[i:i + BLOCK], features).kthvalue(k + 1, dim=1).values
                      for i in range(0, len(features), BLOCK)])


def _inside_any(queries: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per query: inside any ball (bool); per query: how many balls hold it; per centre: holds any query."""
    inside_any, counts = [], []
    holds = torch.zeros(len(centres), dtype=torch.bool)
    for i in range(0, len(queries), BLOCK):
        inside = torch.cdist(queries[i:i + BLOCK], centres) <= radii[None, :]  # (block, n_centres)
        inside_any.append(inside.any(dim=1))
        counts.append(inside.sum(dim=1))
        holds |= inside.any(dim=0)
    return torch.cat(inside_any), torch.cat(counts), holds


def _as_tensor(x) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x), dtype=torch.float64)


def precision_recall(real, fake, k: int = 3) -> tuple[float, float]:
    real, fake = _as_tensor(real), _as_tensor(fake)
    precision = _inside_any(fake, real, knn_radii(real, k))[0].double().mean()
    recall = _inside_any(real, fake, knn_radii(fake, k))[0].double().mean()
    return float(precision), float(recall)


def density_coverage(real, fake, k: int = 5) -> tuple[float, float]:
    real, fake = _as_tensor(real), _as_tensor(fake)
    _, counts, holds = _inside_any(fake, real, knn_radii(real, k))
    return float(counts.double().sum() / (k * len(fake))), float(holds.double().mean())
