"""Studies: many runs of one base config over a grid or a random sample of config values, and seeds — the
large-scale comparison of compare_gan's paper, as a tool.

A study file (YAML)::

    base: wgan_gp_digits              # preset name or YAML file every trial starts from
    set: {train.steps: 300}           # fixed overrides for every trial
    grid:                             # every combination of these values
      loss.name: [non_saturating, wasserstein]
      loss.penalty: [none, wgangp]
    random:                           # and/or: `samples` draws from distributions
      samples: 4
      seed: 0
      params:
        optim.lr_d: {log_uniform: [1.0e-5, 1.0e-3]}
        loss.penalty_weight: {choice: [1, 10]}
    seeds: [0, 1]

Each trial is an ordinary run directory `trials/<id>/` (train, then `gankit eval` on its last checkpoint) whose
id is derived from its overrides, so a study run again skips the trials that finished, resumes those that were
cut off and adds the new ones; a result saved under another resolved config (the base preset edited since) is
trained again, since `trial.json` keeps a hash of the whole config. Results: `study.csv` (a row per trial),
`summary.md` (a table per config and per value of each swept key) and `plot-<metric>.png` (box and strip plots of a
metric per value of each swept key).
"""
from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import os
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gankit.apps.evaluate import evaluate_run
from gankit.apps.report import refresh_report, write_report
from gankit.apps.study_processes import run_processes
from gankit.apps.study_summary import write_summary
from gankit.apps.train import resume, train
from gankit.config import load_config, load_yaml, read_config_file
from gankit.errors import ConfigError, GankitError, RunDirError
from gankit.files import RunLock, atomic_write_json, atomic_write_text, check_output_path, os_error_reason
from gankit.metrics.suite import is_label_score
from gankit.names import load_checked_config
from gankit.runs.directory import is_run_dir
from gankit.train import checkpoint as ckpt
from gankit.train.loop import Interrupted, resolve_device


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RandomSpec(_Strict):
    samples: int = Field(ge=1, description="number of random draws")
    seed: int = Field(0, description="seed of the draws (not of training)")
    params: dict[str, dict[str, list[Any]]] = Field(description="key -> {uniform|log_uniform: [lo, hi]} or {choice: [...]}")

    @field_validator("params")
    @classmethod
    def _check(cls, params):
        for key, dist in params.items():
            if len(dist) != 1 or next(iter(dist)) not in ("uniform", "log_uniform", "choice", "int_uniform"):
                raise ValueError(f"random.params.{key}: give one of uniform, log_uniform, int_uniform, choice")
            kind, values = next(iter(dist.items()))
            if kind != "choice" and not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                            and math.isfinite(v) for v in values):
                hint = " (YAML reads 1.0e30 as text: write 1.0e+30)" if any(isinstance(v, str) for v in values) else ""
                raise ValueError(f"{key}.{kind}: expected two finite numbers [low, high], got {values}{hint}")
            if kind == "int_uniform" and not all(float(v).is_integer() for v in values):
                raise ValueError(f"{key}.int_uniform: expected two whole numbers [low, high], got {values}")
            if kind != "choice" and (len(values) != 2 or values[0] > values[1]):
                raise ValueError(f"random.params.{key}.{kind}: expected [low, high] with low <= high")
            if kind == "log_uniform" and values[0] <= 0:
                raise ValueError(f"random.params.{key}.log_uniform: bounds must be positive")
            if kind == "choice" and not values:
                raise ValueError(f"random.params.{key}.choice: expected at least one value")
        return params


class StudySpec(_Strict):
    base: str = Field(description="preset name or YAML file")
    name: str | None = Field(None, description="a plain name (letters, digits, . _ -): the default folder is runs/study-NAME")
    description: str = ""
    set: dict[str, Any] = Field(default_factory=dict, description="overrides for every trial")
    grid: dict[str, list[Any]] = Field(default_factory=dict, description="key -> values, all combinations")
    random: RandomSpec | None = None
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)

    @field_validator("grid")
    @classmethod
    def _nonempty(cls, grid):
        for key, values in grid.items():
            if not values:
                raise ValueError(f"grid.{key}: expected at least one value")
            if len({json.dumps(v, sort_keys=True, default=str) for v in values}) != len(values):
                raise ValueError(f"grid.{key}: a value is listed twice ({values}); the trials would repeat")
        return grid

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name):
        if name is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", name):
            raise ValueError(f"expected a plain name of letters, digits, '.', '_' or '-' (it names the folder "
                             f"runs/study-NAME), got {name!r}")
        return name

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, seeds):
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"a seed is listed twice ({seeds}); the trials would repeat")
        return seeds

    @model_validator(mode="after")
    def _each_key_once(self):
        """A key is fixed (set), swept on the grid or drawn (random), never two of these: the later one would win
        silently. train.seed comes from `seeds` alone."""
        places = {"set": set(self.set), "grid": set(self.grid),
                  "random.params": set(self.random.params) if self.random else set()}
        for where, keys in places.items():
            if "train.seed" in keys:
                raise ValueError(f"{where}.train.seed: a study's seeds are listed under `seeds:`, not swept or fixed")
        for (a, keys_a), (b, keys_b) in itertools.combinations(places.items(), 2):
            if both := sorted(keys_a & keys_b):
                raise ValueError(f"{both[0]}: given in both {a} and {b}; keep it in one")
        return self


def load_study(path: str | Path) -> StudySpec:
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"{path}: no such study file")
    data = load_yaml(read_config_file(path), str(path))
    try:
        spec = StudySpec.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {where + ': ' if where else ''}{first['msg'].removeprefix('Value error, ')}") from None
    beside = path.parent / Path(spec.base).expanduser()
    if spec.base.endswith((".yaml", ".yml")) and beside.is_file():  # a base file is found beside the study file
        spec = spec.model_copy(update={"base": str(beside.resolve())})
    return spec


def _draw(kind: str, values: list, rng: np.random.Generator):
    if kind == "choice":
        return values[int(rng.integers(len(values)))]
    low, high = values
    if kind == "uniform":
        return float(rng.uniform(low, high))
    if kind == "int_uniform":
        return int(rng.integers(int(low), int(high) + 1))
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def swept_points(spec: StudySpec) -> list[dict[str, Any]]:
    """The configurations to try (without seeds): the grid's product, times the random draws if any."""
    keys = list(spec.grid)
    grid = [dict(zip(keys, combo)) for combo in itertools.product(*(spec.grid[k] for k in keys))] or [{}]
    if spec.random is None:
        return grid
    rng = np.random.default_rng(spec.random.seed)
    draws = [{k: _draw(*next(iter(d.items())), rng) for k, d in spec.random.params.items()} for _ in range(spec.random.samples)]
    return [{**g, **d} for g in grid for d in draws]


def trial_id(values: dict[str, Any], seed: int, fixed: dict[str, Any]) -> str:
    """Readable and stable: the swept values and seed, plus a hash of everything that defines the trial."""
    def short(v):
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    slug = "-".join(f"{k}={short(v)}" for k, v in values.items()) or "base"
    slug = "".join(c if c.isalnum() or c in "=-_." else "_" for c in slug)[:80]
    digest = hashlib.sha1(json.dumps([values, seed, fixed], sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"{slug}-s{seed}-{digest}"


def config_sha(cfg) -> str:
    """A hash of the whole resolved config: the trial id hashes the base preset's name, not its contents, so a
    changed preset (or default) is caught by this one."""
    return hashlib.sha1(json.dumps(cfg.to_dict(), sort_keys=True, default=str).encode()).hexdigest()[:12]


def plan(spec: StudySpec, origin: str = "study") -> list[dict[str, Any]]:
    """Every trial: id, swept values, seed and the full override dict (validated against the base now, registry
    names included, so a misspelt loss in the grid stops the study before any trial runs)."""
    trials = []
    for values in swept_points(spec):
        for seed in spec.seeds:
            overrides = {**spec.set, **values, "train.seed": seed}
            try:
                cfg = load_checked_config(spec.base, overrides)
            except ConfigError as err:
                swept = ", ".join(f"{k}={v}" for k, v in values.items()) or "the fixed settings"
                raise ConfigError(f"{origin}: trial with {swept}: {err}") from None
            trials.append({"id": trial_id(values, seed, {"base": spec.base, **spec.set}), "values": values, "seed": seed,
                           "overrides": overrides, "base": spec.base, "config_sha": config_sha(cfg)})
    return trials


# --- running one trial (in this process, a worker process or a Ray task) ---------------------------------------
def run_trial(trial: dict[str, Any], study_dir: str, threads: int | None = None) -> dict[str, Any]:
    """Train (or resume) and evaluate one trial; returns its result row. Never raises for a failed run."""
    if threads:  # a worker's share of the cores (the training's thread policy reads OMP_NUM_THREADS)
        torch.set_num_threads(threads)
        os.environ["OMP_NUM_THREADS"] = str(threads)
    run_dir = Path(study_dir) / "trials" / trial["id"]
    result_path = run_dir / "trial.json"
    saved = _read_trial(result_path)
    if done := _finished(saved, trial):
        return done
    stale = _stale(saved, trial)  # a result of another config: train again from scratch
    start = time.perf_counter()
    row = {"id": trial["id"], "seed": trial["seed"], "values": trial["values"], "status": "failed", "scores": {},
           "config_sha": trial.get("config_sha")}
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    log_path = run_dir.parent / f"{trial['id']}.log"
    with open(log_path, "a") as log, contextlib.redirect_stdout(log):
        try:
            cfg = load_config(trial["base"], trial["overrides"])
            if stale:
                print(f"trial {trial['id']}: its saved result came from another resolved config (the base preset or a "
                      f"default changed since): training it again")
            if run_dir.is_dir() and ckpt.list_states(run_dir) and not stale:
                summary = resume(run_dir, progress=False)
            else:
                summary = train(cfg, run_dir, overwrite=True, progress=False)
            row["train_seconds"] = round(summary["seconds"], 2)
            evaluated = evaluate_run(run_dir, checkpoint="last", device=str(_device(cfg)), log=print)
            refresh_report(run_dir)  # now with the trial's scores
            (step, entry), = evaluated["results"].items()
            row["step"] = step
            row["scores"] = {k: v["mean"] for k, v in entry["scores"].items()  # a class index is no score to average
                             if isinstance(v["mean"], (int, float)) and not is_label_score(k)}
            row["status"] = "finished"
        except Interrupted:  # Ctrl-C / SIGTERM: the trial saved a checkpoint; stop the study (it resumes later)
            raise
        except GankitError as err:  # a diverged or misconfigured trial is a result, not the end of the study
            row["status"] = "diverged" if type(err).__name__ == "TrainingDiverged" else "failed"
            row["error"] = str(err)
            print(f"trial {trial['id']}: {row['status']}: {err}")
    row["seconds"] = round(time.perf_counter() - start, 2)
    if run_dir.is_dir():
        try:
            atomic_write_json(result_path, row)
        except GankitError as err:  # e.g. a full disk: the row still reaches study.csv, the trial runs again next time
            row["error"] = row.get("error") or str(err)
    return row


def _done_before(trial: dict[str, Any], study_dir: str | Path) -> dict | None:
    """The saved result of a trial that finished or diverged (a divergence is a result too: running again repeats
    it), marked skipped; None if it is still to run."""
    return _finished(_read_trial(Path(study_dir) / "trials" / trial["id"] / "trial.json"), trial)


def _finished(done: dict, trial: dict) -> dict | None:
    return done | {"skipped": True} if done.get("status") in ("finished", "diverged") and not _stale(done, trial) else None


def _stale(done: dict, trial: dict) -> bool:
    """A saved result whose resolved config differs from the trial's now (results saved before the hash was kept
    carry none and are trusted)."""
    return bool(done.get("config_sha")) and done["config_sha"] != trial.get("config_sha")


def _read_trial(path: Path) -> dict:
    """A trial's saved result, or {} (none yet, or unreadable: the trial is then run or resumed again)."""
    try:
        done = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    well_formed = (isinstance(done, dict) and isinstance(done.get("values"), dict) and isinstance(done.get("scores"), dict)
                   and isinstance(done.get("status"), str) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                                   for v in done["scores"].values()))
    return done if well_formed else {}


def _device(cfg):
    return resolve_device(cfg.train.device)


# --- backends -----------------------------------------------------------------------------------------------
def _run_local(trials, out: Path, workers: int, log) -> list[dict]:
    if workers <= 1:
        rows = []
        for k, trial in enumerate(trials, 1):
            rows.append(row := run_trial(trial, str(out)))
            log(_progress_line(k, len(trials), row))
        return rows
    return run_processes(trials, out, workers, log, run_trial, _done_before, _progress_line)


def _run_ray(trials, out: Path, workers: int, log, address: str | None) -> list[dict]:
    try:
        import ray
    except ImportError:
        raise ConfigError("--backend ray needs Ray: pip install -e '.[ray]' from the gankit clone (or pip install ray)") from None
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 **({} if address else {"num_cpus": os.cpu_count() or 1}))
    try:
        cpus = max(int(ray.cluster_resources().get("CPU", 1)) // max(workers, 1), 1)
        remote = ray.remote(num_cpus=cpus)(run_trial)
        pending = {remote.remote(trial, str(out.resolve()), cpus): trial["id"] for trial in trials}
        rows_by_id = {}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            row = ray.get(ready[0])
            rows_by_id[pending.pop(ready[0])] = row
            log(_progress_line(len(rows_by_id), len(trials), row))
        return [rows_by_id[t["id"]] for t in trials]
    finally:
        if started:
            ray.shutdown()


def _progress_line(k: int, n: int, row: dict) -> str:
    scores = ", ".join(f"{name} {value:.4g}" for name, value in row["scores"].items())
    state = "done before" if row.get("skipped") else row["status"]
    why = f": {row['error']}" if row["status"] != "finished" and row.get("error") else ""
    return f"[{k}/{n}] {row['id']}: {state}{why} ({row.get('seconds', 0):.0f} s){'; ' + scores if scores else ''}"


def run_study(path: str | Path, out: str | Path | None = None, backend: str = "local", workers: int = 1,
              address: str | None = None, log=print) -> dict:
    spec = load_study(path)
    name = spec.name or Path(path).stem
    out = check_output_path(Path(out) if out else Path("runs") / f"study-{name}", "folder")
    if is_run_dir(out):  # its report.html and lock would be the study's: a run is not a study directory
        raise RunDirError(f"--out {out}: is a training run's directory; give a study its own folder")
    trials = plan(spec, str(path))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunDirError(f"{out}: could not create the study directory ({os_error_reason(err)})") from None
    with RunLock(out, what="study"):  # one study process per directory (its trials each hold their own run's lock)
        return _run_locked(spec, name, Path(path), out, trials, backend, workers, address, log)


def summarize_study(path: str | Path, out: str | Path | None = None) -> dict:
    """Write study.csv, summary.md, the plots and report.html from the trials that have a result so far, training
    nothing (a study still running, or cut off, can be looked at); the study's own lock is not taken: only these
    files are written, each atomically."""
    spec = load_study(path)
    name = spec.name or Path(path).stem
    out = Path(out) if out else Path("runs") / f"study-{name}"
    if not (out / "trials").is_dir():
        raise RunDirError(f"{out}: no trials/ folder: not a study directory, or no trial has started "
                          f"(run `gankit study {path} --out {out}` first)")
    trials = plan(spec, str(path))
    rows = [row for t in trials if (row := _read_trial(out / "trials" / t["id"] / "trial.json")).get("status")
            and not _stale(row, t)]
    files = write_summary(out, spec, name, rows, pending=len(trials) - len(rows))
    files["report"] = str(write_report(out))  # the study's page, refreshed with them
    return {"out": str(out), "trials": len(trials), "with_result": len(rows),
            "finished": sum(r["status"] == "finished" for r in rows), **files}


def _run_locked(spec: StudySpec, name: str, path: Path, out: Path, trials: list[dict], backend: str, workers: int,
                address: str | None, log) -> dict:
    atomic_write_text(out / "study.yaml", read_config_file(path))
    atomic_write_json(out / "plan.json", trials)
    log(f"study {name}: {len(trials)} trials ({len(swept_points(spec))} configurations x {len(spec.seeds)} seeds) "
        f"from {spec.base}, backend {backend}; results in {out}")
    start = time.perf_counter()
    if backend == "ray":
        rows = _run_ray(trials, out, workers, log, address)
    elif backend == "local":
        rows = _run_local(trials, out, workers, log)
    else:
        raise ConfigError(f"--backend '{backend}': expected local or ray")
    files = write_summary(out, spec, name, rows)
    files["report"] = str(write_report(out))
    return {"out": str(out), "trials": len(rows), "finished": sum(r["status"] == "finished" for r in rows),
            "seconds": time.perf_counter() - start, **files}
