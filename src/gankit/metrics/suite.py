"""The metric registry: each metric is a pure function of real and fake features from one extractor kind.

Inception metrics (fid, kid, is, prc, dc) need the FID Inception weights; `fd*` metrics use an offline
domain classifier (FD is a Fréchet distance in that classifier's feature space, never to be quoted as
FID); `modes` and `coverage` work on 2-D points; `accuracy` scores a run's classifier (not its generator) on
the test split.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from gankit.metrics.accuracy import classification_scores
from gankit.metrics.fid import fid_from_features
from gankit.metrics.inception_score import inception_score
from gankit.metrics.kid import kid_from_features
from gankit.metrics.modes import adagan_coverage, mode_metrics
from gankit.metrics.prdc import density_coverage, precision_recall
from gankit.registry import Registry

Features = dict[str, np.ndarray]


@dataclass(frozen=True)
class MetricOptions:
    is_splits: int = 10
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    seed: int = 2020  # KID subsets and IS shuffling, torch-fidelity's default
    modes: tuple[np.ndarray, float] | None = field(default=None, compare=False)  # toy mode centres and sigma


@dataclass(frozen=True)
class Metric:
    compute: Callable[[Features, Features, MetricOptions], dict[str, float]]
    extractor: Literal["inception", "domain", "points", "classifier"]
    description: str


METRICS: Registry[Metric] = Registry("metric")


def metric(name: str, extractor: str, description: str):
    def decorator(fn):
        METRICS.register(name)(Metric(fn, extractor, description))
        return fn

    return decorator


def _prefixed(prefix: str, scores: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}{k}": v for k, v in scores.items()}


def _fid(real, fake, o):
    return {"fid": fid_from_features(real["features"], fake["features"])}


def _kid(real, fake, o):  # fake (input1) subsets drawn first, as torch-fidelity
    return {"kid": kid_from_features(fake["features"], real["features"], o.kid_subsets, o.kid_subset_size, o.seed)[0]}


def _is(real, fake, o):
    return {"is": inception_score(fake["logits"], min(o.is_splits, len(fake["logits"])), o.seed)[0]}


def _prc(real, fake, o):
    precision, recall = precision_recall(real["features"], fake["features"], k=3)
    return {"precision": precision, "recall": recall}


def _dc(real, fake, o):
    density, coverage = density_coverage(real["features"], fake["features"], k=5)
    return {"density": density, "coverage": coverage}


def _on_domain(fn):
    """The same score on a domain classifier's features, named fd (for fid) or fd_<name>."""
    def compute(real, fake, o):
        return {("fd" if k == "fid" else f"fd_{k}"): v for k, v in fn(real, fake, o).items()}

    return compute


INCEPTION_METRICS = {"fid": (_fid, "Fréchet Inception Distance"), "kid": (_kid, "Kernel Inception Distance"),
                     "is": (_is, "Inception Score"), "prc": (_prc, "improved precision/recall, k=3"),
                     "dc": (_dc, "density/coverage, k=5")}
for _name, (_fn, _what) in INCEPTION_METRICS.items():
    METRICS.register(_name)(Metric(_fn, "inception", _what))
    METRICS.register("fd" if _name == "fid" else f"fd_{_name}")(Metric(_on_domain(_fn), "domain", f"{_what}, on the domain classifier"))


@metric("modes", "points", "toy modes covered, high-quality share, reverse KL of the mode histogram")
def _modes(real, fake, o):
    if o.modes is None:
        raise ValueError("the 'modes' metric needs data with known modes (toy2d 8gaussians, 25gaussians or gmm)")
    return mode_metrics(fake["points"], *o.modes)


@metric("coverage", "points", "AdaGAN's coverage C and KDE log-likelihood log_p")
def _coverage(real, fake, o):
    samples = fake["points"]
    cut = 1000 if len(samples) >= 1500 else (2 * len(samples)) // 3  # the card: 1,000 samples + 500 validation
    scores = adagan_coverage(real["points"][:500], samples[:cut], samples[cut:cut + 500])
    return {"C": scores["C"], "log_p": scores["log_p"]}


@metric("accuracy", "classifier", "test accuracy and error count of a semi-supervised classifier (improved_gan)")
def _accuracy(real, fake, o):
    return classification_scores(fake["logits"], real["labels"])


def default_metrics(data_cfg, info) -> list[str]:
    """Sensible metrics when none are configured: by the data the run trains on."""
    if info.kind == "points":
        return ["modes", "coverage"] if data_cfg.distribution != "swissroll" else ["coverage"]
    if default_classifier(data_cfg, info):
        return ["fd", "fd_is", "fd_kid", "fd_prc"]
    return ["fid", "is", "kid"]


def default_classifier(data_cfg, info) -> str | None:
    if data_cfg.name == "digits":
        return "digits"
    if data_cfg.name == "mnist" and info.label_names and info.label_names[0] == "T-shirt/top":
        return "fashion_mnist"
    return None
