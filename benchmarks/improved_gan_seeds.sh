#!/usr/bin/env bash
# Improved-GAN figures for BENCHMARKS.md, seeds 0 1 2 (training seed and label-draw seed alike), one run at a
# time (2-core CPU): Fashion-MNIST 100 labels SSL vs the supervised-only baseline on the same labels, digits with
# 5 labels per class (SSL and baseline) and with all labels.
# Usage: benchmarks/improved_gan_seeds.sh [OUT_DIR] [JOB...] with jobs fashion, digits (default both);
# writes OUT_DIR/<name>-s<seed>/ and appends one JSON line per run to OUT_DIR/summary.jsonl.
set -euo pipefail
out=${1:-runs/improved-gan-bench}
shift || true
jobs=("${@:-fashion digits}")
mkdir -p "$out"

run() {  # name preset seed [overrides...]
  local name=$1 preset=$2 seed=$3
  shift 3
  local dir="$out/$name-s$seed"
  gankit train "$preset" --seed "$seed" --set ssl.label_seed="$seed" "$@" --out "$dir" --overwrite --no-progress > "$dir.log" 2>&1
  gankit eval "$dir" >> "$dir.log" 2>&1
  python - "$dir" "$name" "$seed" >> "$out/summary.jsonl" <<'PY'
import json, re, sys
from pathlib import Path
import yaml
run, name, seed = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
scores = json.loads((run / "eval.json").read_text())["results"]
last = scores[max(scores, key=int)]["scores"]
done = re.search(r"done: (\d+) steps in ([\d.]+) s \(([\d.]+) it/s\)", Path(f"{run}.log").read_text())
batch = yaml.safe_load((run / "config.yaml").read_text())["train"]["batch_size"]
curve = [(r["step"], r["eval"]["accuracy"]) for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
         if "eval" in r and "accuracy" in r["eval"]]
print(json.dumps({"name": name, "seed": seed, "accuracy": last["accuracy"]["mean"], "errors": last["errors"]["mean"],
                  "fd": last.get("fd", {}).get("mean"), "steps": int(done.group(1)), "seconds": float(done.group(2)),
                  "it_per_s": float(done.group(3)), "img_per_s": float(done.group(3)) * batch, "curve": curve}))
PY
}

for job in ${jobs[@]}; do
  for seed in 0 1 2; do
    if [ "$job" = fashion ]; then
      run fashion-ssl improved_gan_fashion_mnist "$seed"
      run fashion-baseline improved_gan_fashion_mnist "$seed" --set ssl.supervised_only=true
    else
      run digits5-ssl improved_gan_digits "$seed"
      run digits5-baseline improved_gan_digits "$seed" --set ssl.supervised_only=true
      run digitsall-ssl improved_gan_digits "$seed" --set ssl.labels_per_class=all
    fi
  done
done
