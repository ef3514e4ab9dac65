"""Per-class coverage (the metric added to show that a metric is one function plus one registration): closed forms
on separated clusters, and the direction its scores declare for the CLI and study ranking."""
import numpy as np
import pytest

from gankit.errors import ConfigError
from gankit.metrics.class_coverage import class_coverage
from gankit.metrics.suite import METRICS, Metric, MetricOptions, is_label_score, score_direction


def clusters(n_per_class: int, classes: int, seed: int = 0):
    """Points around well-separated centres (100 apart, spread 1): (features, labels, one-hot logits)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), n_per_class)
    features = rng.normal(size=(len(labels), 4)) + 100.0 * labels[:, None]
    return features, labels, np.eye(classes)[labels]


def test_samples_equal_to_the_reference_cover_every_class():
    features, labels, _ = clusters(20, 3)
    np.testing.assert_array_equal(class_coverage(features, labels, features), np.ones(3))


def test_a_dropped_class_has_zero_coverage_and_is_named_worst():
    features, labels, logits = clusters(30, 4)
    fake = features[labels != 2]  # every class but 2, exactly
    np.testing.assert_array_equal(class_coverage(features, labels, fake), [1.0, 1.0, 0.0, 1.0])
    scores = METRICS.get("fd_class_coverage").compute({"features": features, "logits": logits}, {"features": fake},
                                                      MetricOptions())
    assert scores == {"class_coverage_min": 0.0, "class_coverage_mean": 0.75, "class_coverage_worst": 2}


def test_half_of_a_class_covered():
    features, labels, _ = clusters(40, 2, seed=1)
    cls0 = features[labels == 0]
    order = np.argsort(cls0[:, 0])  # the half with the smallest first coordinate, exactly
    fake = np.concatenate([cls0[order[:20]], features[labels == 1]])
    coverage = class_coverage(features, labels, fake)
    assert coverage[1] == 1.0 and 0.5 <= coverage[0] < 1.0  # at least its own 20; not the far side of the cluster


def test_too_few_items_in_a_class_is_a_one_line_error():
    features, labels, logits = clusters(3, 2)
    with pytest.raises(ConfigError, match="fd_class_coverage: class 0 has 3 reference items"):
        METRICS.get("fd_class_coverage").compute({"features": features, "logits": logits},
                                                 {"features": features}, MetricOptions())


def test_directions_are_declared_by_the_metrics():
    assert score_direction("class_coverage_min") == "higher" and score_direction("class_coverage_worst") is None
    assert score_direction("fid") == score_direction("fd") == score_direction("fd_kid") == "lower"
    assert score_direction("fd_precision") == score_direction("accuracy") == score_direction("log_p") == "higher"
    assert score_direction("modes_total") is None  # a count


@pytest.mark.parametrize("name", ["fid", "kid", "prc", "dc", "fd", "fd_kid", "fd_prc", "fd_dc", "fd_classes",
                                  "fd_class_coverage"])
def test_every_declared_score_is_one_the_metric_returns(name):
    features, labels, logits = clusters(30, 3)
    real = {"features": features, "logits": logits}
    fake = {"features": features[::-1].copy(), "logits": logits[::-1].copy()}
    scores = METRICS.get(name).compute(real, fake, MetricOptions(kid_subset_size=20, kid_subsets=5))
    assert set(METRICS.get(name).better) <= set(scores)
    assert set(METRICS.get(name).labels) <= set(scores)
    assert all(isinstance(scores[k], (int, np.integer)) for k in METRICS.get(name).labels)  # an index, not a share


def test_scores_that_name_a_class_are_declared_by_the_metrics_and_have_no_direction():
    assert is_label_score("class_coverage_worst") and is_label_score("class_ratio_min_class")
    assert is_label_score("class_ratio_max_class")
    assert not is_label_score("class_ratio_min") and not is_label_score("fd") and not is_label_score("accuracy")
    with pytest.raises(ValueError, match="names a class has no better direction"):
        Metric(lambda r, f, o: {}, "domain", "", {"worst": "lower"}, labels=frozenset({"worst"}))


def test_a_study_ranks_each_score_the_way_its_metric_declares(tmp_path):
    from types import SimpleNamespace

    from gankit.apps.study_summary import write_summary

    spec = SimpleNamespace(description="", base="wgan_gp_digits", set={}, seeds=[0])

    def row(i, lr, score, value):
        return {"id": f"t{i}", "values": {"optim.lr_d": lr}, "seed": 0, "status": "finished", "seconds": 1.0,
                "scores": {score: value}}

    for score, best_first in (("fd", [3e-4, 1e-4]), ("class_coverage_min", [1e-4, 3e-4])):
        out = tmp_path / score
        out.mkdir()
        write_summary(out, spec, score, [row(0, 1e-4, score, 0.5), row(1, 3e-4, score, 0.25)])
        table = (out / "summary.md").read_text().split("best first")[1]
        assert table.index(f"| {best_first[0]:.3g}") < table.index(f"| {best_first[1]:.3g}"), score
