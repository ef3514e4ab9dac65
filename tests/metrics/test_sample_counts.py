"""Each metric's minimum sample counts: fewer items than it needs is one ConfigError naming the metric, the counts
and the options that set them in `gankit eval` and `gankit metrics`; any count gives finite scores or that error."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gankit.errors import ConfigError
from gankit.metrics.suite import METRICS, MetricOptions, kid_subset_size


def _features(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"features": rng.standard_normal((n, 4)), "logits": rng.standard_normal((n, 5))}


@pytest.mark.parametrize("name, fake, real, options, fragment", [
    ("fid", 1, 5, {}, r"fid: needs at least 2 items in each set, got 1 generated \(eval.num_samples / --input1\) and 5 reference"),
    ("fd", 5, 1, {}, r"fd: needs at least 2 items .* and 1 reference \(eval.num_real / --input2\) items"),
    ("kid", 1, 9, {}, "kid: needs at least 2 items in each set"),
    ("is", 6, 6, {"is_splits": 10}, r"is: 10 splits need at least 10 generated items, got 6 \(lower eval.is_splits / --is-splits"),
    ("fd_is", 2, 0, {"is_splits": 3}, "fd_is: 3 splits need at least 3 generated items, got 2"),
    ("prc", 3, 10, {}, "prc: precision/recall with k=3 needs more than 3 items in each set, got 3 generated"),
    ("dc", 4, 5, {}, "dc: density/coverage with k=5 needs more than 5 reference items"),
    ("fd_dc", 0, 9, {}, "fd_dc: density/coverage"),
])
def test_too_few_items_name_the_metric_count_and_option(name, fake, real, options, fragment):
    with pytest.raises(ConfigError, match=fragment):
        METRICS.get(name).compute(_features(real), _features(fake, 1), MetricOptions(**options))


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(["fid", "kid", "is", "prc", "dc", "fd", "fd_kid", "fd_is", "fd_prc", "fd_dc"]),
       fake=st.integers(0, 12), real=st.integers(0, 12), splits=st.integers(1, 4))
def test_any_count_gives_finite_scores_or_a_config_error(name, fake, real, splits):
    options = MetricOptions(is_splits=splits, kid_subsets=3, kid_subset_size=1000)
    try:
        scores = METRICS.get(name).compute(_features(real), _features(fake, 1), options)
    except ConfigError as err:
        assert str(err).startswith(f"{name}: ")
        return
    assert scores and all(np.isfinite(v) for v in scores.values())


def test_kid_clamps_its_subset_size_and_says_to_what():
    from gankit.metrics.kid import kid_from_features

    real, fake, options = _features(50), _features(7, 1), MetricOptions(kid_subsets=4, kid_subset_size=1000)
    assert kid_subset_size(7, 50, options) == 7
    expected = kid_from_features(fake["features"], real["features"], 4, 7, options.seed)[0]
    assert METRICS.get("kid").compute(real, fake, options)["kid"] == pytest.approx(expected)


