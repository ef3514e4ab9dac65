"""Mode metrics: class balance of image samples as a classifier labels them, and 2-D toy data with known modes.

- Class balance (a real dataset's modes are its classes): the share of samples the domain classifier puts in each
  class against the share of the real reference images it puts there; the smallest and largest ratio, the classes
  within +-30 % of the reference share, the total variation distance between the two histograms, and which class
  (index) has the smallest and the largest ratio.

- Mode-collapse benchmark (VEEGAN, PacGAN): a sample is "high quality" if it lies within 3 sigma of some
  mode centre; a mode is covered if it holds at least `min_share` (default 0.2) of the samples a uniform
  mixture would give it (PacGAN: 20 of 2,500 samples on 25 modes); reverse KL of the mode histogram of
  high-quality samples against the true (uniform) mode weights.
- AdaGAN (Tolstikhin et al. 2017, `metrics.py`): a Gaussian KDE fitted to model samples, its bandwidth
  chosen on a grid median(||s_i - s_(i+1)||) * 2^(k - 7), k = 0..13, by mean log-likelihood of a second
  set of model samples; log_p = mean KDE log-density of real points; C = share of real points whose
  log-density exceeds the 5th percentile of the samples' own log-densities.
"""
from __future__ import annotations

import math

import numpy as np
import torch


def class_balance(real_labels, fake_labels, num_classes: int, tolerance: float = 0.3) -> dict[str, float]:
    """Class histogram of the samples against the reference's (both as predicted labels in [0, num_classes))."""
    expected = np.bincount(np.asarray(real_labels), minlength=num_classes) / len(real_labels)
    found = np.bincount(np.asarray(fake_labels), minlength=num_classes) / len(fake_labels)
    present = expected > 0  # a class the classifier never sees in the reference has no share to match
    ratio = found[present] / expected[present]
    classes = np.flatnonzero(present)
    return {"class_ratio_min": float(ratio.min()), "class_ratio_max": float(ratio.max()),
            "classes_within_30pct": float(np.sum(np.abs(ratio - 1) <= tolerance + 1e-12)),
            "class_tv": float(0.5 * np.abs(found - expected).sum()),
            "class_ratio_min_class": int(classes[ratio.argmin()]), "class_ratio_max_class": int(classes[ratio.argmax()])}


def mode_metrics(samples, centres, std: float, min_share: float = 0.2, weights=None) -> dict[str, float]:
    samples, centres = np.asarray(samples, np.float64), np.asarray(centres, np.float64)
    d = np.linalg.norm(samples[:, None, :] - centres[None, :, :], axis=2)  # (N, M)
    nearest, dist = d.argmin(axis=1), d.min(axis=1)
    good = dist <= 3 * std
    m = len(centres)
    counts = np.bincount(nearest[good], minlength=m)
    threshold = min_share * len(samples) / m
    weights = np.full(m, 1.0 / m) if weights is None else np.asarray(weights, np.float64)
    q = counts / counts.sum() if counts.sum() else np.zeros(m)
    nonzero = q > 0
    reverse_kl = float((q[nonzero] * np.log(q[nonzero] / weights[nonzero])).sum()) if counts.sum() else math.inf
    return {"modes_covered": int((counts >= threshold).sum()), "modes_total": m,
            "high_quality": float(good.mean()), "reverse_kl": reverse_kl}


def kde_log_density(points, queries, bandwidth: float) -> np.ndarray:
    """log of (1/n) sum_i N(query; point_i, h^2 I): a Gaussian KDE as sklearn's KernelDensity."""
    p, q = torch.as_tensor(np.asarray(points), dtype=torch.float64), torch.as_tensor(np.asarray(queries), dtype=torch.float64)
    d = p.shape[1]
    sq = torch.cdist(q, p).square()  # (n_queries, n_points)
    log_kernel = -sq / (2 * bandwidth**2) - 0.5 * d * math.log(2 * math.pi * bandwidth**2)
    return (torch.logsumexp(log_kernel, dim=1) - math.log(len(p))).numpy()


def select_bandwidth(samples, validation) -> float:
    samples = np.asarray(samples, np.float64)
    base = float(np.median(np.linalg.norm(samples[:-1] - samples[1:], axis=1)))
    grid = base * 2.0 ** (np.arange(14) - 7.0)
    scores = [kde_log_density(samples, validation, h).mean() for h in grid]
    return float(grid[int(np.argmax(scores))])


def adagan_coverage(real, samples, validation) -> dict[str, float]:
    """AdaGAN's C and log_p (card: 500 real points, 1,000 samples, 500 validation samples)."""
    bandwidth = select_bandwidth(samples, validation)
    model_density = kde_log_density(samples, samples, bandwidth)
    real_density = kde_log_density(samples, real, bandwidth)
    threshold = np.percentile(model_density, 5)
    return {"C": float(1.0 - np.mean(real_density <= threshold)), "log_p": float(real_density.mean()),
            "bandwidth": bandwidth}
