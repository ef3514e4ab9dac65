"""Inception Score (Salimans et al. 2016): exp(E_x KL(p(y|x) || p(y))), from classifier logits.

`splits=10` is the original IS code's protocol (mean and std over 10 equal splits); `splits=1` is
compare_gan's single-split variant over all samples at once.
"""
from __future__ import annotations

import numpy as np
from scipy.special import log_softmax


def inception_score(logits: np.ndarray, splits: int = 10) -> tuple[float, float]:
    logits = np.asarray(logits, np.float64)
    if logits.ndim != 2 or len(logits) < splits:
        raise ValueError(f"need (N >= splits, K) logits, got {logits.shape} with splits={splits}")
    scores = []
    for part in np.array_split(logits, splits):
        log_p = log_softmax(part, axis=1)  # log p(y|x)
        log_marginal = np.log(np.exp(log_p).mean(axis=0))  # log p(y)
        kl = (np.exp(log_p) * (log_p - log_marginal)).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))
