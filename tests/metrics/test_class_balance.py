"""Class balance of samples on a real dataset: closed forms and invariants."""
import numpy as np
import pytest

from gankit.metrics.modes import class_balance
from gankit.metrics.suite import METRICS, MetricOptions


def test_identical_histograms_are_balanced():
    labels = np.repeat(np.arange(10), 50)
    scores = class_balance(labels, np.random.default_rng(0).permutation(labels), 10)
    assert scores == {"class_ratio_min": 1.0, "class_ratio_max": 1.0, "classes_within_30pct": 10.0, "class_tv": 0.0,
                      "class_ratio_min_class": 0, "class_ratio_max_class": 0}


def test_a_known_imbalance():
    real = np.repeat(np.arange(4), 100)  # uniform reference
    fake = np.repeat(np.arange(4), [100, 100, 60, 140])  # one class 40 % short, one 40 % over
    scores = class_balance(real, fake, 4)
    assert scores["class_ratio_min"] == pytest.approx(0.6) and scores["class_ratio_max"] == pytest.approx(1.4)
    assert scores["classes_within_30pct"] == 2 and scores["class_tv"] == pytest.approx(0.1)
    assert (scores["class_ratio_min_class"], scores["class_ratio_max_class"]) == (2, 3)


def test_a_missing_class_and_a_non_uniform_reference():
    real = np.repeat(np.arange(3), [200, 100, 100])  # the expected shares are the reference's, not 1/3 each
    fake = np.repeat(np.arange(3), [100, 50, 0])
    scores = class_balance(real, fake, 3)
    assert scores["class_ratio_min"] == 0.0 and scores["class_ratio_max"] == pytest.approx((100 / 150) / 0.5)
    assert scores["class_tv"] == pytest.approx(0.25)
    assert (scores["class_ratio_min_class"], scores["class_ratio_max_class"]) == (2, 0)  # ties: the first class


def test_the_metric_reads_the_classifier_logits():
    real = {"logits": np.eye(5)[np.repeat(np.arange(5), 20)]}
    fake = {"logits": np.eye(5)[np.zeros(30, dtype=int)]}  # total mode collapse onto class 0
    scores = METRICS.get("fd_classes").compute(real, fake, MetricOptions())
    assert scores["class_ratio_max"] == pytest.approx(5.0) and scores["classes_within_30pct"] == 0
    assert scores["class_tv"] == pytest.approx(0.8) and scores["class_ratio_max_class"] == 0


def test_over_several_runs_a_class_index_is_summarised_by_its_most_frequent_value():
    from gankit.apps.evaluate import _summary

    assert _summary([3.0, 7.0, 7.0], label=True)["mean"] == 7  # an average (5.67) would name neither class
    assert _summary([2.0, 5.0], label=True)["mean"] == 2  # a tie: the smaller index
    assert _summary([0.5, 1.5])["mean"] == 1.0
