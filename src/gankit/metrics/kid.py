"""Kernel Inception Distance (Bińkowski et al. 2018): the unbiased MMD^2 estimate with the cubic polynomial
kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets (torch-fidelity's protocol: subsets drawn
without replacement, same size from both sets, numpy RandomState(seed))."""
from __future__ import annotations

import numpy as np


def polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int = 3, coef0: float = 1.0) -> np.ndarray:
    return (x @ y.T / x.shape[1] + coef0) ** degree


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 between equal-sized samples x, y (m, d): within-set kernel sums exclude the diagonal."""
    m = len(x)
    if len(y) != m or m < 2:
        raise ValueError(f"need two samples of the same size >= 2, got {len(x)} and {len(y)}")
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2 * k_xy.sum() / (m * m))


def kid_from_features(features1: np.ndarray, features2: np.ndarray, subsets: int = 100, subset_size: int = 1000,
                      seed: int = 0) -> tuple[float, float]:
    """(mean, std) of the unbiased MMD^2 over `subsets` random subsets of min(subset_size, N1, N2)."""
    x, y = np.asarray(features1, np.float64), np.asarray(features2, np.float64)
    size = min(subset_size, len(x), len(y))
    rng = np.random.RandomState(seed)
    values = [mmd2_unbiased(x[rng.choice(len(x), size, replace=False)], y[rng.choice(len(y), size, replace=False)])
              for _ in range(subsets)]
    return float(np.mean(values)), float(np.std(values))
