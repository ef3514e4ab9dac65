"""One picture of a whole study: for every configuration, the first rows of its last sample grid (one seed), labelled
with its swept values and score, so the techniques can be compared by eye beside the summary's numbers.

    python benchmarks/study_contact_sheet.py STUDY_FILE --out-dir RUNS/study-x --seed 0 --rows 1 --to docs/study-x/samples-seed0.png

Reads OUT_DIR/trials/<id>/samples/step-*.png (the newest) and trial.json; a trial without either is shown as
"not run". The grids must be the loop's square grids (`train.grid_size` a square number).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from gankit.apps.study import load_study, plan  # noqa: E402
from gankit.config import load_config  # noqa: E402


def first_rows(grid_png: Path, rows: int, per_side: int) -> np.ndarray:
    """The top `rows` rows of images of a square sample grid (per_side x per_side tiles)."""
    image = np.asarray(Image.open(grid_png).convert("L"))
    return image[: round(image.shape[0] * min(rows, per_side) / per_side)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study_file")
    parser.add_argument("--out-dir", required=True, type=Path, help="the study's --out folder (with trials/)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", type=int, default=1, help="rows of the sample grid to show per configuration")
    parser.add_argument("--score", default="fd")
    parser.add_argument("--to", required=True, type=Path)
    args = parser.parse_args(argv)
    spec = load_study(args.study_file)
    trials = [t for t in plan(spec) if t["seed"] == args.seed]
    if not trials:
        print(f"{args.study_file}: no trial with seed {args.seed}", file=sys.stderr)
        return 2
    cols = 2
    per_col = math.ceil(len(trials) / cols)
    fig, axes = plt.subplots(per_col, cols, figsize=(cols * 7.5, per_col * 1.05 * args.rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for k, trial in enumerate(trials):
        ax = axes[k % per_col][k // per_col]
        run = args.out_dir / "trials" / trial["id"]
        grids = sorted((run / "samples").glob("step-*.png"))
        label = ", ".join(str(v) for v in trial["values"].values())
        try:
            row = json.loads((run / "trial.json").read_text())
            score = row["scores"].get(args.score)
            label += f"  {args.score} {score:.1f}" if isinstance(score, (int, float)) else f"  ({row['status']})"
        except (OSError, ValueError, KeyError):
            label += "  (not run)"
            grids = []  # a trial still running shows its early grids: leave it blank
        if grids:
            per_side = math.isqrt(load_config(trial["base"], trial["overrides"]).train.grid_size)
            ax.imshow(first_rows(grids[-1], args.rows, per_side), cmap="gray", vmin=0, vmax=255)
        ax.set_title(label, fontsize=8, loc="left")
    name = spec.name or Path(args.study_file).stem
    fig.suptitle(f"{name}: last sample grid of seed {args.seed}, first {args.rows} row(s), per configuration", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    args.to.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.to, dpi=80)
    print(f"{len(trials)} configurations -> {args.to}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
