"""Train the shipped domain classifiers (FD/IS/KID extractors) with a fixed seed and write their weights.

    python scripts/train_extractors.py digits fashion_mnist

Writes src/gankit/metrics/weights/<name>_cnn.safetensors with metadata: test accuracy, seed, epochs,
data, date. Fashion-MNIST needs Debian's dataset-fashion-mnist (or data.root given with --root).
"""
from __future__ import annotations

import argparse
import datetime
import json
import time

import torch
from safetensors.torch import save_file

from gankit.config import DataConfig
from gankit.data import load_dataset
from gankit.metrics.classifiers import CLASSIFIERS, accuracy, train_classifier, weights_path

EPOCHS = {"digits": 40, "fashion_mnist": 2, "attr_digits": 8}
SEED = 0


@torch.no_grad()
def attribute_accuracies(model, test_set, spec) -> dict:
    """{"attribute_accuracy": {name: accuracy}} on the test split for a scorer with an attribute head, else {}."""
    if not spec.attributes:
        return {}
    batch = test_set.get(torch.arange(len(test_set)))
    right = ((model(batch["x"])["attributes"] > 0).float() == batch["y"]).float().mean(0)
    return {"attribute_accuracy": {name: round(float(v), 4) for name, v in zip(spec.attributes, right)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="+", choices=CLASSIFIERS.names())
    parser.add_argument("--root", help="data.root for the dataset (default: the dataset's own)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    for name in args.names:
        spec = CLASSIFIERS.get(name)
        data_cfg = DataConfig(**spec.data, root=args.root)
        train_set, test_set = load_dataset(data_cfg, "train"), load_dataset(data_cfg, "test")
        start = time.perf_counter()
        model = train_classifier(train_set, EPOCHS[name], seed=SEED, num_classes=len(spec.label_names), spec=spec)
        seconds = time.perf_counter() - start
        test_accuracy = accuracy(model, test_set, label_key=spec.label_key)
        meta = {"test_accuracy": test_accuracy, **attribute_accuracies(model, test_set, spec),
                "train_items": len(train_set), "test_items": len(test_set),
                "epochs": EPOCHS[name], "seed": SEED, "data": spec.data, "train_seconds": round(seconds, 1),
                "date": datetime.date.today().isoformat(), "script": "scripts/train_extractors.py"}
        tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(tensors, str(weights_path(name)), metadata={k: json.dumps(v) for k, v in meta.items()})
        print(f"{name}: test accuracy {test_accuracy:.4f} ({len(test_set)} images), {seconds:.0f} s -> {weights_path(name)}"
              + (f"; attributes {meta['attribute_accuracy']}" if spec.attributes else ""))


if __name__ == "__main__":
    main()
