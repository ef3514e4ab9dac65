"""`gankit train` and `gankit resume`: a run directory trained by the one loop (or by a family's driver), scored
as its eval schedule says, and its report written at the end."""
from __future__ import annotations

from pathlib import Path

from gankit.apps.evaluate import Evaluator, evaluate_run, read_eval_json
from gankit.apps.report import refresh_report
from gankit.config import Config, replace
from gankit.drivers import DRIVERS
from gankit.errors import ConfigError, GankitError, RunDirError
from gankit.families import FAMILIES
from gankit.files import RunLock, remove_stale_temps
from gankit.runs.directory import check_run_dir, open_run_dir, read_run_config, write_config
from gankit.train import distributed
from gankit.train.checkpoint import SNAPSHOT_NAME, list_states
from gankit.train.distributed import on_main
from gankit.train.loop import Trainer, resolve_device
from gankit.train.status import read_status


def _driver(cfg: Config):
    """The procedure that trains a family around the loop (AdaGAN: boosting), or None: the loop trains it."""
    name = FAMILIES.get(cfg.family).driver
    return DRIVERS.get(name) if name else None


class EvalDuringTraining:
    """compare_gan's `train` schedule with `eval.every`: score the sampling generator every N G iterations and at
    the end, logged as eval/<score> (rank 0 scores; the others wait)."""

    def __init__(self, evaluator: Evaluator, every: int):
        self.evaluator, self.every = evaluator, every

    def __call__(self, trainer: Trainer, logger) -> None:
        if trainer.step % self.every and trainer.step != trainer.total_steps:
            return
        if trainer.dist.is_main:
            scores = self.evaluator.evaluate(trainer.sampling_generator, trainer.family.classifier)
            logger.log_eval(trainer.step, {k: v["mean"] for k, v in scores.items() if isinstance(v["mean"], float)})
        trainer.dist.barrier()


def make_trainer(cfg: Config, run_dir: Path, progress: bool | None) -> Trainer:
    """The loop for `cfg`, with its evaluator hooked in; a bad eval config fails here, before training."""
    trainer = Trainer(cfg, run_dir, progress)
    if cfg.eval.every or cfg.eval.schedule == "eval_after_train":
        if FAMILIES.get(cfg.family).score_generator is not None:  # scored its own way, from the snapshot (StarGAN)
            raise ConfigError(f"family '{cfg.family}' is scored by `gankit eval RUN` after training; "
                              "set eval.every=0 and eval.schedule=train")
        evaluator = Evaluator(cfg, trainer.info, trainer.device)
        if cfg.eval.every:
            trainer.hooks.append(EvalDuringTraining(evaluator, cfg.eval.every))
    return trainer


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
            driver.check(cfg, out)  # a user error leaves the old run (and no new directory) behind
            run_dir = open_run_dir(out, overwrite, lock)
            write_config(run_dir, cfg)
            return _with_report(driver.run(cfg, run_dir, progress) | {"run_dir": str(run_dir)})
        trainer = make_trainer(cfg, out, progress)  # data and models first: a user error leaves no run directory behind
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
        summary["eval"] = evaluate_run(run_dir, checkpoint="all", device=str(resolve_device(cfg.train.device)))["path"]
    elif cfg.eval.schedule == "continuous_eval":
        print(f"eval.schedule is continuous_eval: score checkpoints as they appear with `gankit eval {run_dir} --watch`",
              flush=True)
    return _with_report(summary)


def _unscored_after_train(cfg: Config, run_dir: Path) -> list[int]:
    """Kept checkpoints that eval_after_train has not written to eval.json (it was stopped half way), or []."""
    if cfg.eval.schedule != "eval_after_train":
        return []
    scored = read_eval_json(run_dir / "eval.json").get("results", {})
    return [step for step, _ in list_states(run_dir) if str(step) not in scored]


def _with_report(summary: dict) -> dict:
    """Train writes the run's report.html at the end (train.report; rank 0)."""
    if distributed.current().is_main:
        summary["report"] = refresh_report(summary["run_dir"], log=lambda line: print(line, flush=True))
    return summary


def resume(run_dir: Path, steps: int | None = None, device: str | None = None, progress: bool | None = None,
           until: int | None = None) -> dict:
    """Continue from the newest checkpoint; `steps` sets a new total of G iterations."""
    run_dir = Path(run_dir)
    if (parent := _boosting_parent(run_dir)) is not None:  # resumed alone it would draw uniformly, not by its data weights
        raise RunDirError(f"{run_dir}: a component of the AdaGAN run {parent}; resume that run instead "
                          f"(`gankit resume {parent}`), which continues this component with its data weights")
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


def _boosting_parent(run_dir: Path) -> Path | None:
    """The AdaGAN run that `run_dir` is a component of (RUN/components/cNN), or None."""
    folder = run_dir.resolve()
    if folder.parent.name != "components" or not (folder.parent.parent / "config.yaml").is_file():
        return None
    try:
        return folder.parent.parent if read_run_config(folder.parent.parent).family == "adagan" else None
    except GankitError:
        return None


def _acquire(lock: RunLock) -> None:
    lock.acquire()
    remove_stale_temps(lock.folder)  # half-written files of killed processes (never read: not under a real name)


def _check_may_restart(run_dir: Path) -> None:
    """Without a checkpoint, resume starts from step 0, rewriting the snapshot, the logs and the samples: that is
    right only for a run stopped before its first checkpoint, never for one whose checkpoints are gone."""
    folder = run_dir / "checkpoints"
    if folder.exists() and not folder.is_dir():
        raise RunDirError(f"{folder}: a file where the checkpoint folder belongs; nothing changed")
    if list_states(run_dir):
        return
    status = read_status(run_dir)
    if (run_dir / SNAPSHOT_NAME).is_file() or status.get("state") == "finished":
        step = f" at step {status['step']}" if isinstance(status.get("step"), int) else ""
        raise RunDirError(f"{run_dir}: checkpoints/ holds no training state, but the run has saved one{step} "
                          f"({SNAPSHOT_NAME}, status.json); resuming would train again from step 0 over it. "
                          "Nothing changed: restore checkpoints/, or start a new run")


def _resume_locked(run_dir: Path, cfg: Config, changes: dict, steps: int | None, progress, until: int | None) -> dict:
    if driver := _driver(cfg):
        if changes:
            driver.check(cfg, run_dir, resume=True)  # a --device or --steps it cannot take must not be written
            write_config(run_dir, cfg)
        return _with_report(driver.run(cfg, run_dir, progress, resume=True) | {"run_dir": str(run_dir)})
    on_main(_check_may_restart, run_dir)
    trainer = make_trainer(cfg, run_dir, progress)
    if list_states(run_dir):
        trainer.resume()
    elif distributed.current().is_main:  # stopped (killed) before its first checkpoint: nothing to lose, start it
        print(f"{run_dir}: no checkpoint yet; training from step 0", flush=True)
    if steps is not None and steps < trainer.step:
        raise RunDirError(f"{run_dir}: --steps {steps} is below the checkpoint's step {trainer.step}")
    if trainer.step >= trainer.total_steps:  # nothing to do, and nothing is rewritten
        note = (f"{run_dir}: already finished at step {trainer.step}; train longer with "
                f"`gankit resume {run_dir} --steps N` (N > {trainer.step})")
        done = {"steps": 0, "seconds": 0.0, "final_step": trainer.step, "finished": True, "it_per_s": 0.0, "note": note}
        if unscored := on_main(_unscored_after_train, cfg, run_dir):  # the evaluation after training was cut off
            print(f"{run_dir}: trained to step {trainer.step}; eval_after_train did not score steps {unscored}: "
                  f"scoring them now", flush=True)
            return _after_training(cfg, run_dir, done)
        if distributed.current().is_main:
            print(note, flush=True)
        return done | {"run_dir": str(run_dir)}
    if changes:
        on_main(write_config, run_dir, cfg)
    return _after_training(cfg, run_dir, trainer.run(until))
