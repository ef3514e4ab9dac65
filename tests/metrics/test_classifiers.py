import hashlib

import pytest
import torch

from gankit.config import DataConfig
from gankit.data import load_dataset
from gankit.data.mnist import DEFAULT_ROOT
from gankit.errors import UnknownNameError
from gankit.metrics.classifiers import CLASSIFIERS, DomainCNN, accuracy, load_classifier, random_shift, weights_path


def test_shipped_digits_classifier_recognises_held_out_digits():
    model = load_classifier("digits")
    test = load_dataset(DataConfig(name="digits", size=32), "test")
    assert accuracy(model, test) >= 0.97
    assert model.metadata["seed"] == 0 and model.metadata["test_accuracy"] >= 0.97
    assert model.weights_sha256 == hashlib.sha256(weights_path("digits").read_bytes()).hexdigest()
    # Any size and channel count is accepted: 16x16 RGB digits are classified just as well.
    rgb16 = load_dataset(DataConfig(name="digits", size=16, channels=3), "test")
    assert accuracy(model, rgb16) >= 0.95


def test_fashion_classifier_ships_and_loads():
    model = load_classifier("fashion_mnist")
    assert model.metadata["test_accuracy"] > 0.85 and model.metadata["test_items"] == 10_000
    if (DEFAULT_ROOT / "t10k-images-idx3-ubyte.gz").exists():
        test = load_dataset(DataConfig(name="mnist", size=32, max_images=1000), "test")
        assert accuracy(model, test) > 0.85


def test_classifier_outputs_and_registry():
    out = DomainCNN()(torch.rand(3, 1, 28, 28) * 2 - 1)
    assert out["features"].shape == (3, 128) and out["logits"].shape == (3, 10)
    assert (out["features"] >= 0).all()  # post-ReLU features
    with pytest.raises(UnknownNameError, match="valid: attr_digits, digits, fashion_mnist"):
        CLASSIFIERS.get("cifar")


def test_random_shift_moves_content_within_bounds():
    image = -torch.ones(1, 1, 8, 8)
    image[0, 0, 4, 4] = 1.0
    torch.manual_seed(0)
    shifted = random_shift(image.expand(20, 1, 8, 8).contiguous(), max_shift=2)
    positions = {tuple((s[0] == 1).nonzero()[0].tolist()) for s in shifted}
    assert len(positions) > 3 and all(2 <= r <= 6 and 2 <= c <= 6 for r, c in positions)
