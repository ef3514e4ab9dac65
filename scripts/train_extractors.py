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
from pathlib import Path

import torch
from safetensors.torch import save_file

from gankit.config import DataConfig
from gankit.data import load_dataset
from gankit.metrics.classifiers import CLASSIFIERS, accuracy, train_classifier, weights_path

# fashion_mnist: 2 epochs gave 89.2 % test accuracy (2026-11-23); 20 epochs with mirror images for the 93 % that
# issue 22 asks of a feature space worth measuring in. Digits and AttrDigits are not mirrored (a mirrored 2 is no 2).
EPOCHS = {"digits": 40, "fashion_mnist": 20, "attr_digits": 8}
HFLIP = {"fashion_mnist"}
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
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the result depends on it)")
    parser.add_argument("--out-dir", type=Path, help="write the weights here instead of the package (to compare first)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for name in args.names:
        spec = CLASSIFIERS.get(name)
        data_cfg = DataConfig(**spec.data, root=args.root)
        train_set, test_set = load_dataset(data_cfg, "train"), load_dataset(data_cfg, "test")
        start = time.perf_counter()
        model = train_classifier(train_set, EPOCHS[name], seed=SEED, num_classes=len(spec.label_names), spec=spec,
                                 hflip=name in HFLIP)
        seconds = time.perf_counter() - start
        test_accuracy = accuracy(model, test_set, label_key=spec.label_key)
        meta = {"test_accuracy": test_accuracy, **attribute_accuracies(model, test_set, spec),
                "train_items": len(train_set), "test_items": len(test_set),
                "epochs": EPOCHS[name], "hflip": name in HFLIP, "seed": SEED, "threads": args.threads, "data": spec.data,
                "train_seconds": round(seconds, 1),
                "date": datetime.date.today().isoformat(), "script": "scripts/train_extractors.py"}
        tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
        out = args.out_dir / weights_path(name).name if args.out_dir else weights_path(name)
        out.parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(out), metadata={k: json.dumps(v) for k, v in meta.items()})
        print(f"{name}: test accuracy {test_accuracy:.4f} ({len(test_set)} images), {seconds:.0f} s -> {out}"
              + (f"; attributes {meta['attribute_accuracy']}" if spec.attributes else ""))


if __name__ == "__main__":
    main()
