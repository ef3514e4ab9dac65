"""The semi-supervised GAN's own losses (Salimans et al. 2016, "Improved Techniques for Training GANs";
openai/improved-gan). l: D's K class logits; the fake class is the implicit logit 0, so
log D(x) = LSE(l) - softplus(LSE(l)) and log(1 - D(x)) = -softplus(LSE(l))."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def d_supervised(logits: Tensor, labels: Tensor) -> Tensor:
    """Cross-entropy over the K real classes: -mean(l[y]) + mean(LSE(l))."""
    return torch.logsumexp(logits, 1).mean() - logits.gather(1, labels[:, None]).mean()


def d_unsupervised(real_logits: Tensor, fake_logits: Tensor, smoothing: float = 0.0) -> Tensor:
    """-1/2 [(1 - s) E log D(x) + s E log(1 - D(x)) + E log(1 - D(G(z)))]: with s = 0 the paper code's
    -1/2 mean(LSE(l_real)) + 1/2 mean(softplus(LSE(l_real))) + 1/2 mean(softplus(LSE(l_fake)));
    s > 0 is one-sided label smoothing (real target 1 - s, fake target kept at 0; section 3.4)."""
    lse_real, lse_fake = torch.logsumexp(real_logits, 1), torch.logsumexp(fake_logits, 1)
    return 0.5 * (-(1 - smoothing) * lse_real.mean() + F.softplus(lse_real).mean() + F.softplus(lse_fake).mean())


def conditional_entropy(logits: Tensor) -> Tensor:
    """Mean entropy of the K-class posterior softmax(l): -mean sum_k p_k log p_k (log K for equal logits, -> 0 as one
    class dominates). Minimized on unlabelled data it pushes D's class boundaries away from the data."""
    log_p = torch.log_softmax(logits.float(), 1)
    return -(log_p.exp() * log_p).sum(1).mean()


def g_ssl_non_saturating(fake_logits: Tensor) -> Tensor:
    """-E log D(G(z)) = mean(softplus(-LSE(l_fake))): G's loss when feature matching is off."""
    return F.softplus(-torch.logsumexp(fake_logits, 1)).mean()


def g_feature_matching(fake_features: Tensor, real_features: Tensor) -> Tensor:
    """mean((E f(G(z)) - E f(x))^2) over the features of one D layer (section 3.1)."""
    return (fake_features.mean(0) - real_features.mean(0)).pow(2).mean()


def historical_average(params: list[Tensor], averages: list[Tensor]) -> Tensor:
    """sum ||theta - mean of past theta||^2 over a player's parameters (section 3.3)."""
    return sum((p - a).pow(2).sum() for p, a in zip(params, averages, strict=True))


def _unit(d: Tensor) -> Tensor:
    """Each item's direction scaled to L2 length 1 over all its dimensions."""
    return d / d.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *[1] * (d.dim() - 1))


def _kl(log_p: Tensor, logits: Tensor) -> Tensor:
    """mean over items of KL(p || softmax(logits)), p given by its log."""
    return (log_p.exp() * (log_p - torch.log_softmax(logits.float(), 1))).sum(1).mean()


def virtual_adversarial(classify, x: Tensor, eps: float, xi: float = 1e-2) -> Tensor:
    """Virtual adversarial training (Miyato et al. 2018): KL(p(y|x) || p(y|x + r)) at the L2 perturbation r of length
    eps that changes the K-class posterior most, found by one power iteration from a random direction at length xi.
    p(y|x) is a constant (no gradient); the loss trains `classify` to be smooth around every unlabelled x."""
    r = (xi * _unit(torch.randn_like(x))).requires_grad_(True)
    with torch.no_grad():
        log_p = torch.log_softmax(classify(x).float(), 1)
    (grad,) = torch.autograd.grad(_kl(log_p, classify(x + r)), r)
    return _kl(log_p, classify(x + eps * _unit(grad)))
