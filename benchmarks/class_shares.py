"""Per-class shares of a run's samples as its domain classifier labels them, against the real reference's shares: the
histogram behind `gankit eval`'s class_ratio_min/max and classes_within_30pct, one column per class.

    python benchmarks/class_shares.py RUN [RUN ...] [--num 10000] [--checkpoint STEP]

Samples come from the run's generator (generator.safetensors: the EMA weights where the run keeps them; or a
checkpoint's), the reference is the run's eval.reference split, labelled by the same classifier.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from gankit.apps.generate import generate
from gankit.data import load_dataset
from gankit.metrics.classifiers import load_classifier
from gankit.metrics.suite import default_classifier
from gankit.runs.snapshots import load_generator


def predicted(classifier, images: torch.Tensor, batch: int = 500) -> np.ndarray:
    with torch.no_grad():
        return torch.cat([classifier(images[i:i + batch])["logits"].argmax(1) for i in range(0, len(images), batch)]).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--num", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    reference = None
    for run in args.runs:
        _, cfg, info, _ = load_generator(run)
        name = cfg.eval.extractor or default_classifier(cfg.data, info)
        classifier = load_classifier(name).eval()
        if reference is None:
            real = load_dataset(cfg.data, cfg.eval.reference)
            real_x = real.get(torch.arange(len(real)))["x"]
            k = len(info.label_names) if info.label_names else 10
            reference = np.bincount(predicted(classifier, real_x), minlength=k) / len(real_x)
            names = list(info.label_names) if info.label_names else [str(i) for i in range(k)]
            print("| run | " + " | ".join(names) + " | within ±30 % |")
            print("| --- " * (len(names) + 2) + "|")
            print(f"| real {cfg.eval.reference} share | " + " | ".join(f"{v:.3f}" for v in reference) + " | |")
        shares = np.bincount(predicted(classifier, generate(run, args.num, seed=args.seed)), minlength=len(reference))
        ratio = shares / args.num / reference
        marks = [f"**{r:.2f}**" if abs(r - 1) > 0.3 else f"{r:.2f}" for r in ratio]
        print(f"| {run.name} | " + " | ".join(marks) + f" | {int(np.sum(np.abs(ratio - 1) <= 0.3))}/{len(ratio)} |")


if __name__ == "__main__":
    main()
