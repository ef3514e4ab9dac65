"""2-D toy distributions: the WGAN-GP paper's 8gaussians, 25gaussians and swissroll (gan_toy.py) and
AdaGAN's seeded Gaussian mixture (adagan_gmm.py).

The reference draws 8gaussians and swissroll afresh every batch; here every split is a finite, seeded
sample (`data.num_train`, `data.num_test` points) from the same distribution, so runs are repeatable.
The mode label of each point is kept as `y` where the distribution has modes.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from gankit.data.base import DATASETS, DataInfo, TensorDataset
from gankit.errors import ConfigError

GMM_MAX_VAL = 15.0  # AdaGAN: means ~ U[-15, 15]^2


def gmm_variance_factor(modes: int, dim: int = 2) -> float:
    """AdaGAN's per-mode variance divisor: variance = 15 / factor (0.05 for 10 modes in 2-D)."""
    small = {1: 3, 2: 3, 3: 8, 4: 20, 5: 10}
    return small[modes] ** (2.0 / dim) if modes in small else modes**2 * 3.0


def toy_modes(distribution: str, modes: int = 10, seed: int = 0) -> tuple[np.ndarray, float]:
    """Mode centres (M, 2) and the per-axis standard deviation around them, in data coordinates."""
    if distribution == "8gaussians":
        r = 1 / math.sqrt(2)
        unit = [(1, 0), (-1, 0), (0, 1), (0, -1), (r, r), (r, -r), (-r, r), (-r, -r)]
        return np.array(unit) * 2.0 / 1.414, 0.02 / 1.414
    if distribution == "25gaussians":
        grid = np.array([(2.0 * x, 2.0 * y) for x in range(-2, 3) for y in range(-2, 3)])
        return grid / 2.828, 0.05 / 2.828
    if distribution == "gmm":
        means = np.random.RandomState(seed).uniform(-GMM_MAX_VAL, GMM_MAX_VAL, size=(modes, 2))
        return means, math.sqrt(GMM_MAX_VAL / gmm_variance_factor(modes))
    raise ConfigError(f"data.distribution '{distribution}' has no modes; valid: 8gaussians, 25gaussians, gmm")


def sample_toy(distribution: str, n: int, rng: np.random.Generator, modes: int = 10, seed: int = 0):
    """n points (float32 (n, 2)) and their mode labels (int64 (n,), or None for swissroll)."""
    if distribution == "swissroll":
        from sklearn.datasets import make_swiss_roll

        points = make_swiss_roll(n_samples=n, noise=0.25, random_state=int(rng.integers(2**31)))[0]
        return (points[:, [0, 2]] / 7.5).astype(np.float32), None
    centres, std = toy_modes(distribution, modes, seed)
    if distribution == "25gaussians":  # the reference: equal counts per mode, shuffled
        label = rng.permutation(np.arange(n) % len(centres))
    else:  # uniform choice of mode per point
        label = rng.integers(len(centres), size=n)
    points = centres[label] + std * rng.standard_normal((n, 2))
    return points.astype(np.float32), label.astype(np.int64)


@DATASETS.register("toy2d")
def load_toy2d(cfg, split) -> TensorDataset:
    if cfg.distribution not in ("8gaussians", "25gaussians", "swissroll", "gmm"):
        raise ConfigError(f"unknown data.distribution '{cfg.distribution}'; valid: 25gaussians, 8gaussians, gmm, swissroll")
    n = cfg.num_train if split == "train" else cfg.num_test
    rng = np.random.default_rng([cfg.seed, 0 if split == "train" else 1])
    points, label = sample_toy(cfg.distribution, n, rng, cfg.modes, cfg.seed)
    num_modes = 0 if label is None else len(toy_modes(cfg.distribution, cfg.modes, cfg.seed)[0])
    info = DataInfo(kind="points", shape=(2,), num_classes=num_modes, labels="none" if label is None else "class")
    return TensorDataset(torch.from_numpy(points), info, None if label is None else torch.from_numpy(label))
