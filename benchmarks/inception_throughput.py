"""Inception feature throughput (images/s) on this machine, batch 50: the file's network as loaded (contiguous),
with a channels_last model, and in the form feature extraction uses (`for_inference`: batch norm folded into
the convolutions, channels_last).

    python benchmarks/inception_throughput.py [--batches 4] [--device cpu]

Uses seeded random weights (throughput does not depend on the values); 32x32 uint8 inputs, resized
to 299x299 inside the extractor as for CIFAR-10.
"""
from __future__ import annotations

import argparse
import time

import torch

from gankit.metrics.inception import FIDInceptionV3, for_inference


def measure(model, images, batches: int) -> float:
    with torch.no_grad():
        model(images)  # warm-up
        start = time.perf_counter()
        for _ in range(batches):
            model(images)
    return batches * len(images) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = FIDInceptionV3().eval().to(args.device)
    images = torch.randint(0, 256, (args.batch_size, 3, 32, 32), dtype=torch.uint8, device=args.device)
    plain = measure(model, images, args.batches)
    model = model.to(memory_format=torch.channels_last)
    channels_last = measure(model, images, args.batches)
    folded = measure(for_inference(model), images, args.batches)
    print(f"device {args.device}, threads {torch.get_num_threads()}, batch {args.batch_size}: "
          f"{plain:.2f} img/s (contiguous), {channels_last:.2f} img/s (channels_last model), "
          f"{folded:.2f} img/s (batch norm folded + channels_last, as gankit extracts)")


if __name__ == "__main__":
    main()
