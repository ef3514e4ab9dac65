"""Offline domain classifiers: small CNNs trained by `scripts/train_extractors.py` with a fixed seed and
shipped as safetensors in `gankit/metrics/weights/`. Their penultimate features give "FD" (a Fréchet
distance that is *not* Inception FID), their logits a classifier-based Inception Score, and both KID and
precision/recall. Inputs are images in [-1, 1] of any size and 1 or 3 channels: converted to grey (BT.601
luma) and resized to 32x32 (bilinear, antialiased) inside the extractor.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gankit.data.transforms import random_shift
from gankit.errors import ConfigError
from gankit.registry import Registry

INPUT_SIZE = 32


class DomainCNN(nn.Module):
    """Grey (in_channels 1) or colour (3) CNN."""

    def __init__(self, num_classes: int = 10, width: int = 32, feature_dim: int = 128, in_channels: int = 1):
        super().__init__()
        self.in_channels = in_channels

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(True)]

        self.body = nn.Sequential(
            *block(in_channels, width), *block(width, width), nn.MaxPool2d(2),  # (N, w, 16, 16)
            *block(width, 2 * width), *block(2 * width, 2 * width), nn.MaxPool2d(2),  # (N, 2w, 8, 8)
            *block(2 * width, 4 * width), nn.AdaptiveAvgPool2d(1), nn.Flatten(),  # (N, 4w)
        )
        self.features = nn.Sequential(nn.Linear(4 * width, feature_dim), nn.ReLU(True))
        self.dropout = nn.Dropout(0.3)
        self.classifier = nn.Linear(feature_dim, num_classes)

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) in [-1, 1] -> (N, in_channels, 32, 32)."""
        x = images.float()
        if self.in_channels == 3 and x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        elif self.in_channels == 1 and x.shape[1] == 3:
            x = (x * torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
        if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False, antialias=True)
        return x

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.features(self.body(self.prepare(images)))  # (N, 128)
        return {"features": features, "logits": self.classifier(self.dropout(features))}


def ink(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) in [-1, 1] -> (N, 1, H, W) in [-1, 1]: per pixel the largest distance of any channel from the
    image's mean border colour. On AttrDigits it is the grey stroke whatever the ink colour and polarity."""
    border = torch.cat([images[..., 0, :], images[..., -1, :], images[..., 1:-1, 0], images[..., 1:-1, -1]], -1).mean(-1)
    return (images - border[..., None, None]).abs().amax(1, keepdim=True) - 1  # distances lie in [0, 2]


class AttrDigitsScorer(nn.Module):
    """AttrDigits' scorer: a digit CNN on the colour- and polarity-free ink channel (a single colour CNN learns
    the digit far slower: measured 0.53 vs 0.94 test accuracy after 400 steps) and an attribute CNN on RGB.
    Features for FD are both networks' features side by side."""

    def __init__(self, num_classes: int = 10, attributes: int = 6):
        super().__init__()
        self.digit = DomainCNN(num_classes, in_channels=1)
        self.attribute = DomainCNN(attributes, in_channels=3)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.attribute.prepare(images)  # (N, 3, 32, 32)
        d, a = self.digit(ink(x)), self.attribute(x)
        return {"features": torch.cat([d["features"], a["features"]], 1), "logits": d["logits"], "attributes": a["logits"]}


def build_classifier(spec: ExtractorSpec) -> nn.Module:
    if spec.attributes:
        return AttrDigitsScorer(len(spec.label_names), len(spec.attributes))
    return DomainCNN(num_classes=len(spec.label_names), in_channels=spec.channels)


@dataclass(frozen=True)
class ExtractorSpec:
    weights: str  # file name in gankit/metrics/weights
    data: dict  # the DataConfig fields of the data it was trained on
    label_names: tuple[str, ...]
    channels: int = 1  # 1: images are turned grey first; 3: colour matters (AttrDigits)
    attributes: tuple[str, ...] = ()  # a multi-label head's names
    label_key: str = "y"  # the batch key of the class labels it was trained on


CLASSIFIERS: Registry[ExtractorSpec] = Registry("domain classifier")
CLASSIFIERS.register("digits")(ExtractorSpec("digits_cnn.safetensors", {"name": "digits", "size": 32}, tuple("0123456789")))
CLASSIFIERS.register("fashion_mnist")(ExtractorSpec(
    "fashion_mnist_cnn.safetensors", {"name": "mnist", "size": 32},
    ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")))
# AttrDigits' scorer: the digit (content) and the six attributes from one colour CNN.
CLASSIFIERS.register("attr_digits")(ExtractorSpec(
    "attr_digits_cnn.safetensors", {"name": "attr_digits", "size": 32, "variants": 8}, tuple("0123456789"), channels=3,
    attributes=("red", "green", "blue", "inverted", "thick", "rotated"), label_key="digit"))


def weights_path(name: str) -> Path:
    spec = CLASSIFIERS.get(name)
    return Path(str(resources.files("gankit") / "metrics" / "weights" / spec.weights))


def load_classifier(name: str, device: torch.device | str = "cpu") -> DomainCNN:
    """The shipped classifier `name`, in eval mode; `.weights_sha256` and `.metadata` describe the file."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = weights_path(name)
    if not path.is_file():
        raise ConfigError(f"{path}: weights of the '{name}' classifier are missing; run scripts/train_extractors.py {name}")
    spec = CLASSIFIERS.get(name)
    model = build_classifier(spec)
    model.load_state_dict(load_file(str(path)))
    with safe_open(str(path), framework="pt") as fh:
        model.metadata = {k: json.loads(v) for k, v in (fh.metadata() or {}).items()}
    model.weights_sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    model.extractor_name = f"{name}-cnn"
    return model.to(device).eval().requires_grad_(False)


@torch.no_grad()
def accuracy(model: DomainCNN, dataset, batch_size: int = 500, label_key: str = "y") -> float:
    model.eval()
    correct = 0
    for start in range(0, len(dataset), batch_size):
        batch = dataset.get(torch.arange(start, min(start + batch_size, len(dataset))))
        correct += (model(batch["x"])["logits"].argmax(1) == batch[label_key]).sum().item()
    return correct / len(dataset)


def train_classifier(train_set, epochs: int, seed: int = 0, batch_size: int = 64, lr: float = 2e-3,
                     num_classes: int = 10, log=print, spec: ExtractorSpec | None = None, hflip: bool = False) -> DomainCNN:
    """Adam with cosine decay, random +-2 px shifts (and mirror images with `hflip`); deterministic for a given seed
    and thread count. With a spec that has attributes: cross-entropy on `spec.label_key` plus BCE on the attributes
    (`y`)."""
    torch.manual_seed(seed)
    attributes = len(spec.attributes) if spec else 0
    label_key = spec.label_key if spec else "y"
    model = build_classifier(spec) if spec else DomainCNN(num_classes)
    steps = epochs * (len(train_set) // batch_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    generator = torch.Generator().manual_seed(seed)
    step = 0
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(train_set), generator=generator)
        for start in range(0, len(order) - batch_size + 1, batch_size):
            batch = train_set.get(order[start:start + batch_size])
            x = random_shift(batch["x"], replicate=attributes > 0)
            if hflip:
                x = torch.where(torch.rand(len(x), 1, 1, 1) < 0.5, x.flip(-1), x)
            out = model(x)
            loss = F.cross_entropy(out["logits"], batch[label_key])
            if attributes:
                loss = loss + F.binary_cross_entropy_with_logits(out["attributes"], batch["y"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
        log(f"epoch {epoch + 1}/{epochs}: loss {loss.item():.4f}")
    return model.eval()
