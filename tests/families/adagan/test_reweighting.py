import numpy as np
import pytest

from gankit.families.adagan.reweighting import (
    density_ratios,
    mixture_weights_after,
    next_mixture_weight,
    theory_dagger_weights,
    theory_star_weights,
    topk_weights,
)


def reference_theory_star(ratios, beta):
    """A direct, loop-by-loop reading of the paper's eq. (17)-(18), to check the vectorised version."""
    n = len(ratios)
    ordered = np.sort(ratios)
    cumulative = np.cumsum(ordered)
    for i in range(n):
        lam = beta * n * (1 + (1 - beta) / beta / n * cumulative[i]) / (i + 1)
        last = i == n - 1
        if (last and lam >= (1 - beta) * ordered[-1]) or (not last and (1 - beta) * ordered[i] <= lam <= (1 - beta) * ordered[i + 1]):
            w = np.where(ratios <= lam / (1 - beta), (lam - (1 - beta) * ratios) / n / beta, 0.0)
            return w / w.sum()
    return np.full(n, 1 / n)


def test_mixture_weights_follow_beta():
    assert [next_mixture_weight(t) for t in range(4)] == [1.0, 0.5, 1 / 3, 0.25]
    weights = []
    for t in range(4):
        weights = mixture_weights_after(weights, next_mixture_weight(t))
    assert weights == pytest.approx([0.25] * 4)  # beta = 1/(t+1) keeps the mixture uniform
    assert mixture_weights_after([1.0], 0.3) == pytest.approx([0.7, 0.3])
    with pytest.raises(ValueError, match="unknown beta heuristic"):
        next_mixture_weight(2, "greedy")


@pytest.mark.parametrize("beta", [0.5, 0.25, 0.1])
def test_theory_star_matches_the_paper_and_favours_missed_points(beta):
    rng = np.random.default_rng(0)
    ratios = density_ratios(rng.uniform(0.05, 0.95, size=200))
    weights = theory_star_weights(ratios, beta)
    np.testing.assert_allclose(weights, reference_theory_star(ratios, beta), rtol=1e-10, atol=1e-15)
    assert weights.sum() == pytest.approx(1.0) and (weights >= 0).all()
    order = np.argsort(ratios)
    assert weights[order[0]] >= weights[order[-1]]  # the most missed point weighs most
    assert np.all(np.diff(weights[order]) <= 1e-15)  # weights never increase with the ratio


def test_theory_star_on_a_perfect_mixture_is_uniform():
    # r = 1 everywhere (the mixture equals the data): lambda = 1 - beta + beta = 1 and every weight equal.
    weights = theory_star_weights(np.ones(10), 0.5)
    np.testing.assert_allclose(weights, np.full(10, 0.1))


def test_theory_dagger_and_topk():
    rng = np.random.default_rng(1)
    ratios = density_ratios(rng.uniform(0.05, 0.95, size=100))
    dagger = theory_dagger_weights(ratios, 0.3)
    assert dagger.sum() == pytest.approx(1.0) and (dagger >= 0).all()
    order = np.argsort(ratios)
    assert dagger[order[0]] >= dagger[order[-1]]
    top = topk_weights(ratios, 0.25)
    assert (top > 0).sum() == 25 and set(np.flatnonzero(top)) == set(order[:25])
