"""Run directories: create, read back, train and resume.

A run directory holds `config.yaml` (resolved), `metrics.jsonl`, `log.txt`, `tb/` (TensorBoard),
`samples/step-*.png`, `checkpoints/state-*.pt` (training states) and `generator.safetensors` (snapshot).
"""
from __future__ import annotations

import shutil
from pathlib import Path

from gankit.config import Config, config_from_dict, load_yaml, replace
from gankit.errors import ConfigError, GankitError, RunDirError
from gankit.files import RunLock, atomic_write_text, check_output_path, os_error_reason, read_text, remove_stale_temps
from gankit.train import distributed
from gankit.train.checkpoint import list_states
from gankit.train.loop import Trainer
from gankit.train.status import read_status, run_status  # noqa: F401  (re-exported for evaluators)

CONFIG_NAME = "config.yaml"
LOCK_NAME, EVAL_LOCK_NAME = ".lock", ".eval.lock"  # held by train/resume; by eval while it writes eval.json
LOCK_NAMES = (LOCK_NAME, EVAL_LOCK_NAME)


def check_run_dir(out: Path, overwrite: bool = False) -> None:
    """Raise unless `out` is free for a new run (or an old run that `overwrite` may replace)."""
    out = check_output_path(out, "folder")
    if out.is_dir() and any(child.name not in LOCK_NAMES for child in out.iterdir()):
        if not (out / CONFIG_NAME).is_file():
            raise RunDirError(f"{out}: folder is not empty and is not a gankit run; choose another --out")
        if not overwrite:
            raise RunDirError(f"{out}: already holds a run; continue it with `gankit resume {out}`, "
                              "or pass --overwrite to start over")


def prepare_run_dir(out: Path, overwrite: bool = False, keep: tuple[str, ...] = ()) -> Path:
    """An empty run directory at `out` (an old run in it removed when `overwrite`), but for the names in `keep`
    (the lock file of the process that prepares it)."""
    out = Path(out)
    check_run_dir(out, overwrite)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for child in out.iterdir():
            if child.name in keep:
                continue
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    except OSError as err:
        raise RunDirError(f"{out}: could not prepare the run directory ({os_error_reason(err)})") from None
    return out


def open_run_dir(out: Path, overwrite: bool, lock: RunLock) -> Path:
    """Create `out`, take its lock, then (checked again under the lock) empty it for a new run."""
    out = Path(out)
    check_run_dir(out, overwrite)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunDirError(f"{out}: could not create the run directory ({os_error_reason(err)})") from None
    lock.acquire()
    return prepare_run_dir(out, overwrite, keep=(lock.path.name,))


def write_config(run_dir: Path, cfg: Config) -> None:
    atomic_write_text(Path(run_dir) / CONFIG_NAME, cfg.to_yaml())


def read_run_config(run_dir: Path) -> Config:
    run_dir = Path(run_dir)
    path = run_dir / CONFIG_NAME
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: no such run directory")
    if not path.is_file():
        raise RunDirError(f"{run_dir}: not a gankit run directory (no {CONFIG_NAME})")
    try:
        data = load_yaml(read_text(path, "config file"), str(path))
    except ConfigError as err:
        raise RunDirError(str(err)) from None
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
    """Train `cfg` into a new run directory `out`, holding the run's lock (one writer per run) throughout."""
    distributed.init_from_env(cfg.train.device)
    out = Path(distributed.current().broadcast_object(str(out)))  # rank 0's default name (it holds a time)
    _single_process(cfg)
    on_main(check_run_dir, out, overwrite)
    lock = RunLock(out)
    try:
        if driver := _driver(cfg):
            run_dir = open_run_dir(out, overwrite, lock)
            write_config(run_dir, cfg)
            return _with_report(driver(cfg, run_dir, progress) | {"run_dir": str(run_dir)})
        trainer = Trainer(cfg, out, progress)  # data and models first: a user error leaves no run directory behind
        run_dir = on_main(open_run_dir, out, overwrite, lock)
        on_main(write_config, run_dir, cfg)
        return _after_training(cfg, run_dir, trainer.run())
    finally:
        lock.release()


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
    lock = RunLock(run_dir)
    try:
        on_main(_acquire, lock)  # before anything in the run directory is read for writing
        return _resume_locked(run_dir, cfg, changes, steps, progress, until)
    finally:
        lock.release()


def _acquire(lock: RunLock) -> None:
    lock.acquire()
    remove_stale_temps(lock.folder)  # half-written files of killed processes (never read: not under a real name)


def _resume_locked(run_dir: Path, cfg: Config, changes: dict, steps: int | None, progress, until: int | None) -> dict:
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
    if trainer.step >= trainer.total_steps:  # nothing to do, and nothing is rewritten
        note = (f"{run_dir}: already finished at step {trainer.step}; train longer with "
                f"`gankit resume {run_dir} --steps N` (N > {trainer.step})")
        if distributed.current().is_main:
            print(note, flush=True)
        return {"steps": 0, "seconds": 0.0, "final_step": trainer.step, "finished": True, "it_per_s": 0.0,
                "run_dir": str(run_dir), "note": note}
    if changes:
        on_main(write_config, run_dir, cfg)
    return _after_training(cfg, run_dir, trainer.run(until))
