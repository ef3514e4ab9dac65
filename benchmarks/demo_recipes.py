"""Time-to-quality of `make demo` recipes: train each variant of `wgan_gp_digits` (1 thread), then score it as the demo
does (`gankit eval`: 5,000 samples against the 1,617 training digits on the digits classifier).

    python benchmarks/demo_recipes.py --out runs/demo-recipes 'base' 'data.size=8 train.steps=6000' ...

Each argument is one variant: space-separated `--set` overrides ('base' = the preset as it is). Prints and appends
one JSON line per variant to OUT/results.jsonl: overrides, training seconds (wall and process CPU), it/s and the scores.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_variant(variant: str, out: Path, seed: int) -> dict:
    overrides = [] if variant == "base" else variant.split()
    name = "-".join(o.replace("=", "_").replace(".", "_") for o in overrides) or "base"
    run = out / f"{name}-s{seed}"
    sets = [a for o in [*overrides, f"train.seed={seed}", "train.threads=1", "train.report=false"] for a in ("--set", o)]
    cpu, wall = cpu_seconds(), time.perf_counter()
    subprocess.run([sys.executable, "-m", "gankit", "train", "wgan_gp_digits", "--out", str(run), "--overwrite",
                    "--no-progress", *sets], check=True, stdout=subprocess.DEVNULL)
    train_wall, train_cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    subprocess.run([sys.executable, "-m", "gankit", "eval", str(run), "--threads", "1"], check=True, stdout=subprocess.DEVNULL)
    results = json.loads((run / "eval.json").read_text())["results"]
    step, entry = max(results.items(), key=lambda item: int(item[0]))
    speeds = [r["it_per_s"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "it_per_s" in r]
    return {"variant": variant, "seed": seed, "step": int(step), "train_wall_s": round(train_wall, 1),
            "train_cpu_s": round(train_cpu, 1), "it_per_s": round(sorted(speeds)[len(speeds) // 2], 2) if speeds else None,
            "scores": {k: round(v["mean"], 4) for k, v in entry["scores"].items()}, "run": str(run)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+")
    parser.add_argument("--out", type=Path, default=Path("runs/demo-recipes"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for variant in args.variants:
        for seed in args.seeds:
            row = run_variant(variant, args.out, seed)
            print(json.dumps(row), flush=True)
            with open(args.out / "results.jsonl", "a") as fh:
                fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
