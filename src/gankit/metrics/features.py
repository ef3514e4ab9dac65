"""Feature extractors behind one interface, and extraction with an on-disk cache for real data.

An extractor maps images in [-1, 1] (N, C, H, W) to {"features": (N, D), "logits": (N, K)}:
- "inception": the FID Inception-v3 (pool3 features, 1008 unbiased logits); images are rounded to uint8
  and grey images repeated to RGB first, as torch-fidelity does with generator output;
- a domain classifier name ("digits", "fashion_mnist"): penultimate features, class logits.
Each carries a `protocol` dict (name, weights sha256, input size and resize method) stamped on scores.
Real features are cached under $GANKIT_CACHE (default ~/.cache/gankit) keyed by the dataset config,
split, extractor, weights hash and image size.
"""
from __future__ import annotations

import hashlib
import json
import os
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from gankit.data.image_io import to_uint8
from gankit.errors import GankitError
from gankit.files import atomic_write, atomic_write_json
from gankit.metrics.classifiers import CLASSIFIERS, INPUT_SIZE, load_classifier
from gankit.metrics.inception import for_inference, load_inception


@dataclass
class Extractor:
    name: str
    model: torch.nn.Module
    run: Callable[[torch.Tensor], dict[str, torch.Tensor]]
    protocol: dict = field(default_factory=dict)
    device: torch.device = torch.device("cpu")

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.run(images.to(self.device))


def make_extractor(name: str, device: torch.device | str = "cpu", inception_weights: str | None = None) -> Extractor:
    device = torch.device(device)
    if name == "inception":
        model = load_inception(inception_weights, device)
        sha256 = model.weights_sha256
        model = for_inference(model)  # batch norm folded, channels_last: see BENCHMARKS.md "Metrics"

        def run(images: torch.Tensor) -> dict[str, torch.Tensor]:
            x = to_uint8(images)
            if x.shape[1] == 1:
                x = x.expand(-1, 3, -1, -1)
            out = model(x)
            return {"features": out["pool3"], "logits": out["logits_unbiased"]}

        protocol = {"extractor": "inception-v3-compat (TF inception-2015-12-05, pool3 2048-d)",
                    "weights_sha256": sha256, "input": "uint8 RGB resized to 299x299, TF1 bilinear"}
        return Extractor("inception", model, run, protocol, device)
    model = load_classifier(name, device)
    colour = "RGB" if CLASSIFIERS.get(name).channels == 3 else "grey"
    protocol = {"extractor": f"{name}-cnn (gankit domain classifier; FD is not FID)",
                "weights_sha256": model.weights_sha256,
                "input": f"{colour}, resized to {INPUT_SIZE}x{INPUT_SIZE}, bilinear antialiased",
                "classifier_test_accuracy": model.metadata.get("test_accuracy")}
    return Extractor(name, model, model, protocol, device)


def extract(extractor: Extractor, batches: Iterable[torch.Tensor]) -> dict[str, np.ndarray]:
    parts: dict[str, list[np.ndarray]] = {}
    for images in batches:
        for key, value in extractor(images).items():
            parts.setdefault(key, []).append(value.float().cpu().numpy())
    return {key: np.concatenate(value) for key, value in parts.items()}


def tensor_batches(images: torch.Tensor, batch_size: int) -> Iterable[torch.Tensor]:
    for start in range(0, len(images), batch_size):
        yield images[start:start + batch_size]


def dataset_batches(dataset, count: int, batch_size: int) -> Iterable[torch.Tensor]:
    for start in range(0, count, batch_size):
        yield dataset.get(torch.arange(start, min(start + batch_size, count)))["x"]


def cache_dir() -> Path:
    return Path(os.environ.get("GANKIT_CACHE", Path.home() / ".cache" / "gankit")) / "features"


def cached_real_features(data_cfg, split: str, extractor: Extractor, count: int | None, batch_size: int,
                         loader: Callable) -> tuple[dict[str, np.ndarray], dict]:
    """Features of the first `count` items (all if None) of a dataset split, computed once and cached."""
    key = {"data": data_cfg.model_dump(mode="json"), "split": split, "extractor": extractor.name,
           "weights_sha256": extractor.protocol.get("weights_sha256"), "count": count}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    path = cache_dir() / f"{data_cfg.name}-{split}-{extractor.name}-{digest}.npz"
    if path.is_file():
        try:
            with np.load(path) as stored:
                return {k: stored[k] for k in stored.files}, {"cache": str(path), "items": int(len(stored["features"]))}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error):  # BadZipFile is no OSError
            path.unlink(missing_ok=True)  # a broken cache entry is recomputed
    dataset = loader(data_cfg, split)
    n = len(dataset) if count is None else min(count, len(dataset))
    features = extract(extractor, dataset_batches(dataset, n, batch_size))
    try:  # a cache is a saving, not a must: a read-only or full cache folder only costs the recomputation next time
        atomic_write(path, lambda tmp: _savez(tmp, features))
        atomic_write_json(path.with_suffix(".json"), key)
    except GankitError:
        pass
    return features, {"cache": str(path), "items": n}


def _savez(path: Path, arrays: dict) -> None:
    with open(path, "wb") as fh:  # a file object: np.savez would add ".npz" to a temporary name
        np.savez(fh, **arrays)
