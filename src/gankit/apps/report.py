"""`report.html`: one self-contained page per run or study (every picture inlined, no script, opens offline).

A run's page: its state (and every resume), the eval table with its protocol, loss and metric curves (matplotlib),
sample grids over training (titled as the family says: StarGAN's are translation grids), the family's own sections
(`Family.report_parts`: AdaGAN's scatter plot per boosting step and coverage/likelihood curves, Improved-GAN's accuracy
curves, StarGAN's `gankit translate` grids) and the resolved config's sections that the family reads. A study's page:
the trial table, the summary, the per-score plots and a link to each trial's own page.
"""
from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
import time
from pathlib import Path

import numpy as np
import yaml

from gankit import __version__
from gankit.config import config_from_dict
from gankit.errors import GankitError, RunDirError
from gankit.families import FAMILIES
from gankit.families.base import Family
from gankit.files import atomic_write
from gankit.metrics.suite import is_label_score
from gankit.runs.directory import check_out_beside_run, read_run_config

REPORT_NAME = "report.html"
MAX_GRIDS = 8  # sample grids shown: evenly spaced over training, first and last included
SKIP_KEYS = {"step", "epoch", "time", "eval"}

STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1180px;color:#222;padding:0 12px}
h1{font-size:1.5em;margin-bottom:4px} h2{font-size:1.15em;border-bottom:1px solid #ddd;padding-bottom:3px;margin-top:28px}
.meta{color:#555;font-size:.9em} table{border-collapse:collapse;font-size:.85em;margin:8px 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right} th{background:#f3f3f3} td:first-child,th:first-child{text-align:left}
pre{background:#f7f7f7;padding:10px;font-size:.8em;overflow-x:auto;border:1px solid #e4e4e4}
figure{display:inline-block;margin:6px 10px 6px 0;vertical-align:top} figcaption{font-size:.8em;color:#555;text-align:center}
img{image-rendering:pixelated;max-width:100%;border:1px solid #e4e4e4} .plot img{image-rendering:auto;border:none}
.wide{overflow-x:auto}
table.protocol td{text-align:left;font-family:monospace;word-break:break-all} table.protocol caption{text-align:left;color:#555}
"""


# ---------------------------------------------------------------- pictures
def _png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _img(data: bytes, caption: str = "", width: int | None = None, plot: bool = False) -> str:
    style = f' style="width:{width}px"' if width else ""
    cls = ' class="plot"' if plot else ""
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure{cls}><img src="{_png_uri(data)}" alt="{html.escape(caption)}"{style}>{cap}</figure>'


def _file_img(path: Path, caption: str, width: int | None = None) -> str:
    """A PNG from disk, shown `width` px wide (small grids enlarged, large ones shrunk) or at its own size."""
    return _img(path.read_bytes(), caption, width)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _curves_png(series: dict[str, tuple[list[float], list[float]]], title: str, xlabel: str = "G iteration",
                log_scale: set[str] = frozenset()) -> bytes:
    """A small multiple per series (x, y), 3 per row, as PNG bytes."""
    plt = _pyplot()
    cols = min(3, len(series))
    rows = math.ceil(len(series) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.8 * rows), dpi=90, squeeze=False)
    for ax, (name, (x, y)) in zip(axes.flat, series.items()):
        ax.plot(x, y, lw=1.2, marker="o" if len(x) <= 20 else None, ms=3)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if name in log_scale and min(y) > 0:
            ax.set_yscale("log")
    for ax in list(axes.flat)[len(series):]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


# ---------------------------------------------------------------- reading a run
def _read_jsonl(path: Path) -> list[dict]:
    """The run's log lines; a line cut short by a crash is skipped."""
    records = []
    if path.is_file():
        for line in path.read_text(errors="replace").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return [r for r in records if isinstance(r, dict)]


def used_sections(cfg_dict: dict) -> list[str]:
    """The config sections (the mapping-valued keys of `cfg_dict`, in their order) that the run's family reads, as
    the family declares them (for a config that does not validate, as its family reads the defaults); every section
    for a family gankit does not know."""
    sections = [key for key, value in cfg_dict.items() if isinstance(value, dict)]
    family = cfg_dict.get("family")
    if not isinstance(family, str) or family not in FAMILIES:
        return sections
    try:
        cfg = config_from_dict(cfg_dict)
    except GankitError:
        cfg = config_from_dict({"family": family})
    used = FAMILIES.get(family).config_sections(cfg)
    return [key for key in sections if key in used]


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def train_series(records: list[dict]) -> dict[str, tuple[list[float], list[float]]]:
    """Per logged key (losses, accuracies, it/s): the steps and finite values of the training log."""
    series: dict[str, tuple[list[float], list[float]]] = {}
    for record in records:
        if "eval" in record or "event" in record or "step" not in record:  # scores and events (resume) carry no losses
            continue
        for key, value in record.items():
            if key not in SKIP_KEYS and (v := _number(value)) is not None:
                xs, ys = series.setdefault(key, ([], []))
                xs.append(record["step"])
                ys.append(v)
    order = sorted(series, key=lambda k: (not k.startswith("loss"), k == "it_per_s", k))
    return {k: series[k] for k in order}


def eval_series(records: list[dict], eval_json: dict | None) -> dict[str, tuple[list[float], list[float]]]:
    """Scores over training: evaluations logged during training, then eval.json's per checkpoint (same step: eval.json wins)."""
    points: dict[str, dict[float, float]] = {}
    for record in records:
        if "event" in record:
            continue
        for key, value in (record.get("eval") or {}).items():
            if (v := _number(value)) is not None:
                points.setdefault(key, {})[record["step"]] = v
    for step, result in ((eval_json or {}).get("results") or {}).items():
        for key, score in (result.get("scores") or {}).items():  # a class index is no curve
            value = score.get("mean") if isinstance(score, dict) else score
            if (v := _number(value)) is not None and str(step).isdigit() and not is_label_score(key):
                points.setdefault(key, {})[int(step)] = v
    return {k: (sorted(p), [p[s] for s in sorted(p)]) for k, p in points.items()}


def _eval_table(eval_json: dict) -> str:
    results = eval_json.get("results") or {}
    if not results:
        return ""
    names = list(dict.fromkeys(k for r in results.values() for k in (r.get("scores") or {})))
    head = "<tr><th>checkpoint</th>" + "".join(f"<th>{html.escape(n)}</th>" for n in names) + "</tr>"
    rows = []

    def cell(score) -> str:
        if isinstance(score, dict):
            mean, std, n = score.get("mean"), score.get("std"), len(score.get("values") or [])
            return f"{mean:.4g}" + (f" ± {std:.2g}" if n > 1 and std is not None else "") if _number(mean) is not None else "—"
        return f"{score:.4g}" if _number(score) is not None else "—"

    for step, result in sorted(results.items(), key=lambda kv: int(kv[0]) if str(kv[0]).isdigit() else -1):
        scores = result.get("scores") or {}
        rows.append(f"<tr><td>step {html.escape(str(step))}</td>" + "".join(f"<td>{cell(scores.get(n))}</td>" for n in names) + "</tr>")
        for label, ref_scores in (result.get("reference_translators") or {}).items():
            rows.append(f"<tr><td>{html.escape(label)} (reference)</td>"
                        + "".join(f"<td>{cell(ref_scores.get(n))}</td>" for n in names) + "</tr>")
    written = eval_json.get("written")
    return (f"<div class='wide'><table>{head}{''.join(rows)}</table></div>{_protocol_tables(eval_json)}"
            + (f"<p class='meta'>written: {html.escape(str(written))}</p>" if written else ""))


def flatten(mapping: dict, prefix: str = "") -> dict[str, object]:
    """Nested dicts -> one level with dotted keys ({'a': {'b': 1}} -> {'a.b': 1}); an empty dict stays a value."""
    flat: dict[str, object] = {}
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            flat |= flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _protocol_tables(eval_json: dict) -> str:
    """A key | value table per distinct protocol: each result's own `protocol`, else eval.json's; results that share
    one share its table, captioned with their checkpoints."""
    default = eval_json.get("protocol") if isinstance(eval_json.get("protocol"), dict) else {}
    groups: dict[str, tuple[dict, list[str]]] = {}
    results = (eval_json.get("results") or {}).items()
    for step, result in sorted(results, key=lambda kv: int(kv[0]) if str(kv[0]).isdigit() else -1):
        own = result.get("protocol") if isinstance(result, dict) else None
        protocol = own if isinstance(own, dict) else default
        groups.setdefault(json.dumps(protocol, sort_keys=True), (protocol, []))[1].append(str(step))
    tables = []
    for protocol, steps in groups.values():
        if not protocol:
            continue
        caption = "protocol" if len(groups) == 1 else "protocol of " + ", ".join(f"step {s}" for s in steps)
        rows = "".join(f"<tr><td>{html.escape(key)}</td><td>{html.escape(_plain(value))}</td></tr>"
                       for key, value in flatten(protocol).items())
        tables.append(f"<div class='wide'><table class='protocol'><caption>{html.escape(caption)}</caption>"
                      f"<tr><th>key</th><th>value</th></tr>{rows}</table></div>")
    return "".join(tables)


def _plain(value) -> str:
    """A protocol value as text: strings as they are, lists of plain values comma-separated, anything else as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
        return ", ".join(map(str, value))
    return json.dumps(value, sort_keys=True)


def _grid_section(folder: Path, title: str, note: str, width: int = 270) -> str:
    files = sorted(folder.glob("step-*.png")) if folder.is_dir() else []
    if not files:
        return ""
    pick = sorted({round(i) for i in np.linspace(0, len(files) - 1, min(MAX_GRIDS, len(files)))})
    figures = "".join(_file_img(files[i], f"step {_step_of(files[i])}", width) for i in pick)
    if (real := folder / "real.png").is_file():  # written by training beside the first grid, at the same size
        figures += _file_img(real, "real training images, shown alike", width)
    return f"<h2>{html.escape(title)}</h2><p class='meta'>{html.escape(note)} ({len(pick)} of {len(files)} grids)</p>{figures}"


def _step_of(path: Path) -> str:
    number = path.stem.rsplit("-", 1)[-1]
    return str(int(number)) if number.isdigit() else number


def _family_part(part) -> str:
    """A family's own section (`gankit.families.base.ReportPart`)."""
    html_parts = [f"<h2>{html.escape(part.title)}</h2>"]
    if part.note:
        html_parts.append(f"<p class='meta'>{html.escape(part.note)}</p>")
    if part.curves:
        html_parts.append(_img(_curves_png(part.curves, part.curves_title or part.title, part.xlabel), plot=True))
    html_parts += [_file_img(path, caption, part.image_width) for path, caption in part.images if path.is_file()]
    return "".join(html_parts)


def _when(seconds) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds)) if _number(seconds) is not None else "time unknown"


def resume_lines(records: list[dict]) -> list[str]:
    """'resumed at step N (date)' for each resume record of the log (`{"event": "resume", "step", "from", "time"}`)."""
    lines = []
    for record in records:
        if record.get("event") == "resume":
            step = record.get("step")
            line = f"resumed at step {step if isinstance(step, int) else '?'} ({_when(record.get('time'))})"
            lines.append(line + (f" from {record['from']}" if isinstance(record.get("from"), str) else ""))
    return lines


def _status_line(run_dir: Path) -> str:
    try:
        status = json.loads((run_dir / "status.json").read_text())
    except (OSError, json.JSONDecodeError):
        return "status unknown"
    return f"{status.get('state', '?')} at step {status.get('step', '?')} (updated {_when(status.get('updated', 0))})"


def run_report(run_dir: Path) -> str:
    cfg = read_run_config(run_dir)
    records = _read_jsonl(run_dir / "metrics.jsonl")
    try:
        eval_json = json.loads((run_dir / "eval.json").read_text()) if (run_dir / "eval.json").is_file() else None
    except json.JSONDecodeError:
        eval_json = None
    series, evals = train_series(records), eval_series(records, eval_json)
    parts = [f"<h1>{html.escape(cfg.name)} <span class='meta'>({html.escape(cfg.family)})</span></h1>",
             f"<p class='meta'>{html.escape(str(run_dir))} · {html.escape(_status_line(run_dir))} · "
             f"gankit {__version__} · report written {time.strftime('%Y-%m-%d %H:%M')}</p>"]
    if resumes := resume_lines(records):
        parts.append("<ul class='meta'>" + "".join(f"<li>{html.escape(line)}</li>" for line in resumes) + "</ul>")
    if cfg.description:
        parts.append(f"<p>{html.escape(cfg.description)}</p>")
    parts.append("<h2>Evaluation</h2>" + (_eval_table(eval_json) if eval_json else
                                         f"<p class='meta'>not evaluated yet: <code>gankit eval {html.escape(str(run_dir))}</code></p>"))
    family = FAMILIES.get(cfg.family) if cfg.family in FAMILIES else Family
    if series and family.report_training_curves:
        losses = {k: v for k, v in series.items() if k != "it_per_s"}
        parts.append("<h2>Training curves</h2>" + _img(_curves_png(losses, "training log"), plot=True))
    if curves := {k: v for k, v in evals.items() if len(v[0]) > 1}:  # one checkpoint scored: the table says it all
        parts.append("<h2>Metric curves</h2>" + _img(_curves_png(curves, "scores over training"), plot=True))
    grids = family.report_samples
    parts.append(_grid_section(run_dir / "samples", grids.title, grids.note, grids.width))
    parts += [_family_part(part) for part in family.report_parts(run_dir, series, evals)]
    if "it_per_s" in series:
        x, y = series["it_per_s"]
        parts.append(f"<p class='meta'>speed: median {np.median(y):.2f} G iterations/s over {len(y)} log lines</p>")
    parts.append(_config_section(cfg.to_dict()))
    return _page(f"gankit report: {cfg.name}", parts)


def _config_section(cfg_dict: dict) -> str:
    """The resolved config: its top-level values and the sections the family reads (the rest are named only)."""
    used = used_sections(cfg_dict)
    shown = {k: v for k, v in cfg_dict.items() if not isinstance(v, dict) or k in used}
    unused = [k for k, v in cfg_dict.items() if isinstance(v, dict) and k not in used]
    note = (f"<p class='meta'>not read by family {html.escape(str(cfg_dict.get('family')))}, so left out: "
            f"{html.escape(', '.join(unused))}</p>") if unused else ""
    return f"<h2>Resolved config</h2>{note}<pre>{html.escape(yaml.safe_dump(shown, sort_keys=False, width=1000))}</pre>"


# ---------------------------------------------------------------- a study
def is_study_dir(path: Path) -> bool:
    return (path / "plan.json").is_file() or (path / "study.csv").is_file()


def study_report(study_dir: Path) -> str:
    parts = [f"<h1>Study {html.escape(study_dir.name)}</h1>",
             f"<p class='meta'>{html.escape(str(study_dir))} · gankit {__version__} · report written "
             f"{time.strftime('%Y-%m-%d %H:%M')}</p>"]
    csv_path = study_dir / "study.csv"
    if csv_path.is_file():
        with open(csv_path, newline="") as fh:
            rows = list(csv.reader(fh))
        if rows:
            head, body = rows[0], rows[1:]
            link = lambda trial: (f"<a href='trials/{html.escape(trial)}/{REPORT_NAME}'>{html.escape(trial)}</a>"  # noqa: E731
                                  if (study_dir / "trials" / trial / REPORT_NAME).is_file() else html.escape(trial))
            cells = lambda row: "".join(f"<td>{link(v) if i == 0 else html.escape(_short(v))}</td>"  # noqa: E731
                                        for i, v in enumerate(row))
            parts.append(f"<h2>Trials ({len(body)})</h2><table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head)
                         + "</tr>" + "".join(f"<tr>{cells(r)}</tr>" for r in body) + "</table>")
    plots = sorted(study_dir.glob("plot-*.png"))
    if plots:
        parts.append("<h2>Scores per swept value</h2>" + "".join(_file_img(p, p.stem.replace("plot-", "")) for p in plots))
    best = sorted(study_dir.glob("best-*.png")) + sorted(study_dir.glob("worst-*.png"))
    if best:
        parts.append("<h2>Best and worst trials' samples</h2>" + "".join(_file_img(p, p.stem, 270) for p in best))
    if (study_dir / "summary.md").is_file():
        parts.append(f"<h2>Summary</h2><pre>{html.escape((study_dir / 'summary.md').read_text(errors='replace'))}</pre>")
    if len(parts) == 2:
        raise RunDirError(f"{study_dir}: study has no results yet (no study.csv, plots or summary.md)")
    return _page(f"gankit study report: {study_dir.name}", parts)


def _short(value: str) -> str:
    try:
        number = float(value)
    except ValueError:
        return value
    return value if number.is_integer() and "." not in value else f"{number:.4g}"


def _page(title: str, parts: list[str]) -> str:
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(p for p in parts if p)}</body></html>\n")


def write_report(path: str | Path, out: str | Path | None = None) -> Path:
    """Write the report of a run or study directory (`out` default: PATH/report.html) and return its path."""
    path = Path(path)
    if not path.is_dir():
        raise RunDirError(f"{path}: no such run or study directory")
    page = study_report(path) if is_study_dir(path) and not (path / "config.yaml").is_file() else run_report(path)
    check_out_beside_run(out, path, allowed=(REPORT_NAME,))
    target = Path(out) if out is not None else path / REPORT_NAME
    atomic_write(target, lambda tmp: tmp.write_text(page, encoding="utf-8"))
    return target


def refresh_report(run_dir: str | Path, log=print) -> Path | None:
    """After training or evaluation: rewrite the run's report when its config asks for one. A report that cannot be
    drawn is said in one line and never fails the run (its checkpoints and scores are already on disk)."""
    try:
        if not read_run_config(Path(run_dir)).train.report:
            return None
        path = write_report(run_dir)
    except (GankitError, OSError, ValueError) as err:
        log(f"report not written: {err}")
        return None
    log(f"report: {path}")
    return path
