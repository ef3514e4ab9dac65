"""Training speed by thread count, quiet and beside one busy process (issue 24, part 5): `gankit bench` of each
preset with 1 and 2 threads, and 2 threads with OpenMP's passive wait policy, on a quiet machine and beside a
process that keeps one core busy (a pure-Python loop at the same priority). Runs alternate (variant by variant,
then again), so slow drifts of the machine hit every variant alike.

    python benchmarks/thread_policy.py [--presets wgan_gp_digits ...] [--rounds 2] [--out results.jsonl]

Prints it/s per preset, condition and variant (median over rounds) and the busy/quiet ratio of each variant.
Stop other work on the machine first: "quiet" means quiet.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PRESETS = {"wgan_gp_digits": 30, "wgan_gp_fashion_mnist": 3, "wgan_gp_cifar10": 2}  # timed iterations per run
VARIANTS = {"1 thread": (1, {}), "2 threads": (2, {}), "2 threads, passive": (2, {"OMP_WAIT_POLICY": "PASSIVE"})}


def bench(preset: str, steps: int, threads: int, env: dict) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        cmd = [sys.executable, "-m", "gankit", "bench", preset, "--threads", str(threads), "--steps", str(steps),
               "--repeats", "3", "--warmup", "2", "--json", str(out)]
        subprocess.run(cmd, env={**os.environ, **env}, check=True, capture_output=True)
        return 1.0 / json.loads(out.read_text())["s_per_iter"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="*", default=list(PRESETS))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("thread_policy.jsonl"))
    args = parser.parse_args()
    speeds: dict[tuple[str, str, str], list[float]] = {}
    for condition in ("quiet", "busy"):
        burner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if condition == "busy" else None
        try:
            time.sleep(1)
            for _ in range(args.rounds):
                for preset in args.presets:
                    for variant, (threads, env) in VARIANTS.items():
                        it_s = bench(preset, PRESETS.get(preset, 3), threads, env)
                        speeds.setdefault((preset, condition, variant), []).append(it_s)
                        record = {"preset": preset, "condition": condition, "variant": variant, "it_per_s": it_s,
                                  "time": time.time()}
                        with open(args.out, "a") as fh:
                            fh.write(json.dumps(record) + "\n")
                        print(json.dumps(record), flush=True)
        finally:
            if burner is not None:
                burner.kill()
    print("\npreset | variant | quiet it/s | busy it/s | busy / quiet | quiet vs best quiet")
    for preset in args.presets:
        quiet = {v: statistics.median(speeds[(preset, "quiet", v)]) for v in VARIANTS}
        best = max(quiet.values())
        for variant in VARIANTS:
            busy = statistics.median(speeds[(preset, "busy", variant)])
            print(f"{preset} | {variant} | {quiet[variant]:.3g} | {busy:.3g} | {busy / quiet[variant]:.2f} | "
                  f"{quiet[variant] / best:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
