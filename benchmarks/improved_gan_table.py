"""Markdown table of `benchmarks/improved_gan_seeds.sh`'s summary.jsonl: accuracy mean ± std per configuration,
the SSL - baseline margin per seed, and throughput. Usage: python benchmarks/improved_gan_table.py OUT_DIR"""
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

rows = [json.loads(line) for line in (Path(sys.argv[1]) / "summary.jsonl").read_text().splitlines() if line.strip()]
by_name = defaultdict(dict)
for row in rows:
    by_name[row["name"]][row["seed"]] = row  # a rerun of a seed replaces the earlier line

print("| configuration | seeds | test accuracy (mean ± std) | per seed | test errors | img/s (median) | s per run |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for name, seeds in by_name.items():
    acc = np.array([seeds[s]["accuracy"] for s in sorted(seeds)])
    errors = [int(seeds[s]["errors"]) for s in sorted(seeds)]
    speed = np.median([seeds[s]["img_per_s"] for s in seeds])
    secs = np.median([seeds[s]["seconds"] for s in seeds])
    print(f"| {name} | {len(acc)} | {acc.mean():.4f} ± {acc.std():.4f} | {' / '.join(f'{a:.4f}' for a in acc)} | "
          f"{' / '.join(map(str, errors))} | {speed:.0f} | {secs:.0f} |")

for data in sorted({n.split("-")[0] for n in by_name}):
    ssl, base = by_name.get(f"{data}-ssl", {}), by_name.get(f"{data}-baseline", {})
    common = sorted(set(ssl) & set(base))
    if common:
        margins = np.array([ssl[s]["accuracy"] - base[s]["accuracy"] for s in common])
        print(f"\n{data}: SSL - baseline per seed {' / '.join(f'{m:+.4f}' for m in margins)}; "
              f"mean {margins.mean():+.4f} ± {margins.std():.4f}; SSL ahead on {(margins > 0).sum()} of {len(margins)} seeds")
