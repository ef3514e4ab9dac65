import math
import warnings

import numpy as np
import pytest
import scipy.linalg

from gankit.data.toy2d import sample_toy, toy_modes
from gankit.metrics.fid import fid_from_features, fid_from_stats, gaussian_stats
from gankit.metrics.inception_score import inception_score
from gankit.metrics.kid import kid_from_features, mmd2_unbiased
from gankit.metrics.modes import adagan_coverage, kde_log_density, mode_metrics
from gankit.metrics.prdc import density_coverage, precision_recall

RNG = np.random.default_rng(0)


def test_fid_identical_is_zero_and_symmetric():
    a, b = RNG.standard_normal((300, 16)), RNG.standard_normal((300, 16)) + 0.3
    assert fid_from_features(a, a) == pytest.approx(0.0, abs=1e-9)
    assert fid_from_features(a, b) == pytest.approx(fid_from_features(b, a), rel=1e-10)


def test_fid_closed_form_for_two_gaussians():
    # Diagonal: ||m||^2 + sum(a + b - 2 sqrt(ab)).
    a, b, m = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0]), np.array([1.0, -2.0, 0.5])
    expected = m @ m + np.sum(a + b - 2 * np.sqrt(a * b))
    assert fid_from_stats(np.zeros(3), np.diag(a), m, np.diag(b)) == pytest.approx(expected, rel=1e-12)
    # Same covariance rotated: FID = 2 Tr(S) - 2 Tr((S R S R^T)^(1/2)); check against scipy's sqrtm.
    q, _ = np.linalg.qr(RNG.standard_normal((5, 5)))
    s1 = q @ np.diag([1, 2, 3, 4, 5.0]) @ q.T
    s2 = np.diag([5, 1, 2, 2, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = np.trace(s1) + np.trace(s2) - 2 * np.trace(scipy.linalg.sqrtm(s1 @ s2).real)
    assert fid_from_stats(np.zeros(5), s1, np.zeros(5), s2) == pytest.approx(ref, rel=1e-10)


def test_fid_is_stable_with_fewer_samples_than_dimensions():
    a, b = RNG.standard_normal((40, 64)), RNG.standard_normal((40, 64)) * 1.2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m1, s1 = gaussian_stats(a)
        m2, s2 = gaussian_stats(b)
        ref = (m1 - m2) @ (m1 - m2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(scipy.linalg.sqrtm(s1 @ s2).real)
    assert fid_from_stats(m1, s1, m2, s2) == pytest.approx(ref, rel=1e-6)


def test_kid_near_zero_for_one_distribution_and_positive_when_shifted():
    a, b = RNG.standard_normal((600, 8)), RNG.standard_normal((600, 8))
    same, same_std = kid_from_features(a, b, subsets=20, subset_size=200)
    shifted, _ = kid_from_features(a, b + 0.5, subsets=20, subset_size=200)
    assert abs(same) < 3 * same_std + 1e-3 and shifted > 20 * max(abs(same), 1e-4)
    # Unbiased: the estimator's mean over many draws from one distribution is ~0.
    values = [mmd2_unbiased(RNG.standard_normal((30, 4)), RNG.standard_normal((30, 4))) for _ in range(300)]
    assert abs(np.mean(values)) < 3 * np.std(values) / math.sqrt(300)


def test_kid_hand_computed_value():
    x, y = np.array([[1.0], [0.0]]), np.array([[2.0], [-1.0]])
    k = lambda u, v: (u * v + 1) ** 3
    expected = (2 * k(1, 0) + 2 * k(2, -1)) / 2 - 2 * (k(1, 2) + k(1, -1) + k(0, 2) + k(0, -1)) / 4
    assert mmd2_unbiased(x, y) == pytest.approx(expected)


def test_inception_score_bounds():
    assert inception_score(np.zeros((100, 10)), splits=10)[0] == pytest.approx(1.0)
    confident = np.full((100, 10), -50.0)
    confident[np.arange(100), np.arange(100) % 10] = 50.0
    mean, std = inception_score(confident, splits=10, shuffle_seed=None)
    assert mean == pytest.approx(10.0, rel=1e-6) and std < 1e-6
    assert inception_score(confident, splits=1)[0] == pytest.approx(10.0, rel=1e-6)


def test_inception_score_splits_as_torch_fidelity():
    """Split i holds rows i*N//splits .. (i+1)*N//splits - 1 of the shuffled samples."""
    logits = RNG.standard_normal((7, 4)) * 3
    perm = np.random.RandomState(5).permutation(7)

    def score(part):
        p = np.exp(part) / np.exp(part).sum(1, keepdims=True)
        return np.exp((p * (np.log(p) - np.log(p.mean(0)))).sum(1).mean())

    shuffled = logits[perm]
    expected = [score(shuffled[0:2]), score(shuffled[2:4]), score(shuffled[4:7])]
    mean, std = inception_score(logits, splits=3, shuffle_seed=5)
    assert mean == pytest.approx(np.mean(expected)) and std == pytest.approx(np.std(expected))


def test_precision_recall_density_coverage():
    a = RNG.standard_normal((200, 5))
    assert precision_recall(a, a, k=3) == (1.0, 1.0)
    density, coverage = density_coverage(a, a, k=5)
    assert coverage == 1.0 and density == pytest.approx(1.0, abs=0.2)
    far = a + 100
    assert precision_recall(a, far) == (0.0, 0.0) and density_coverage(a, far) == (0.0, 0.0)
    half = np.concatenate([a[:100], far[:100]])  # half the fakes on the real manifold
    precision, _ = precision_recall(a, half)
    assert precision == pytest.approx(0.5, abs=0.02)


def test_metrics_do_not_depend_on_sample_order():
    a, b = RNG.standard_normal((150, 6)), RNG.standard_normal((150, 6)) + 0.2
    perm = RNG.permutation(150)
    assert fid_from_features(a, b) == pytest.approx(fid_from_features(a[perm], b), rel=1e-9)
    assert precision_recall(a, b) == precision_recall(a[perm], b[perm])


def test_mode_metrics_on_perfect_and_collapsed_samples():
    centres, std = toy_modes("25gaussians")
    rng = np.random.default_rng(1)
    samples, _ = sample_toy("25gaussians", 2500, rng)
    perfect = mode_metrics(samples, centres, std)
    assert perfect["modes_covered"] == 25
    assert perfect["high_quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.01)  # P(r <= 3 sigma) in 2-D
    assert perfect["reverse_kl"] < 0.02
    collapsed = mode_metrics(np.repeat(centres[:3], 800, axis=0), centres, std)
    assert collapsed["modes_covered"] == 3 and collapsed["reverse_kl"] == pytest.approx(math.log(25 / 3), rel=1e-6)


def test_kde_matches_the_gaussian_formula():
    points, query = np.array([[0.0, 0.0], [2.0, 0.0]]), np.array([[1.0, 0.0]])
    h = 0.5
    expected = math.log(math.exp(-1 / (2 * h * h)) / (2 * math.pi * h * h))
    assert kde_log_density(points, query, h)[0] == pytest.approx(expected)


def test_adagan_coverage_of_the_true_gmm_matches_the_card_scale():
    # ../shared/reference/adagan.md: a perfect model on the 10-mode GMM scores about log_p -2.2, C 0.89.
    rng = np.random.default_rng(0)
    real, _ = sample_toy("gmm", 500, rng, 10, 0)
    samples, _ = sample_toy("gmm", 1000, rng, 10, 0)
    validation, _ = sample_toy("gmm", 500, rng, 10, 0)
    scores = adagan_coverage(real, samples, validation)
    assert scores["log_p"] == pytest.approx(-2.2, abs=0.15) and scores["C"] == pytest.approx(0.89, abs=0.04)
    spread = adagan_coverage(real, samples * 1.5, validation * 1.5)  # too much spread: worse likelihood
    assert spread["log_p"] < scores["log_p"] - 1
