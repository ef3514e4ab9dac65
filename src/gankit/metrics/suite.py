"""The metric registry: each metric is a pure function of real and fake features from one extractor kind.

Inception metrics (fid, kid, is, prc, dc) need the FID Inception weights; `fd*` metrics use an offline
domain classifier (FD is a Fréchet distance in that classifier's feature space, never to be quoted as
FID); `modes` and `coverage` work on 2-D points; `accuracy` scores a run's classifier (not its generator) on
the test split.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

import numpy as np

from gankit.errors import ConfigError
from gankit.metrics.accuracy import classification_scores
from gankit.metrics.class_coverage import class_coverage
from gankit.metrics.fid import fid_from_features
from gankit.metrics.inception_score import inception_score
from gankit.metrics.kid import kid_from_features
from gankit.metrics.modes import adagan_coverage, class_balance, mode_metrics
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
    """A metric declares what it needs (`extractor`: the features it is computed from), which way each of its scores
    is better (`better`: score -> "lower" | "higher"; a score it leaves out, such as a count, has no direction), which
    of its scores name a class (`labels`: an index, summarised over eval.runs by its most frequent value, never averaged,
    plotted or ranked) and the `gankit metrics` flag that selects it between two image sets (None: `gankit eval`
    only). The CLI, the report and the study read these; nothing else lists metrics or their scores."""

    compute: Callable[[Features, Features, MetricOptions], dict[str, float]]
    extractor: Literal["inception", "domain", "points", "classifier"]
    description: str
    better: dict[str, str] = field(default_factory=dict)
    flag: str | None = None
    labels: frozenset[str] = frozenset()

    def __post_init__(self):
        if bad := {k: v for k, v in self.better.items() if v not in ("lower", "higher")}:
            raise ValueError(f"metric directions must be 'lower' or 'higher', got {bad}")
        if both := sorted(set(self.better) & set(self.labels)):
            raise ValueError(f"a score that names a class has no better direction, got {both} in both")


METRICS: Registry[Metric] = Registry("metric")


def metric(name: str, extractor: str, description: str, better: dict[str, str], flag: str | None = None,
           labels: tuple[str, ...] = ()):
    """Register `fn(real, fake, options) -> {score: value}` as metric `name` (see `Metric`)."""
    def decorator(fn):
        METRICS.register(name)(Metric(fn, extractor, description, better, flag, frozenset(labels)))
        return fn

    return decorator


def is_label_score(score: str) -> bool:
    """Whether a registered metric declares `score` as naming a class (an index, not a quantity)."""
    return any(score in METRICS.get(name).labels for name in METRICS)


def score_direction(score: str) -> str | None:
    """"lower" or "higher" (which way `score` is better) as its metric declares, or None for a score no registered
    metric gives a direction (a count, or a family's own score)."""
    for name in METRICS:
        if score in (better := METRICS.get(name).better):
            return better[score]
    return None


def _prefixed(prefix: str, scores: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}{k}": v for k, v in scores.items()}


# Where each side's count comes from, in `gankit eval` and in `gankit metrics`.
_FAKE = "generated (eval.num_samples / --input1)"
_REAL = "reference (eval.num_real / --input2)"


def _need(name: str, what: str, fake: int, real: int, fake_min: int, real_min: int) -> None:
    """A one-line ConfigError naming the metric, the counts and the options that set them, when a side is short."""
    if fake < fake_min or real < real_min:
        raise ConfigError(f"{name}: {what}, got {fake} {_FAKE} and {real} {_REAL} items")


def kid_subset_size(fake: int, real: int, o: MetricOptions) -> int:
    """KID's rule: subsets of min(kid_subset_size, N_fake, N_real) items (torch-fidelity refuses instead). Needs at
    least 2 per side. Scores should record this size where it is below the option."""
    return min(o.kid_subset_size, fake, real)


def _fid(real, fake, o, name="fid"):
    _need(name, "needs at least 2 items in each set", len(fake["features"]), len(real["features"]), 2, 2)
    return {"fid": fid_from_features(real["features"], fake["features"])}


def _kid(real, fake, o, name="kid"):  # fake (input1) subsets drawn first, as torch-fidelity
    n_fake, n_real = len(fake["features"]), len(real["features"])
    _need(name, "needs at least 2 items in each set", n_fake, n_real, 2, 2)
    size = kid_subset_size(n_fake, n_real, o)
    return {"kid": kid_from_features(fake["features"], real["features"], o.kid_subsets, size, o.seed)[0]}


def _is(real, fake, o, name="is"):
    n = len(fake["logits"])
    if n < o.is_splits:
        raise ConfigError(f"{name}: {o.is_splits} splits need at least {o.is_splits} generated items, got {n} (lower "
                          "eval.is_splits / --is-splits, or raise eval.num_samples / add images to --input1)")
    return {"is": inception_score(fake["logits"], o.is_splits, o.seed)[0]}


def _prc(real, fake, o, name="prc", k=3):
    _need(name, f"precision/recall with k={k} needs more than {k} items in each set", len(fake["features"]),
          len(real["features"]), k + 1, k + 1)
    precision, recall = precision_recall(real["features"], fake["features"], k=k)
    return {"precision": precision, "recall": recall}


def _dc(real, fake, o, name="dc", k=5):
    _need(name, f"density/coverage with k={k} needs more than {k} reference items and at least 1 generated",
          len(fake["features"]), len(real["features"]), 1, k + 1)
    density, coverage = density_coverage(real["features"], fake["features"], k=k)
    return {"density": density, "coverage": coverage}


def _on_domain(fn):
    """The same score on a domain classifier's features, named fd (for fid) or fd_<name>."""
    def compute(real, fake, o):
        return {("fd" if k == "fid" else f"fd_{k}"): v for k, v in fn(real, fake, o).items()}

    return compute


# name: (function, description, directions of its scores, `gankit metrics` flag); each also on a domain classifier
INCEPTION_METRICS = {
    "fid": (_fid, "Fréchet Inception Distance", {"fid": "lower"}, "fid"),
    "kid": (_kid, "Kernel Inception Distance", {"kid": "lower"}, "kid"),
    "is": (_is, "Inception Score", {"is": "higher"}, "isc"),
    "prc": (_prc, "improved precision/recall, k=3", {"precision": "higher", "recall": "higher"}, "prc"),
    "dc": (_dc, "density/coverage, k=5", {"density": "higher", "coverage": "higher"}, "dc"),
}
DOMAIN_TWINS = {}  # inception metric -> the same metric on a domain classifier (`gankit metrics --fd`)
for _name, (_fn, _what, _better, _flag) in INCEPTION_METRICS.items():
    _domain_name = DOMAIN_TWINS[_name] = "fd" if _name == "fid" else f"fd_{_name}"
    METRICS.register(_name)(Metric(partial(_fn, name=_name), "inception", _what, _better, _flag))
    METRICS.register(_domain_name)(Metric(_on_domain(partial(_fn, name=_domain_name)), "domain",
                                          f"{_what}, on the domain classifier",
                                          {("fd" if k == "fid" else f"fd_{k}"): v for k, v in _better.items()}))


@metric("fd_classes", "domain", "class histogram of the samples as the domain classifier labels them, against the "
                                 "reference's: min/max ratio of a class's share (and which class), classes within "
                                 "+-30 %, total variation",
        {"class_ratio_min": "higher", "classes_within_30pct": "higher", "class_tv": "lower"},
        labels=("class_ratio_min_class", "class_ratio_max_class"))
def _classes(real, fake, o):
    _need("fd_classes", "needs at least 1 item in each set", len(fake["logits"]), len(real["logits"]), 1, 1)
    return class_balance(np.asarray(real["logits"]).argmax(1), np.asarray(fake["logits"]).argmax(1),
                         np.asarray(real["logits"]).shape[1])


@metric("fd_class_coverage", "domain", "coverage (k=5) within each class of the reference as the domain classifier "
                                        "labels it: the worst class's, the mean, and which class is worst",
        {"class_coverage_min": "higher", "class_coverage_mean": "higher"}, labels=("class_coverage_worst",))
def _class_coverage(real, fake, o, k=5):
    _need("fd_class_coverage", f"needs more than {k} reference items per class and at least 1 generated",
          len(fake["features"]), len(real["features"]), 1, k + 1)
    try:
        scores = class_coverage(real["features"], np.asarray(real["logits"]).argmax(1), fake["features"], k)
    except ValueError as err:
        raise ConfigError(f"fd_class_coverage: {err} (raise eval.num_real / add images to --input2)") from None
    return {"class_coverage_min": float(np.nanmin(scores)), "class_coverage_mean": float(np.nanmean(scores)),
            "class_coverage_worst": int(np.nanargmin(scores))}


@metric("modes", "points", "toy modes covered, high-quality share, reverse KL of the mode histogram",
        {"modes_covered": "higher", "high_quality": "higher", "reverse_kl": "lower"})
def _modes(real, fake, o):
    if o.modes is None:
        raise ValueError("the 'modes' metric needs data with known modes (toy2d 8gaussians, 25gaussians or gmm)")
    return mode_metrics(fake["points"], *o.modes)


@metric("coverage", "points", "AdaGAN's coverage C and KDE log-likelihood log_p", {"C": "higher", "log_p": "higher"})
def _coverage(real, fake, o):
    samples = fake["points"]
    cut = 1000 if len(samples) >= 1500 else (2 * len(samples)) // 3  # the card: 1,000 samples + 500 validation
    scores = adagan_coverage(real["points"][:500], samples[:cut], samples[cut:cut + 500])
    return {"C": scores["C"], "log_p": scores["log_p"]}


@metric("accuracy", "classifier", "test accuracy and error count of a semi-supervised classifier (improved_gan)",
        {"accuracy": "higher", "errors": "lower"})
def _accuracy(real, fake, o):
    return classification_scores(fake["logits"], real["labels"])


def default_metrics(data_cfg, info) -> list[str]:
    """Sensible metrics when none are configured: by the data the run trains on."""
    if info.kind == "points":
        return ["modes", "coverage"] if data_cfg.distribution != "swissroll" else ["coverage"]
    if default_classifier(data_cfg, info):
        return ["fd", "fd_is", "fd_kid", "fd_prc", "fd_classes"]
    return ["fid", "is", "kid"]


def default_classifier(data_cfg, info) -> str | None:
    if data_cfg.name == "digits":
        return "digits"
    if data_cfg.name == "mnist" and info.label_names and info.label_names[0] == "T-shirt/top":
        return "fashion_mnist"
    return None
