"""AdaGAN's boosting rules (Tolstikhin et al. 2017; reference `adagan.py`): pure functions of the density ratios, and
the real-vs-mixture classifier that estimates them (`train_classifier`, seeded; `data_weights`).

After t components, a classifier C separates real data from mixture samples; with p_i = C(x_i) the
probability that data point i is real, r_i = (1 - p_i) / (p_i + 1e-8) estimates dP_model/dP_data at x_i.
The next component trains on data drawn with weights that favour points the mixture misses (small r).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gankit.models.toy import mlp


def next_mixture_weight(t: int, heuristic: str = "uniform", constant: float = 0.5) -> float:
    """beta_t for component t (0-based): 1 for the first; 1/(t+1) ('uniform', a uniform mixture) or a constant."""
    if t == 0:
        return 1.0
    if heuristic == "uniform":
        return 1.0 / (t + 1)
    if heuristic == "constant":
        if not 0.0 <= constant <= 1.0:
            raise ValueError(f"constant beta must be in [0, 1], got {constant}")
        return constant
    raise ValueError(f"unknown beta heuristic '{heuristic}'; valid: constant, uniform")


def density_ratios(prob_real: np.ndarray) -> np.ndarray:
    prob_real = np.asarray(prob_real, np.float64)
    return (1.0 - prob_real) / (prob_real + 1e-8)


def mixture_weights_after(weights: list[float], beta: float) -> list[float]:
    """Old weights scaled by (1 - beta), the new component appended with beta."""
    return [w * (1.0 - beta) for w in weights] + [beta] if weights else [beta]


def theory_star_weights(ratios: np.ndarray, beta: float) -> np.ndarray:
    """The paper's eq. (17)-(18): find lambda with (1-beta) r_(i) <= lambda <= (1-beta) r_(i+1), where
    lambda_i = (beta N + (1-beta) S_i) / (i+1) and S_i the cumulative sum of sorted ratios; then
    w_j = max(lambda - (1-beta) r_j, 0) / (N beta), renormalised. Uniform if no lambda qualifies."""
    ratios = np.asarray(ratios, np.float64)
    n = len(ratios)
    ordered = np.sort(ratios)
    cumulative = np.cumsum(ordered)
    lam = (beta * n + (1 - beta) * cumulative) / np.arange(1, n + 1)
    upper = np.append((1 - beta) * ordered[1:], np.inf)
    ok = (lam >= (1 - beta) * ordered) & (lam <= upper)
    if not ok.any():
        return np.full(n, 1.0 / n)
    chosen = lam[int(np.argmax(ok))]
    weights = np.clip(chosen - (1 - beta) * ratios, 0, None) / (n * beta)
    return weights / weights.sum()


def theory_dagger_weights(ratios: np.ndarray, beta: float) -> np.ndarray:
    """The paper's Theorem 2 rule: w_j = max(1 - lambda (1-beta) r_j, 0) / (N beta) for the lambda found
    among the sorted ratios (the first i >= N beta - 1 that brackets it); uniform if none qualifies."""
    ratios = np.asarray(ratios, np.float64)
    n = len(ratios)
    ordered = np.sort(ratios)
    cumulative = np.cumsum(ordered)
    for i in range(max(int(np.floor(n * beta - 1)), 0), n):
        if (i + 1.0) / n < beta:
            continue
        lam = ((i + 1.0) / n - beta) / (1.0 - beta) * n / (cumulative[i] + 1e-7)
        below = lam < 1.0 / (1.0 - beta) / (ordered[i] + 1e-7)
        above = i == n - 1 or lam >= 1.0 / (1.0 - beta) / (ordered[i + 1] + 1e-7)
        if below and above:
            weights = np.clip(1.0 - lam * (1 - beta) * ratios, 0, None) / (n * beta)
            weights[ratios > 1.0 / (1.0 - beta) / lam] = 0.0
            return weights / weights.sum()
    return np.full(n, 1.0 / n)


def topk_weights(ratios: np.ndarray, fraction: float = 0.5) -> np.ndarray:
    """Uniform weight on the `fraction` of points with the smallest ratios (the most missed), zero elsewhere."""
    ratios = np.asarray(ratios, np.float64)
    mask = ratios <= np.percentile(ratios, fraction * 100.0)
    return mask / mask.sum()


REWEIGHTING = {"theory_star": theory_star_weights, "theory_dagger": theory_dagger_weights}


def train_classifier(real: torch.Tensor, fake: torch.Tensor, cfg, seed: int) -> nn.Module:
    """Real (label 1) vs mixture (label 0) with BCE and Adam; an MLP shaped like the discriminator."""
    torch.manual_seed(seed)
    dim = real.shape[1]
    net = mlp([dim, cfg.model.d_dim, cfg.model.d_dim, 1], activation=cfg.model.activation)
    x = torch.cat([real, fake])
    y = torch.cat([torch.ones(len(real)), torch.zeros(len(fake))])
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.boost.classifier_lr, betas=(cfg.optim.beta1, 0.999), fused=True)
    b = cfg.boost.classifier_batch_size
    generator = torch.Generator().manual_seed(seed)
    for _ in range(cfg.boost.classifier_epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(order) - b + 1, b):
            idx = order[start:start + b]
            loss = F.binary_cross_entropy_with_logits(net(x[idx]).squeeze(1), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return net.eval()


def data_weights(cfg, real: torch.Tensor, mixture_samples: torch.Tensor, beta: float, seed: int) -> np.ndarray:
    """Weights of the training points for the next component (sum 1)."""
    classifier = train_classifier(real, mixture_samples, cfg, seed)
    with torch.no_grad():
        prob_real = torch.sigmoid(classifier(real).squeeze(1)).double().numpy()
    ratios = density_ratios(prob_real)
    if cfg.boost.reweight == "topk":
        return topk_weights(ratios, cfg.boost.topk_fraction)
    return REWEIGHTING[cfg.boost.reweight](ratios, beta)
