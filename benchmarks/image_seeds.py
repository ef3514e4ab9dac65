"""Quality of an image preset over seeds, against training time: train each seed (1 thread), score every kept
checkpoint (`gankit eval RUN --checkpoint all --threads 1`), then print the curve and a summary row.

    python benchmarks/image_seeds.py wgan_gp_fashion_mnist --seeds 0 1 2 --out runs/seeds [--set KEY=VALUE ...]
    python benchmarks/image_seeds.py wgan_gp_fashion_mnist --seeds 0 1 2 --out runs/seeds --summary-only

Runs land in OUT/PRESET-sSEED (a run that already finished is only re-scored where eval.json lacks a checkpoint).
Appends one JSON line per seed to OUT/PRESET.jsonl (steps, training minutes from metrics.jsonl, process CPU seconds,
median it/s, scores of every checkpoint) and prints, for the last checkpoint and each checkpoint step, mean ± std
over the seeds of FD, precision, recall and the class-share range of the samples (the issue-22 targets), or on toy
data the modes covered, the high-quality share, C and log_p.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality_curve import training_minutes  # noqa: E402

from gankit.metrics.suite import is_label_score  # noqa: E402  (class indices: kept in the curve, not averaged)

SCORES = {"fd": "FD", "fd_precision": "precision", "fd_recall": "recall", "class_ratio_min": "class share min",
          "class_ratio_max": "max", "classes_within_30pct": "classes within ±30 %",
          "modes_covered": "modes covered", "high_quality": "high-quality share", "C": "C", "log_p": "log_p"}  # toy data


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def gankit(*args: str, log: Path) -> None:
    with open(log, "a") as fh:
        subprocess.run([sys.executable, "-m", "gankit", *args], check=True, stdout=fh, stderr=subprocess.STDOUT)


def train_and_score(preset: str, seed: int, out: Path, sets: list[str]) -> dict:
    run = out / f"{preset}-s{seed}"
    log = out / f"{preset}-s{seed}.log"
    cpu = cpu_seconds()
    status = run / "status.json"
    finished = status.is_file() and json.loads(status.read_text() or "{}").get("state") == "finished"
    if not finished:
        extra = [a for s in sets for a in ("--set", s)]
        if (run / "checkpoints").is_dir():
            gankit("resume", str(run), "--no-progress", log=log)
        else:
            gankit("train", preset, "--out", str(run), "--seed", str(seed), "--no-progress", *extra, log=log)
    train_cpu = cpu_seconds() - cpu
    gankit("eval", str(run), "--checkpoint", "all", "--threads", "1", log=log)
    results = json.loads((run / "eval.json").read_text())["results"]
    minutes = training_minutes(run)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    speeds = sorted(r["it_per_s"] for r in records if isinstance(r.get("it_per_s"), (int, float)))
    curve = []
    for step, entry in sorted(results.items(), key=lambda item: int(item[0])):
        known = [s for s in minutes if s <= int(step)]
        curve.append({"step": int(step), "minutes": round(minutes[max(known)], 2) if known else None,
                      **{k: v["mean"] for k, v in entry["scores"].items() if k in SCORES or is_label_score(k)}})
    return {"preset": preset, "seed": seed, "sets": sets, "run": str(run), "train_cpu_s": round(train_cpu, 1),
            "median_it_per_s": speeds[len(speeds) // 2] if speeds else None, "curve": curve}


def spread(values: list[float], digits: int = 3) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}g}"
    return f"{statistics.mean(values):.{digits}g} ± {statistics.stdev(values):.2g}"


def summarize(rows: list[dict]) -> None:
    steps = sorted({p["step"] for r in rows for p in r["curve"]})
    print(f"{len(rows)} seeds: {', '.join(str(r['seed']) for r in rows)}; median it/s "
          + ", ".join(f"{r['median_it_per_s']:.2f}" for r in rows if r["median_it_per_s"]))
    shown = [k for k in SCORES if any(k in p for r in rows for p in r["curve"])]
    print("step | minutes | " + " | ".join(SCORES[k] for k in shown))
    for step in steps:
        points = [p for r in rows for p in r["curve"] if p["step"] == step]
        if len(points) < len(rows):
            continue
        cols = [spread([p["minutes"] for p in points if p["minutes"] is not None], 3)]
        cols += [spread([p[k] for p in points], 3) if all(k in p for p in points) else "—" for k in shown]
        print(f"{step} | " + " | ".join(cols))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("runs/image-seeds"))
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--summary-only", action="store_true", help="only summarize OUT/PRESET.jsonl")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    table = args.out / f"{args.preset}.jsonl"
    if not args.summary_only:
        for seed in args.seeds:
            row = train_and_score(args.preset, seed, args.out, args.sets)
            with open(table, "a") as fh:
                fh.write(json.dumps(row) + "\n")
    latest = {}
    for line in table.read_text().splitlines():
        row = json.loads(line)
        if row["seed"] in args.seeds:
            latest[row["seed"]] = row
    summarize([latest[s] for s in sorted(latest)])


if __name__ == "__main__":
    main()
