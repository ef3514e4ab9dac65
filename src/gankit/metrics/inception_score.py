"""Inception Score (Salimans et al. 2016): exp(E_x KL(p(y|x) || p(y))), from classifier logits.

`splits=10` is the original IS code's protocol (mean and std over 10 splits); `splits=1` is compare_gan's
single-split variant over all samples at once. As torch-fidelity, samples are shuffled with
numpy RandomState(shuffle_seed) first (2020 by default; None keeps the order) and split i holds rows
i*N//splits .. (i+1)*N//splits - 1.
"""
from __future__ import annotations

import numpy as np
from scipy.special import log_softmax


def inception_score(logits: np.ndarray, splits: int = 10, shuffle_seed: int | None = 2020) -> tuple[float, float]:
    logits = np.asarray(logits, np.float64)
    n = len(logits)
    if logits.ndim != 2 or n < splits:
        raise ValueError(f"need (N >= splits, K) logits, got {logits.shape} with splits={splits}")
    if shuffle_seed is not None:
        logits = logits[np.random.RandomState(shuffle_seed).permutation(n)]
    log_p = log_softmax(logits, axis=1)  # log p(y|x)
    scores = []
    for i in range(splits):
        part = log_p[i * n // splits:(i + 1) * n // splits]
        log_marginal = np.log(np.exp(part).mean(axis=0))  # log p(y) within the split
        scores.append(np.exp((np.exp(part) * (part - log_marginal)).sum(axis=1).mean()))
    return float(np.mean(scores)), float(np.std(scores))
