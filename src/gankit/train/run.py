"""Run directories: create, read back, train and resume.

A run directory holds `config.yaml` (resolved), `metrics.jsonl`, `log.txt`, `tb/` (TensorBoard),
`samples/step-*.png`, `checkpoints/state-*.pt` (training states) and `generator.safetensors` (snapshot).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from gankit.config import Config, config_from_dict, replace
from gankit.errors import ConfigError, GankitError, RunDirError
from gankit.train import distributed
from gankit.train.checkpoint import atomic_write, list_states
from gankit.train.loop import Trainer
from gankit.train.status import run_status  # noqa: F401  (re-exported for evaluators)

CONFIG_NAME = "config.yaml"


def check_run_dir(out: Path, overwrite: bool = False) -> None:
    """Raise unless `out` is free for a new run (or an old run that `overwrite` may replace)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunDirError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not (out / CONFIG_NAME).is_file():
            raise RunDirError(f"{out}: folder is not empty and is not a gankit run; choose another --out")
        if not overwrite:
            raise RunDirError(f"{out}: already holds a run; continue it with `gankit resume {out}`, "
                              "or pass --overwrite to start over")


def prepare_run_dir(out: Path, overwrite: bool = False) -> Path:
    out = Path(out)
    check_run_dir(out, overwrite)
    if out.is_dir() and any(out.iterdir()):
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def write_config(run_dir: Path, cfg: Config) -> None:
    text = cfg.to_yaml()
    atomic_write(Path(run_dir) / CONFIG_NAME, lambda tmp: tmp.write_text(text))


def read_run_config(run_dir: Path) -> Config:
    run_dir = Path(run_dir)
    path = run_dir / CONFIG_NAME
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: no such run directory")
    if not path.is_file():
        raise RunDirError(f"{run_dir}: not a gankit run directory (no {CONFIG_NAME})")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise RunDirError(f"{path}: invalid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise RunDirError(f"{path}: expected a mapping")
    return config_from_dict(data, str(path))


def _driver(cfg: Config):
    """A family that trains around the loop (AdaGAN's boosting) supplies `train_run`; others use the loop."""
    from gankit.families import FAMILIES

    return getattr(FAMILIES.get(cfg.family), "train_run", None)


def on_main(fn, *args):
    """Run `fn` on rank 0 only (the run directory is rank 0's); its user error, if any, is raised on every rank."""
    group = distributed.current()
    result, error = None, None
    if group.is_main:
        try:
            result = fn(*args)
        except GankitError as err:
            error = err
    error = group.broadcast_object(error)
    if error is not None:
        raise error
    return group.broadcast_object(result)


def _single_process(cfg: Config) -> None:
    if distributed.current().enabled and _driver(cfg):
        raise ConfigError(f"family '{cfg.family}' trains around the loop (boosting) in one process; "
                          "launch it without torchrun")


def train(cfg: Config, out: Path, overwrite: bool = False, progress: bool | None = None) -> dict:
    distributed.init_from_env(cfg.train.device)
    out = Path(distributed.current().broadcast_object(str(out)))  # rank 0's default name (it holds a time)
    _single_process(cfg)
    on_main(check_run_dir, out, overwrite)
    if driver := _driver(cfg):
        run_dir = prepare_run_dir(out, overwrite)
        write_config(run_dir, cfg)
        return _with_report(driver(cfg, run_dir, progress) | {"run_dir": str(run_dir)})
    trainer = Trainer(cfg, out, progress)  # data and models first: a user error leaves no run directory behind
    run_dir = on_main(prepare_run_dir, out, overwrite)
    on_main(write_config, run_dir, cfg)
    return _after_training(cfg, run_dir, trainer.run())


def _after_training(cfg: Config, run_dir: Path, summary: dict) -> dict:
    """compare_gan's eval_after_train: once training has finished, score every kept checkpoint (eval.json)."""
    summary = summary | {"run_dir": str(run_dir)}
    if not distributed.current().is_main:
        return summary
    if cfg.eval.schedule == "eval_after_train" and summary["finished"]:
        from gankit.evaluate import evaluate_run
        from gankit.train.loop import resolve_device

        summary["eval"] = evaluate_run(run_dir, checkpoint="all", device=str(resolve_device(cfg.train.device)))["path"]
    elif cfg.eval.schedule == "continuous_eval":
        print(f"eval.schedule is continuous_eval: score checkpoints as they appear with `gankit eval {run_dir} --watch`",
              flush=True)
    return _with_report(summary)


def _with_report(summary: dict) -> dict:
    """Train writes the run's report.html at the end (train.report; rank 0)."""
    if distributed.current().is_main:
        from gankit.report import refresh_report

        summary["report"] = refresh_report(summary["run_dir"], log=lambda line: print(line, flush=True))
    return summary


def resume(run_dir: Path, steps: int | None = None, device: str | None = None, progress: bool | None = None,
           until: int | None = None) -> dict:
    """Continue from the newest checkpoint; `steps` sets a new total of G iterations."""
    run_dir = Path(run_dir)
    cfg = read_run_config(run_dir)
    changes = {}
    if steps is not None:
        changes.update({"train.steps": steps, "train.epochs": None})
    if device is not None:
        changes["train.device"] = device
    if changes:
        cfg = replace(cfg, changes)
    distributed.init_from_env(cfg.train.device)
    _single_process(cfg)
    if driver := _driver(cfg):
        if changes:
            write_config(run_dir, cfg)
        return _with_report(driver(cfg, run_dir, progress, resume=True) | {"run_dir": str(run_dir)})
    trainer = Trainer(cfg, run_dir, progress)
    if list_states(run_dir):
        trainer.resume()
    elif distributed.current().is_main:  # stopped (killed) before its first checkpoint: nothing to lose, start it
        print(f"{run_dir}: no checkpoint yet; training from step 0", flush=True)
    if steps is not None and steps < trainer.step:
        raise RunDirError(f"{run_dir}: --steps {steps} is below the checkpoint's step {trainer.step}")
    if changes:
        on_main(write_config, run_dir, cfg)
    return _after_training(cfg, run_dir, trainer.run(until))
