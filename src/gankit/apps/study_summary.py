"""A study's results: `study.csv` (a row per trial), `summary.md` (configurations ranked; the median of each score
per value of each swept key; matched-pair comparisons of each value against the key's first; two-way medians; the
rank agreement of the scores) and `plot-<score>.png` (box and strip plots per swept key)."""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from gankit.files import atomic_write, atomic_write_text
from gankit.metrics.suite import score_direction


def _better(score: str) -> str:
    """How a score reads, as its metric declares it."""
    direction = score_direction(score)
    return f"{direction} is better" if direction else "no direction (not ranked)"


def _metric_names(rows: list[dict]) -> list[str]:
    names: list[str] = []
    for row in rows:
        names += [k for k in row["scores"] if k not in names]
    return names


def _fmt_value(v) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def _mean_std(values: list[float]) -> str:
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.4g}"
    return f"{np.mean(values):.4g} ± {np.std(values):.2g}"


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def matched_differences(rows: list[dict], key: str, value, baseline, metric: str) -> list[float]:
    """score(key=value) - score(key=baseline) over the finished trials that agree on every other swept value and the
    seed: the effect of changing one key with everything else held, once per matched pair (a non-finite score counts
    as the worst possible, so the difference is +-inf or nan, and a pair of two blown-up scores nan)."""
    def rest(row):
        return json.dumps({k: v for k, v in row["values"].items() if k != key}, sort_keys=True, default=str), row["seed"]

    worst = -math.inf if score_direction(metric) == "higher" else math.inf

    def score(row) -> float:  # a blown-up score (inf, nan) counts as the worst, not as a missing pair
        value = row["scores"].get(metric)
        return value if _finite(value) else worst

    base = {rest(r): score(r) for r in rows
            if r["status"] == "finished" and r["values"].get(key) == baseline and metric in r["scores"]}
    return [score(r) - base[rest(r)] for r in rows
            if r["status"] == "finished" and r["values"].get(key) == value and metric in r["scores"] and rest(r) in base]


def rank_agreement(rows: list[dict], a: str, b: str) -> tuple[float, int]:
    """Spearman's rank correlation of scores `a` and `b` over the finished trials that have both, signed so that +1
    means they rank the trials alike, better to worse (flipped when one score is lower-is-better and the other
    higher-is-better), and their count (nan when fewer than 3 or one score is constant)."""
    pairs = [(r["scores"][a], r["scores"][b]) for r in rows
             if r["status"] == "finished" and _finite(r["scores"].get(a)) and _finite(r["scores"].get(b))]
    if len(pairs) < 3 or len({p[0] for p in pairs}) < 2 or len({p[1] for p in pairs}) < 2:
        return math.nan, len(pairs)
    rho = float(spearmanr([p[0] for p in pairs], [p[1] for p in pairs])[0])
    # scores read in opposite directions (fd lower, precision higher is better) agree when their ranks are reversed
    opposite = {score_direction(a), score_direction(b)} == {"lower", "higher"}
    return (-rho if opposite else rho), len(pairs)


def _paired_sections(rows: list[dict], keys: list[str], ranked: list[str]) -> list[str]:
    """Matched pairs per grid key (each value against the key's first) and the two-way medians of the first ranked
    score (`keys`: the grid's keys; random draws never match); then the scores' rank agreement over every trial."""
    lines = []
    for key in keys:
        values = list(dict.fromkeys(r["values"].get(key) for r in rows))
        table = []
        for value in values[1:]:
            cells = []
            for m in ranked:
                diffs = matched_differences(rows, key, value, values[0], m)
                if not diffs:
                    cells.append("—")
                    continue
                wins = sum(d < 0 if score_direction(m) == "lower" else d > 0 for d in diffs)
                finite = [d for d in diffs if math.isfinite(d)]
                median = f"median Δ {np.median(finite):+.4g}" if finite else "no finite Δ"
                blown = len(diffs) - len(finite)
                cells.append(f"{wins}/{len(diffs)} better, {median}" + (f" ({blown} non-finite)" if blown else ""))
            if any(c != "—" for c in cells):
                table.append(f"| {_fmt_value(value)} | " + " | ".join(cells) + " |")
        if table:
            lines += [f"## `{key}` against `{_fmt_value(values[0])}`, everything else held (matched pairs)", "",
                      "Each pair: two finished trials that differ only in this key (same other values, same seed). "
                      "Δ = this value's score − the first value's.", "",
                      "| value | " + " | ".join(ranked) + " |", "|" + "---|" * (1 + len(ranked)), *table, ""]
    if ranked and len(keys) > 1:
        m = ranked[0]
        for i, a in enumerate(keys):
            for b in keys[i + 1:]:
                a_values = list(dict.fromkeys(r["values"].get(a) for r in rows))
                b_values = list(dict.fromkeys(r["values"].get(b) for r in rows))
                lines += [f"## `{m}` median by `{a}` × `{b}`", "",
                          f"| {a} \\ {b} | " + " | ".join(_fmt_value(v) for v in b_values) + " |",
                          "|" + "---|" * (1 + len(b_values))]
                for av in a_values:
                    cells = []
                    for bv in b_values:
                        vals = [r["scores"][m] for r in rows if r["status"] == "finished" and r["values"].get(a) == av
                                and r["values"].get(b) == bv and _finite(r["scores"].get(m))]
                        cells.append(f"{np.median(vals):.4g}" if vals else "—")
                    lines.append(f"| {_fmt_value(av)} | " + " | ".join(cells) + " |")
                lines.append("")
    if len(ranked) > 1:
        lines += ["## Do the scores rank trials alike? (Spearman's rank correlation over finished trials)", "",
                  "| scores | ρ | trials |", "|---|---|---|"]
        for i, a in enumerate(ranked):
            for b in ranked[i + 1:]:
                rho, n = rank_agreement(rows, a, b)
                lines.append(f"| {a} / {b} | {rho:.3f} | {n} |")
        lines.append("")
    return lines


def write_summary(out: Path, spec, name: str, rows: list[dict], pending: int = 0) -> dict:
    """The study's files in `out` from its `spec` (a `gankit.apps.study.StudySpec`: description, base, set, seeds)
    and its trial rows; returns {file kind: path}."""
    keys = list(dict.fromkeys(k for row in rows for k in row["values"]))
    all_metrics = _metric_names(rows)
    finished = [r for r in rows if r["status"] == "finished"]
    # the table keeps every score; the summary leaves out those equal in every trial (e.g. modes_total)
    metrics = [m for m in all_metrics if len({r["scores"].get(m) for r in finished}) > 1] or all_metrics
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["trial", *keys, "seed", "status", "seconds", *all_metrics])
    for row in rows:
        writer.writerow([row["id"], *(row["values"].get(k, "") for k in keys), row["seed"], row["status"],
                         row.get("seconds", ""), *(row["scores"].get(m, "") for m in all_metrics)])
    atomic_write_text(out / "study.csv", table.getvalue())

    lines = [f"# Study `{name}`", ""]
    if spec.description:
        lines += [spec.description, ""]
    lines += [f"Base `{spec.base}`; fixed: " + (", ".join(f"`{k}={_fmt_value(v)}`" for k, v in spec.set.items()) or "none")
              + f"; seeds {spec.seeds}. {len(rows) + pending} trials, {len(finished)} finished"
              + (f", {len(rows) - len(finished)} diverged or failed" if len(finished) < len(rows) else "")
              + (f", {pending} not run yet (a summary of the study so far)" if pending else "") + ".", ""]
    for metric in metrics:
        lines.append(f"- `{metric}`: {_better(metric)}")
    lines.append("")

    # one line per configuration, seeds pooled, best first by the first metric that has a direction
    configs: dict[str, list[dict]] = {}
    for row in rows:
        configs.setdefault(json.dumps(row["values"], sort_keys=True, default=str), []).append(row)
    first = next((m for m in metrics if score_direction(m)), None)

    def rank(item):
        vals = [r["scores"].get(first) for r in item[1] if r["status"] == "finished" and first in r["scores"]]
        if not vals:
            return math.inf
        return np.mean(vals) if score_direction(first) == "lower" else -np.mean(vals)

    lines += ["## Configurations (mean ± std over seeds, best first" + (f" by `{first}`)" if first else ")"), "",
              "| " + " | ".join([*keys, "finished", "seconds", *metrics]) + " |", "|" + "---|" * (len(keys) + 2 + len(metrics))]
    for _, group in sorted(configs.items(), key=rank):
        values = group[0]["values"]
        ok = [r for r in group if r["status"] == "finished"]
        seconds = np.mean([r.get("seconds", 0) for r in group])
        cells = [_fmt_value(values.get(k, "")) for k in keys] + [f"{len(ok)}/{len(group)}", f"{seconds:.0f}"]
        cells += [_mean_std([r["scores"].get(m) for r in ok]) for m in metrics]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")

    for key in keys:  # marginal effect of each swept key, pooled over everything else
        lines += [f"## By `{key}`", "",
                  "| value | trials | seconds median | " + " | ".join(f"{m} median" for m in metrics) + " |",
                  "|" + "---|" * (3 + len(metrics))]
        for value in dict.fromkeys(r["values"].get(key) for r in rows):
            group = [r for r in finished if r["values"].get(key) == value]
            medians = []
            for m in metrics:
                vals = [r["scores"][m] for r in group if m in r["scores"] and math.isfinite(r["scores"][m])]
                medians.append(f"{np.median(vals):.4g}" if vals else "—")
            seconds = [r["seconds"] for r in group if _finite(r.get("seconds"))]
            lines.append(f"| {_fmt_value(value)} | {len(group)} | " + (f"{np.median(seconds):.0f}" if seconds else "—")
                         + " | " + " | ".join(medians) + " |")
        lines.append("")
    grid_keys = [k for k in keys if k in (getattr(spec, "grid", None) or {})]
    lines += _paired_sections(rows, grid_keys, [m for m in metrics if score_direction(m)])
    failed = [r for r in rows if r["status"] != "finished"]
    if failed:
        lines += ["## Diverged or failed", ""] + [f"- `{r['id']}`: {r.get('error', r['status'])}" for r in failed] + [""]

    plots = []
    for metric in metrics:
        path = out / f"plot-{metric}.png"
        if keys and plot_metric(finished, keys, metric, path):
            plots.append(path.name)
            lines += [f"![{metric}]({path.name})", ""]
    atomic_write_text(out / "summary.md", "\n".join(lines))
    return {"csv": str(out / "study.csv"), "summary": str(out / "summary.md"), "plots": plots}


def plot_metric(rows: list[dict], keys: list[str], metric: str, path: Path) -> bool:
    """Box plot and the individual trials (strip) of `metric` per value of each swept key, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if metric in r["scores"] and math.isfinite(r["scores"][metric])]
    if not rows:
        return False
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys) + 0.8, 3.4), squeeze=False, sharey=True)
    jitter = np.random.default_rng(0)
    for ax, key in zip(axes[0], keys):
        values = list(dict.fromkeys(r["values"].get(key) for r in rows))
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        values = sorted(values) if numeric else values
        groups = [[r["scores"][metric] for r in rows if r["values"].get(key) == v] for v in values]
        ax.boxplot(groups, widths=0.5, showfliers=False)
        for i, group in enumerate(groups, 1):
            ax.scatter(i + jitter.uniform(-0.12, 0.12, len(group)), group, s=14, alpha=0.7, color="tab:blue", zorder=3)
        ax.set_xticks(range(1, len(values) + 1), [_fmt_value(v) for v in values], rotation=30, ha="right", fontsize=8)
        ax.set_xlabel(key)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel(f"{metric} ({_better(metric)})")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return True
