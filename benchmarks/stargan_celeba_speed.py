"""Iteration time of the StarGAN card's config (stargan_celeba: G 64 / 6 residual blocks, D 64, batch 16,
n_critic 5) on this machine, at 128 px and 64 px, on a CelebA-format folder of random JPEGs (the real file
layout: img_align_celeba/*.jpg 178x218 and list_attr_celeba.txt, decoded and center-cropped every batch).

    python benchmarks/stargan_celeba_speed.py [--sizes 128 64] [--iterations 3]

An iteration is n_critic D steps and one G step (each D step draws a fresh batch and translates it with G);
the figure is the median wall time between consecutive iterations after a warm-up iteration, from the run's
metrics.jsonl. The card reports 250 s per 1,000 iterations on a V100.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ATTRS = ["5_o_Clock_Shadow", "Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"]


def write_folder(root: Path, n: int) -> Path:
    rng = np.random.default_rng(0)
    (root / "img_align_celeba").mkdir(parents=True)
    lines = [str(n), " ".join(ATTRS)]
    for i in range(n):
        name = f"{i + 1:06d}.jpg"
        Image.fromarray(rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)).save(root / "img_align_celeba" / name, quality=90)
        hair = [-1, -1, -1]
        hair[i % 3] = 1
        values = [-1, *hair, 1 if i % 2 else -1, 1 if i % 5 else -1]
        lines.append(name + " " + " ".join(f"{v:2d}" for v in values))
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    return root


def time_size(root: Path, size: int, iterations: int, work: Path) -> dict:
    out = work / f"run{size}"
    sets = [f"data.root={root}", "data.test_count=16", f"data.size={size}", "train.log_every=1",
            "train.sample_every=100000", "train.checkpoint_every=100000"]
    if size != 128:
        sets.append("model.d_layers=null")  # the card's 6 D layers fit 128 px; log2(size) - 1 otherwise
    cmd = [sys.executable, "-m", "gankit", "train", "stargan_celeba", "--out", str(out), "--no-progress",
           "--steps", str(iterations + 1), *[a for s in sets for a in ("--set", s)]]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    times = [json.loads(line)["time"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    seconds = statistics.median(np.diff(times).tolist())
    return {"size": size, "s_per_iteration": round(seconds, 2), "s_per_1000": round(1000 * seconds), "iterations": iterations,
            "images_per_s": round(16 / seconds, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 64])
    parser.add_argument("--iterations", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = write_folder(Path(tmp) / "celeba", 64)
        for size in args.sizes:
            row = time_size(root, size, args.iterations, Path(tmp))
            row |= {"machine": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads()}
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
