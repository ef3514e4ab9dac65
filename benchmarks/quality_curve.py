"""Time-to-quality: scores of every kept checkpoint of one or more runs against their training time.

    gankit eval RUN --checkpoint all --threads 1          # first, for each run: scores every checkpoint
    python benchmarks/quality_curve.py RUN [RUN ...] --out curve.png [--scores fd fd_precision fd_recall]

Training time at a step is read from the run's metrics.jsonl (the it/s of each log line over the steps since the
previous one; the time between a kill and a resume is left out). Prints a table
(run, step, minutes, scores) and draws one panel per score with a line per run.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def training_minutes(run: Path) -> dict[int, float]:
    """{step: minutes of training up to that step}: each log record's it_per_s covers the steps since the previous
    record of the same process, checkpoints and sample grids included (a resumed run restarts that clock)."""
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    elapsed, minutes, previous_step = 0.0, {0: 0.0}, 0
    for record in records:
        if record.get("event") == "resume":
            previous_step = record["step"]
            continue
        rate = record.get("it_per_s")
        if not isinstance(rate, (int, float)) or rate <= 0:
            continue
        elapsed += (record["step"] - previous_step) / rate
        previous_step = record["step"]
        minutes[record["step"]] = elapsed / 60
    return minutes


def run_scores(run: Path, names: list[str]) -> list[tuple[int, float, dict[str, float]]]:
    results = json.loads((run / "eval.json").read_text())["results"]
    minutes = training_minutes(run)
    rows = []
    for step, entry in sorted(results.items(), key=lambda item: int(item[0])):
        step = int(step)
        known = [s for s in minutes if s <= step]
        at = minutes[max(known)] if known else float("nan")
        rows.append((step, at, {n: entry["scores"][n]["mean"] for n in names if n in entry["scores"]}))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("curve.png"))
    parser.add_argument("--scores", nargs="+", default=["fd", "fd_precision", "fd_recall"])
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(args.scores), figsize=(4.2 * len(args.scores), 3.4), squeeze=False)
    for run in args.runs:
        rows = run_scores(run, args.scores)
        for step, at, scores in rows:
            print(f"{run.name}\t{step}\t{at:.1f} min\t" + "\t".join(f"{k} {v:.4g}" for k, v in scores.items()))
        for ax, name in zip(axes[0], args.scores):
            points = [(at, scores[name]) for _, at, scores in rows if name in scores]
            if points:
                ax.plot(*zip(*points), marker="o", markersize=3, label=run.name)
    for ax, name in zip(axes[0], args.scores):
        ax.set_xlabel("training minutes")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        if name == "fd":
            ax.set_yscale("log")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
