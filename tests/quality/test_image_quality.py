"""Quality claims of issue 22, checked by real training runs (marked slow: `pytest -m slow tests/quality`).

Each test trains a shipped preset as a user would (one seed), scores it with `gankit eval` and checks the figure
BENCHMARKS.md quotes for it. Minutes to an hour each on a 2-core CPU; not part of the default suite.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gankit.cli import main
from gankit.data.mnist import DEFAULT_ROOT

pytestmark = pytest.mark.slow
SEED = int(os.environ.get("GANKIT_QUALITY_SEED", "0"))


def _train_and_score(preset: str, run: Path) -> dict[str, float]:
    assert main(["train", preset, "--out", str(run), "--seed", str(SEED), "--no-progress"]) == 0
    assert main(["eval", str(run), "--threads", "1"]) == 0
    results = json.loads((run / "eval.json").read_text())["results"]
    last = results[max(results, key=int)]["scores"]
    return {name: entry["mean"] for name, entry in last.items()}


def test_demo_reaches_three_times_the_real_floor(tmp_path):
    """`make demo`: FD <= 6.2 (3x the 2.05 floor of real test digits vs the training digits), 5,000 samples."""
    scores = _train_and_score("wgan_gp_digits", tmp_path / "demo")
    assert scores["fd"] <= 6.2, scores


@pytest.mark.skipif(not DEFAULT_ROOT.is_dir(), reason="needs Debian's dataset-fashion-mnist")
@pytest.mark.parametrize("preset", ["wgan_gp_fashion_mnist", "compare_gan_sndcgan_fashion_mnist"])
def test_fashion_mnist_precision_recall_and_classes(tmp_path, preset):
    """10,000 samples vs the 10,000 test images in the Fashion-MNIST classifier's space: precision >= 0.75,
    recall >= 0.6 and every class's share of the samples within +-30 % of its share of the real images."""
    scores = _train_and_score(preset, tmp_path / preset)
    assert scores["fd_precision"] >= 0.75 and scores["fd_recall"] >= 0.6, scores
    assert scores["classes_within_30pct"] == 10, scores
