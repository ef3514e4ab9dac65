#!/usr/bin/env bash
# AdaGAN figures for BENCHMARKS.md: each preset on seeds 0 1 2, one run at a time (2-core CPU).
# Usage: benchmarks/adagan_seeds.sh [OUT_DIR] [PRESET...]; writes OUT_DIR/<preset>-s<seed>/ and summary.jsonl.
set -euo pipefail
out=${1:-runs/adagan-bench}
shift || true
presets=("${@:-adagan_gmm10 adagan_gmm25_grid}")
mkdir -p "$out"
for preset in ${presets[@]}; do
  for seed in 0 1 2; do
    dir="$out/$preset-s$seed"
    gankit train "$preset" --seed "$seed" --out "$dir" --overwrite --no-progress > "$dir.log" 2>&1
    python - "$dir" "$preset" "$seed" >> "$out/summary.jsonl" <<'PY'
import json, re, sys
from pathlib import Path
run, preset, seed = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
steps = json.loads((run / "boost.json").read_text())["steps"]
done = re.search(r"done: (\d+) steps in ([\d.]+) s \(([\d.]+) it/s\)", Path(f"{run}.log").read_text())
# G iterations per second while components train (the card's progress-bar figure), from the log lines
rates = []
for m in sorted(run.glob("**/metrics.jsonl")):
    rates += [r["it_per_s"] for r in map(json.loads, m.read_text().splitlines()) if "it_per_s" in r and r["step"] > 1000]
print(json.dumps({"preset": preset, "seed": seed, "first": steps[0], "last": steps[-1],
                  "seconds": float(done.group(2)), "it_per_s_overall": float(done.group(3)),
                  "it_per_s_training": sorted(rates)[len(rates) // 2] if rates else None}))
PY
  done
done
