"""Adversarial tests of run and study directories: history that must survive kills and crashes, one writer per run,
no non-finite checkpoint, no hangs, and one line (exit 2) for every user mistake around them."""
from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from faults import disk_budget, hold_lock, remount_read_only, small_disk
from gankit.cli import main
from gankit.errors import TrainingDiverged
from gankit.train import checkpoint as ckpt

TINY = ["--set", "data.size=8", "--set", "model.g_dim=8", "--set", "model.d_dim=8", "--set", "model.z_dim=8",
        "--set", "train.batch_size=16", "--set", "train.n_critic=1", "--set", "train.log_every=1",
        "--set", "train.sample_every=3", "--set", "train.checkpoint_every=2", "--set", "train.report=false",
        "--set", "train.threads=1", "--no-progress"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def run_cli(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def one_line_error(code: int, err: str, fragment: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("gankit: error: "), err
    assert fragment in lines[0], lines[0]
    return lines[0]


def train_tiny(run: Path, steps: int = 4, *extra) -> Path:
    code, _, err = run_cli("train", "wgan_gp_digits", "--out", run, "--steps", steps, *TINY, *extra)
    assert code == 0, err
    return run


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def gankit(*args) -> list[str]:
    return [sys.executable, "-m", "gankit", *map(str, args)]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    return train_tiny(tmp_path_factory.mktemp("finished") / "run", 6)


def copy_run(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


# --- 1. no history lost -------------------------------------------------------------------------------------------
def test_resume_keeps_every_line_when_its_rewrite_of_the_log_dies_half_way(tmp_path, monkeypatch):
    run = train_tiny(tmp_path / "run", 4)
    with (run / "metrics.jsonl").open("a") as fh:  # logged after the checkpoint, the last line cut by a kill
        fh.write('{"step": 5, "loss_d": 1.0}\n{"step": 6, "lo')
    before = [r for r in (run / "metrics.jsonl").read_text().splitlines() if '"step": 5' not in r and '"lo' not in r[-5:]]
    import gankit.files as files

    real = files.atomic_write

    def dies_half_way(path, write):
        def half(tmp):
            write(tmp)
            tmp.write_bytes(tmp.read_bytes()[:20])
            raise KeyboardInterrupt  # the process dies inside the rewrite
        return real(path, half if path.name == "metrics.jsonl" else write)

    monkeypatch.setattr(files, "atomic_write", dies_half_way)
    assert run_cli("resume", run, "--steps", 6, "--no-progress")[0] == 130
    monkeypatch.undo()
    kept = (run / "metrics.jsonl").read_text().splitlines()
    assert kept[: len(before)] == before  # every line up to the checkpoint (and the later ones) still there
    assert run_cli("resume", run, "--steps", 6, "--no-progress")[0] == 0
    steps = [r["step"] for r in records(run) if "event" not in r]
    assert steps == sorted(set(steps)) and steps[-1] == 6


def test_sigkill_during_resume_start_up_keeps_every_line_up_to_the_checkpoint(tmp_path):
    run = train_tiny(tmp_path / "run", 4)
    with (run / "metrics.jsonl").open("a") as fh:  # lines after the last checkpoint: resume drops (and redoes) them
        fh.writelines(json.dumps({"step": 5, "loss_d": float(i)}) + "\n" for i in range(2000))
    up_to_checkpoint = [line for line in (run / "metrics.jsonl").read_text().splitlines() if json.loads(line)["step"] <= 4]
    start = time.monotonic()
    probe = subprocess.run(gankit("resume", run, "--steps", 4, "--no-progress"), env=ENV, capture_output=True, text=True)
    startup = time.monotonic() - start  # the whole start-up of a resume with nothing to train
    assert probe.returncode == 0, probe.stderr
    for fraction in (0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0, 1.1):
        child = subprocess.Popen(gankit("resume", run, "--steps", 6, "--no-progress"), env=ENV,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(fraction * startup)
        child.kill()
        child.wait()
        lines = (run / "metrics.jsonl").read_text().splitlines()
        assert lines[: len(up_to_checkpoint)] == up_to_checkpoint, f"lines lost by a kill at {fraction:.2f} x start-up"
        if ckpt.list_states(run)[-1][0] == 6:
            break


def test_every_file_of_a_run_and_a_study_is_written_atomically(tmp_path, monkeypatch):
    """Any file opened for writing under its real name must be an append-only log; the rest go through a temporary
    file and a rename."""
    import builtins

    appended = ("metrics.jsonl", "log.txt")
    direct: list[str] = []
    real_open = builtins.open

    def watching_open(file, mode="r", *args, **kwargs):
        path = Path(os.fsdecode(file)) if not isinstance(file, int) else None
        if path is not None and str(tmp_path) in str(path) and "tfevents" not in path.name:  # TensorBoard: append-only
            in_place = bool(set(mode) & set("wx")) and not path.name.endswith(".tmp")
            appends = "a" in mode and path.name not in appended and path.suffix != ".log"
            if in_place or appends:
                direct.append(str(path.relative_to(tmp_path)))
        return real_open(file, mode, *args, **kwargs)

    study = tmp_path / "study.yaml"
    study.write_text("base: wgan_gp_digits\nset: {train.steps: 2, data.size: 8, model.g_dim: 8, model.d_dim: 8, "
                     "model.z_dim: 8, train.batch_size: 16, train.n_critic: 1, train.report: false, eval.metrics: [fd], "
                     "eval.num_samples: 20, eval.num_real: 20}\ngrid: {loss.penalty: [none]}\n")
    monkeypatch.setattr(builtins, "open", watching_open)
    monkeypatch.setattr(io, "open", watching_open)
    run = train_tiny(tmp_path / "run", 4)
    assert run_cli("resume", run, "--steps", 6, "--no-progress")[0] == 0
    assert run_cli("eval", run, "--metrics", "fd", "--num-samples", 40, "--num-real", 40, "--threads", 1)[0] == 0
    assert run_cli("report", run)[0] == 0
    assert run_cli("study", study, "--out", tmp_path / "st")[0] == 0
    monkeypatch.undo()
    assert direct == [], f"written in place: {direct}"


# --- 2. one writer per run ----------------------------------------------------------------------------------------
def test_a_second_writer_on_a_live_run_gets_one_line_naming_the_pid(finished_run, tmp_path):
    run = copy_run(finished_run, tmp_path / "run")
    holder = hold_lock(run)
    try:
        before = sorted(p.name for p in run.rglob("*"))
        for args in (["resume", run, "--steps", 8, "--no-progress"],
                     ["train", "wgan_gp_digits", "--out", run, "--overwrite", "--steps", 2, *TINY]):
            code, _, err = run_cli(*args)
            one_line_error(code, err, f"run {run} is in use by PID {holder.pid}")
        assert sorted(p.name for p in run.rglob("*")) == before  # --overwrite deleted nothing of the live run
    finally:
        holder.kill()
        holder.wait()
    # the holder died: its lock file is left behind and simply taken over
    assert (run / ".lock").is_file()
    assert run_cli("resume", run, "--steps", 8, "--no-progress")[0] == 0


def test_two_evaluators_of_one_run_exclude_each_other_but_not_training(finished_run, tmp_path):
    from gankit.files import RunLock

    run = copy_run(finished_run, tmp_path / "run")
    with RunLock(run, ".eval.lock"):
        code, _, err = run_cli("eval", run, "--metrics", "fd", "--num-samples", 20, "--num-real", 20)
        one_line_error(code, err, f"run {run} is in use by PID {os.getpid()} (evaluating it)")
        assert run_cli("resume", run, "--steps", 8, "--no-progress")[0] == 0  # training goes on beside an evaluator


def test_temporary_names_differ_between_calls_and_processes(tmp_path):
    from gankit.files import temp_name

    names = {temp_name(tmp_path / "eval.json") for _ in range(50)}
    other = subprocess.run([sys.executable, "-c", f"from gankit.files import temp_name; print(temp_name(__import__('pathlib')"
                            f".Path({str(tmp_path / 'eval.json')!r})))"], capture_output=True, text=True, env=ENV).stdout.strip()
    assert len(names) == 50 and other not in {str(n) for n in names} and f".{os.getpid()}." not in other


# --- 3. never a non-finite last good checkpoint -------------------------------------------------------------------
@pytest.mark.parametrize("setting", ["optim.lr_g=.inf", "optim.lr_d=inf", "optim.beta1=.nan", "loss.penalty_weight=1e400",
                                     "train.epochs=.inf", "train.ema_decay=nan", "optim.eps=-.inf"])
def test_non_finite_numbers_are_refused_when_the_config_is_parsed(setting):
    code, _, err = run_cli("train", "wgan_gp_digits", "--set", setting, "--dry-run")
    one_line_error(code, err, f"config key '{setting.split('=')[0]}'")


def test_weights_that_turn_non_finite_are_never_saved(tmp_path):
    """Finite losses, then an update that makes a weight inf: the checkpoint of that step is not written, the last
    good one stays the newest and the snapshot keeps its finite weights."""
    from gankit.names import load_checked_config
    from gankit.runs.directory import prepare_run_dir, write_config
    from gankit.train.loop import Trainer

    overrides = [a for a in TINY[1::2] if "=" in a] + ["train.steps=6"]
    cfg = load_checked_config("wgan_gp_digits", overrides)
    run = prepare_run_dir(tmp_path / "run")
    write_config(run, cfg)
    trainer = Trainer(cfg, run, progress=False)
    real_iteration = trainer.iteration

    def poisoned():
        real_iteration()
        if trainer.step == 3:  # the last update of step 4 overflows a weight, after step 4's (finite) losses
            with torch.no_grad():
                next(trainer.family.generator.parameters()).view(-1)[0] = float("inf")

    trainer.iteration = poisoned
    with pytest.raises(TrainingDiverged, match=r"modules\.G\..* became non-finite by step 4; nothing saved"):
        trainer.run()
    assert [s for s, _ in ckpt.list_states(run)] == [2]
    tensors, meta = ckpt.load_snapshot(run / ckpt.SNAPSHOT_NAME)
    assert meta["step"] == 2 and all(torch.isfinite(t).all() for t in tensors.values())
    assert json.loads((run / "status.json").read_text())["state"] == "failed"


def test_a_non_finite_optimizer_moment_is_found():
    from gankit.train.state import first_nonfinite

    state = {"modules": {"G": {"w": torch.ones(3)}}, "ema": None,
             "optimizers": [{"state": {0: {"step": torch.tensor(1.0), "exp_avg_sq": torch.tensor([0.0, float("nan")])}}}]}
    assert first_nonfinite(state) == "optimizers[0].state.0.exp_avg_sq"
    state["optimizers"][0]["state"][0]["exp_avg_sq"][1] = 1.0
    assert first_nonfinite(state) == ""


# --- 4. no hangs --------------------------------------------------------------------------------------------------
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, n in zip("abcdefgh", "bcdefghi"))


@pytest.mark.parametrize("where", ["config file", "set value", "study file", "run config"])
def test_a_yaml_alias_bomb_fails_fast(tmp_path, where, finished_run):
    assert len(BOMB) < 400
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    if where == "config file":
        args = ["train", path, "--dry-run"]
    elif where == "set value":
        items = ["&a [x, x, x, x, x, x, x, x, x]"] + [f"&{n} [{', '.join([f'*{p}'] * 9)}]" for p, n in zip("abcdefgh", "bcdefghi")]
        args = ["train", "wgan_gp_digits", "--set", f"eval.metrics=[{', '.join(items)}]", "--dry-run"]
    elif where == "study file":
        path.write_text("base: wgan_gp_digits\ngrid:\n" + "".join(f"  {line}\n" for line in BOMB.splitlines()))
        args = ["study", path, "--dry-run"]
    else:
        run = copy_run(finished_run, tmp_path / "run")
        (run / "config.yaml").write_text((run / "config.yaml").read_text() + "x_bomb:\n" +
                                         "".join(f"  {line}\n" for line in BOMB.splitlines()))
        args = ["resume", run, "--no-progress"]
    start = time.monotonic()
    code, _, err = run_cli(*args)
    assert time.monotonic() - start < 5
    one_line_error(code, err, "alias bomb")


def test_a_yaml_alias_cycle_is_refused(tmp_path):
    path = tmp_path / "cycle.yaml"
    path.write_text("base: wgan_gp_digits\neval:\n  metrics: &m [fd, *m]\n")
    one_line_error(*run_cli("train", path, "--dry-run")[::2], "contains it (a cycle)")


def _start_training(run: Path, steps: int) -> subprocess.Popen:
    child = subprocess.Popen(gankit("train", "wgan_gp_digits", "--out", run, "--steps", steps, *TINY), env=ENV,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not ckpt.list_states(run) and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert child.poll() is None, child.stderr.read()
    return child


def test_watch_ends_when_the_training_process_is_gone(tmp_path):
    run = tmp_path / "run"
    child = _start_training(run, 100_000)
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "running" and status["pid"] == child.pid and status["host"]
    child.kill()
    child.wait()
    start = time.monotonic()
    code, out, err = run_cli("eval", run, "--watch", "--poll", 0.1, "--metrics", "fd", "--num-samples", 20, "--num-real", 20)
    assert time.monotonic() - start < 60
    line = one_line_error(code, err, f"its training process (PID {child.pid}) is gone")
    assert "evaluated steps" in line and (run / "eval.json").is_file()  # what it scored first is kept


@pytest.mark.parametrize("status", ["missing", "empty"])
def test_watch_ends_without_a_status_when_no_trainer_holds_the_run(finished_run, tmp_path, status):
    """No status.json to read used to mean waiting forever; the run's lock tells whether a trainer is there."""
    run = copy_run(finished_run, tmp_path / "run")
    (run / "status.json").unlink() if status == "missing" else (run / "status.json").write_text("")
    holder = hold_lock(run)  # a live trainer holds the run: the watch goes on until its --timeout
    try:
        code, _, err = run_cli("eval", run, "--watch", "--timeout", 1, "--poll", 0.2, "--metrics", "fd",
                               "--num-samples", 20, "--num-real", 20)
        one_line_error(code, err, "stopped watching after --timeout 1 s")
    finally:
        holder.kill()
        holder.wait()
    start = time.monotonic()
    code, _, err = run_cli("eval", run, "--watch", "--poll", 0.2, "--metrics", "fd", "--num-samples", 20, "--num-real", 20)
    assert time.monotonic() - start < 60
    one_line_error(code, err, "no training process holds the run")


def test_a_reused_pid_is_not_taken_for_the_trainer(finished_run, tmp_path):
    """A status names its writer by PID and start time: a live process under the same PID that started at another
    time is another process, so the watch ends instead of waiting on it."""
    from gankit.files import host_name, process_start
    from gankit.train.status import writer_gone

    mine = {"state": "running", "pid": os.getpid(), "host": host_name(), "start": process_start(os.getpid())}
    assert mine["start"] is not None and not writer_gone(mine)
    assert writer_gone({**mine, "start": mine["start"] + 1}) and not writer_gone({**mine, "start": None})
    run = copy_run(finished_run, tmp_path / "run")
    (run / "status.json").write_text(json.dumps({**mine, "step": 6, "start": mine["start"] + 1}))
    code, _, err = run_cli("eval", run, "--watch", "--timeout", 30, "--poll", 0.2, "--metrics", "fd",
                           "--num-samples", 20, "--num-real", 20)
    one_line_error(code, err, f"its training process (PID {os.getpid()}) is gone")


def test_watch_timeout(finished_run, tmp_path):
    run = copy_run(finished_run, tmp_path / "run")
    status = json.loads((run / "status.json").read_text())
    (run / "status.json").write_text(json.dumps({**status, "state": "running", "pid": os.getpid()}))  # a live writer
    start = time.monotonic()
    code, _, err = run_cli("eval", run, "--watch", "--timeout", 1, "--poll", 0.2, "--metrics", "fd", "--num-samples", 20,
                           "--num-real", 20)
    assert 1 <= time.monotonic() - start < 60
    one_line_error(code, err, "stopped watching after --timeout 1 s")


def test_watch_ends_when_the_run_directory_is_deleted(finished_run, tmp_path):
    import shutil
    import threading

    run = copy_run(finished_run, tmp_path / "run")
    status = json.loads((run / "status.json").read_text())
    (run / "status.json").write_text(json.dumps({**status, "state": "running", "pid": os.getpid()}))  # a live writer

    steps = {str(step) for step, _ in ckpt.list_states(run)}

    def delete_once_scored():  # once every checkpoint is scored (mid-write, the write fails in one line instead)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                if set(json.loads((run / "eval.json").read_text())["results"]) >= steps:
                    break
            time.sleep(0.05)
        shutil.rmtree(run)

    deleter = threading.Thread(target=delete_once_scored)
    deleter.start()
    start = time.monotonic()
    code, _, err = run_cli("eval", run, "--watch", "--timeout", 30, "--poll", 0.2, "--metrics", "fd", "--num-samples", 20,
                           "--num-real", 20)  # the timeout only so a regression fails instead of hanging
    deleter.join()
    assert time.monotonic() - start < 60
    # gone between two polls, or (on a busy machine) between eval.json and scores.csv of the last scoring
    line = one_line_error(code, err, "")
    assert "the run directory (its config.yaml) is gone" in line or "scores.csv: could not be written" in line, line


def test_overwrite_is_refused_while_an_evaluator_holds_the_run(finished_run, tmp_path):
    from gankit.files import RunLock

    run = copy_run(finished_run, tmp_path / "run")
    before = sorted(p.name for p in run.iterdir())
    with RunLock(run, ".eval.lock", activity="evaluating it"):  # as `gankit eval --watch` holds it
        code, _, err = run_cli("train", "wgan_gp_digits", "--out", run, "--overwrite", "--steps", 2, *TINY)
        one_line_error(code, err, "(evaluating it)")
        assert set(before) <= {p.name for p in run.iterdir()}  # nothing wiped
    code, _, err = run_cli("train", "wgan_gp_digits", "--out", run, "--overwrite", "--steps", 2, *TINY)
    assert code == 0, err


def test_overwrite_removes_only_a_gankit_run(finished_run, tmp_path):
    """--overwrite empties a folder only if it is a gankit run and nothing else: a folder that merely has a
    config.yaml, or a run the user put their own files into, stays as it was."""
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "config.yaml").write_text("lr: 0.1\n")
    (project / "thesis.txt").write_text("years of work")
    code, _, err = run_cli("train", "wgan_gp_digits", "--out", project, "--overwrite", "--steps", 2, *TINY)
    one_line_error(code, err, "not a gankit run's config (no family and train sections)")
    assert (project / "thesis.txt").read_text() == "years of work" and (project / "src").is_dir()

    run = copy_run(finished_run, tmp_path / "run")
    (run / "notes.txt").write_text("lr too high?")
    before = sorted(p.name for p in run.iterdir())
    code, _, err = run_cli("train", "wgan_gp_digits", "--out", run, "--overwrite", "--steps", 2, *TINY)
    one_line_error(code, err, "--overwrite would delete what gankit did not write there (notes.txt)")
    assert sorted(p.name for p in run.iterdir()) == before
    (run / "notes.txt").unlink()
    (run / ".eval.json.123.abcd1234.tmp").write_text("{")  # a killed writer's temporary file is the run's own
    code, _, err = run_cli("train", "wgan_gp_digits", "--out", run, "--overwrite", "--steps", 2, *TINY)
    assert code == 0, err
    assert not (run / ".eval.json.123.abcd1234.tmp").exists() and (run / "checkpoints" / "state-0000002.pt").exists()


def test_a_bad_adagan_config_leaves_the_run_it_would_replace(tmp_path):
    """AdaGAN trains through a driver, outside the loop: its config is checked (device, data, models) before
    --overwrite empties the old run, and before resume writes a new --device into it."""
    quick = ["--no-progress", "--set", "boost.steps=1", "--steps", "3", "--set", "data.num_train=256",
             "--set", "boost.classifier_epochs=1", "--set", "train.checkpoint_every=10", "--set", "train.report=false"]
    run = tmp_path / "ada"
    code, _, err = run_cli("train", "adagan_gmm10", "--out", run, *quick)
    assert code == 0, err
    before = {p.relative_to(run): p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}
    code, _, err = run_cli("train", "adagan_gmm10", "--out", run, "--overwrite", *quick,
                           "--set", "data.name=mnist", "--set", f"data.root={tmp_path / 'nowhere'}")
    one_line_error(code, err, "nowhere")
    assert {p.relative_to(run): p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()} == before
    if not torch.cuda.is_available():
        config = (run / "config.yaml").read_text()
        one_line_error(*run_cli("resume", run, "--device", "cuda")[::2], "cuda")
        assert (run / "config.yaml").read_text() == config


def test_a_snapshot_from_another_run_or_with_non_finite_weights_is_refused(finished_run, tmp_path):
    """generator.safetensors carries its own config: one copied in from another run used to be sampled and exported
    as this run's (and crashed eval); NaN weights gave black samples and a LinAlgError traceback."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    other = copy_run(finished_run, tmp_path / "other")
    (other / "config.yaml").write_text((other / "config.yaml").read_text().replace("g_dim: 8", "g_dim: 16"))
    for args in (["sample", other, "--num", 4, "--out", tmp_path / "s.npz"], ["eval", other, "--num-samples", 20],
                 ["export", other, "--format", "torchscript"]):
        one_line_error(*run_cli(*args)[::2], "not this run's generator (its model differs from")
    assert not (tmp_path / "s.npz").exists() and not (other / "generator.torchscript.pt").exists()

    run = copy_run(finished_run, tmp_path / "nan")
    path = run / "generator.safetensors"
    with safe_open(str(path), "pt") as fh:
        tensors, meta = {k: fh.get_tensor(k) for k in fh.keys()}, fh.metadata()
    name = next(k for k, t in tensors.items() if t.is_floating_point() and t.numel() > 1)
    tensors[name].view(-1)[0] = float("nan")
    save_file(tensors, str(path), metadata=meta)
    for args in (["sample", run, "--num", 4, "--out", tmp_path / "n.npz"], ["eval", run, "--num-samples", 20]):
        one_line_error(*run_cli(*args)[::2], f"holds non-finite weights ({name})")


def test_outputs_never_overwrite_the_runs_own_files(finished_run, tmp_path):
    """export / report / sample / translate --out pointed into the run used to replace its config.yaml or a
    training grid (exit 0, and the run could not be resumed); the run's own report and export names stay allowed."""
    run = copy_run(finished_run, tmp_path / "run")
    before = {p.relative_to(run): p.read_bytes() for p in run.rglob("*") if p.is_file() and not p.name.startswith(".")}
    for args, fragment in [
            (["export", run, "--format", "torchscript", "--out", run / "config.yaml"], "is not a .onnx or .pt file"),
            (["export", run, "--format", "torchscript", "--out", run / "checkpoints" / "new.pt"], "the run's own checkpoints"),
            (["report", run, "--out", run / "generator.safetensors"], "is not a .html or .htm file"),
            (["report", run, "--out", run / "samples" / "new.html"], "the run's own samples"),
            (["sample", run, "--num", 4, "--out", run / "samples" / "step-0000003.png"], "the run's own samples"),
            (["sample", run, "--num", 4, "--out", run], "is the run directory itself"),
            (["translate", run, "--split", "test", "--out", run / "checkpoints" / "x.png"], "the run's own checkpoints"),
            (["export", run, "--format", "torchscript", "--tolerance", "nan"], "--tolerance nan: expected a finite"),
            (["export", run, "--format", "torchscript", "--tolerance", "-1"], "--tolerance -1.0: expected a finite")]:
        one_line_error(*run_cli(*args)[::2], fragment)
    assert {p.relative_to(run): p.read_bytes() for p in run.rglob("*") if p.is_file() and not p.name.startswith(".")} == before
    for args in (["report", run, "--out", run / "report.html"], ["export", run, "--format", "torchscript"],
                 ["sample", run, "--num", 4, "--out", run / "more" / "grid.png"]):
        code, _, err = run_cli(*args)
        assert code == 0, err
    assert (run / "generator.torchscript.pt").is_file() and (run / "more" / "grid.png").is_file()


def test_a_renamed_checkpoint_is_not_taken_for_the_step_its_name_says(finished_run, tmp_path):
    """state-0000002.pt renamed to a later step: resume used to restart from step-2 weights as the newest state and
    prune the real newest one; the step inside the file now has to match its name."""
    run = copy_run(finished_run, tmp_path / "run")
    (newest_step, _), *_ = reversed(ckpt.list_states(run))
    first_step, first = ckpt.list_states(run)[0]
    renamed = ckpt.state_path(run, newest_step + 10)
    first.rename(renamed)
    with pytest.raises(ckpt.BadCheckpoint, match=f"holds step {first_step}, not the step its name says"):
        ckpt.load_state(renamed)
    code, out, err = run_cli("resume", run, "--steps", newest_step + 2)
    assert code == 0, err
    assert f"resumed from state-{newest_step:07d}.pt at step {newest_step}" in out
    assert renamed.with_name(renamed.name + ".bad").exists()


# --- 6. user mistakes around runs: one line, exit 2 ---------------------------------------------------------------
@pytest.mark.parametrize("what", ["preset file", "run config"])
def test_files_that_are_not_utf8(tmp_path, finished_run, what):
    if what == "preset file":
        path = tmp_path / "exp.yaml"
        path.write_bytes(b"base: wgan_gp_digits\ndescription: caf\xe9\n")
        one_line_error(*run_cli("train", path, "--dry-run")[::2], f"{path}: not a UTF-8 text file (byte 0xe9")
    else:
        run = copy_run(finished_run, tmp_path / "run")
        (run / "config.yaml").write_bytes((run / "config.yaml").read_bytes() + b"# \xff\xfe\n")
        for args in (["resume", run], ["eval", run], ["report", run]):
            one_line_error(*run_cli(*args)[::2], "config.yaml: not a UTF-8 text")


def test_out_inside_a_file_or_onto_the_wrong_kind(tmp_path, finished_run):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    folder = tmp_path / "folder.png"
    folder.mkdir()
    cases = [
        (["train", "wgan_gp_digits", "--out", blocker / "run", *TINY], "is a file, not a folder"),
        (["train", "wgan_gp_digits", "--out", blocker, *TINY], "exists and is not a folder"),
        (["sample", finished_run, "--num", 4, "--out", blocker / "x.png"], "is a file, not a folder"),
        (["sample", finished_run, "--num", 4, "--out", folder], "is a folder; give a file name"),
        (["sample", finished_run, "--num", 4, "--out", blocker], "exists and is not a folder"),
        (["export", finished_run, "--format", "torchscript", "--out", blocker / "g.pt"], "is a file, not a folder"),
        (["export", finished_run, "--format", "torchscript", "--out", tmp_path], "is a folder; give a file name"),
        (["report", finished_run, "--out", blocker / "r.html"], "is a file, not a folder"),
        (["report", finished_run, "--out", tmp_path], "is a folder; give a file name"),
    ]
    for args, fragment in cases:
        one_line_error(*run_cli(*args)[::2], fragment)
    assert blocker.read_text() == "x"


def test_a_read_only_run_directory(tmp_path, finished_run):
    with small_disk(tmp_path, 4096) as disk:
        run = copy_run(finished_run, disk / "run")
        before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
        assert remount_read_only(disk)
        one_line_error(*run_cli("resume", run, "--steps", 8, "--no-progress")[::2], "is not writable")
        one_line_error(*run_cli("eval", run, "--metrics", "fd", "--num-samples", 20)[::2], "is not writable")
        assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


def _assert_intact(run: Path) -> None:
    """What a stopped run holds is readable: config, every log line but a cut last one, checkpoints, a final status."""
    from gankit.runs.directory import read_run_config

    if not (run / "config.yaml").exists():
        return
    read_run_config(run)
    lines = (run / "metrics.jsonl").read_text().splitlines() if (run / "metrics.jsonl").exists() else []
    for line in lines[:-1]:
        json.loads(line)
    for _, path in ckpt.list_states(run):
        ckpt.load_state(path)
    if (run / ckpt.SNAPSHOT_NAME).exists():
        ckpt.load_snapshot(run / ckpt.SNAPSHOT_NAME)
    status = json.loads((run / "status.json").read_text()) if (run / "status.json").exists() else {}
    assert status.get("state") != "running", status


def _kind(name: str) -> str:
    """A written file's kind: its name without the step, process or random parts ('state-*.pt', 'tfevents', ...)."""
    import re

    name = re.sub(r"^\.|\.\d+\.[0-9a-f]{8}\.tmp$", "", name)  # a temporary file counts as the file it becomes
    return "tfevents" if "tfevents" in name else re.sub(r"\d{7}", "*", name)


def test_a_disk_that_fills_up_at_any_moment(tmp_path):
    """The disk fills up half-way through the first write of each kind of file a run writes (config, status, logs,
    TensorBoard, grids, checkpoints, snapshot), then half-way through a later one: each time one line, exit 2,
    nothing saved before damaged, status not left "running", and the run resumes once there is room again."""
    with disk_budget(10**9) as probe:
        train_tiny(tmp_path / "probe", 6)
    moments: dict[str, list[int]] = {}
    for used, size, name in probe.writes:
        moments.setdefault(_kind(name), []).append(used + max(size // 2, 1) - 1)
    assert {"config.yaml", "status.json", "metrics.jsonl", "log.txt", "tfevents", "step-*.png", "state-*.pt",
            "generator.safetensors"} <= set(moments), sorted(moments)
    limits = {f"{kind} #{i}": found[i] for kind, found in moments.items() for i in {0, len(found) // 2}}
    for k, (where, limit) in enumerate(sorted(limits.items())):
        run = tmp_path / f"run{k}"
        with disk_budget(limit) as budget:
            code, _, err = run_cli("train", "wgan_gp_digits", "--out", run, "--steps", 6, *TINY)
        assert budget.failures, where
        _assert_intact(run)
        if code == 0:  # only the final status met the full disk: it was rewritten in place, the run is complete
            assert where.startswith("status.json") and json.loads((run / "status.json").read_text())["state"] == "finished"
            continue
        one_line_error(code, err, "disk full")
        if ckpt.list_states(run):  # the disk has room again: the run continues from what it saved
            assert run_cli("resume", run, "--no-progress")[0] == 0, where
            assert ckpt.list_states(run)[-1][0] == 6


def test_a_real_full_disk(tmp_path):
    """The same on a small real file system, filled by the run itself at different sizes."""
    for size_kb in (64, 256, 700):
        with small_disk(tmp_path, size_kb) as disk:
            code, _, err = run_cli("train", "wgan_gp_digits", "--out", disk / "run", "--steps", 40, *TINY)
            if code == 0:
                continue
            one_line_error(code, err, "disk full")
            _assert_intact(disk / "run")


def test_study_files_written_by_a_failed_trial_say_why(tmp_path, capsys):
    study = tmp_path / "study.yaml"
    study.write_text("base: wgan_gp_digits\nset: {train.steps: 2, data.size: 8, model.g_dim: 8, model.d_dim: 8, "
                     "model.z_dim: 8, train.batch_size: 16, train.n_critic: 1, train.report: false}\n"
                     "grid: {data.name: [digits, cifar10]}\n")
    code, out, err = run_cli("study", study, "--out", tmp_path / "st")
    assert code == 0, err
    assert "failed: data.root: CIFAR-10 needs the folder" in out  # the console line of the failed trial
    assert "data.root: CIFAR-10 needs the folder" in (tmp_path / "st" / "summary.md").read_text()


@pytest.mark.parametrize("key,value", [("loss.name", "hinj"), ("loss.penalty", "wgan_gp"), ("model.arch", "dcgann"),
                                       ("data.name", "cifar"), ("model.d_norm", "spectrall"), ("family", "ganz"),
                                       ("eval.metrics", "[fid, fdd]"), ("eval.extractor", "mnist")])
def test_registry_names_are_checked_when_the_config_is_parsed(key, value):
    code, _, err = run_cli("train", "wgan_gp_digits", "--set", f"{key}={value}", "--dry-run")
    line = one_line_error(code, err, f"config key '{key}'")
    assert "valid:" in line


def test_an_unknown_name_in_a_study_grid_stops_it_before_any_trial(tmp_path):
    study = tmp_path / "study.yaml"
    study.write_text("base: wgan_gp_digits\ngrid: {loss.name: [hinge, hinj], loss.penalty: [none]}\n")
    for args in (["study", study, "--dry-run"], ["study", study, "--out", tmp_path / "st"]):
        one_line_error(*run_cli(*args)[::2], "trial with loss.name=hinj, loss.penalty=none: ")
    assert not (tmp_path / "st").exists()


# --- friction ------------------------------------------------------------------------------------------------------
def test_resume_of_a_finished_run_says_where_it_is_and_changes_nothing(finished_run, tmp_path):
    run = copy_run(finished_run, tmp_path / "run")
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"}
    code, out, _ = run_cli("resume", run, "--no-progress")
    assert code == 0 and "already finished at step 6" in out
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"} == before


def test_eval_entries_keep_their_own_protocol(finished_run, tmp_path):
    run = copy_run(finished_run, tmp_path / "run")
    common = ["--metrics", "fd_kid", "--num-real", 40, "--threads", 1]
    assert run_cli("eval", run, "--checkpoint", 4, "--num-samples", 30, *common)[0] == 0
    assert run_cli("eval", run, "--checkpoint", 6, "--num-samples", 50, *common)[0] == 0
    results = json.loads((run / "eval.json").read_text())["results"]
    assert results["4"]["protocol"]["fake_items_per_run"] == 30 and results["6"]["protocol"]["fake_items_per_run"] == 50
    assert results["4"]["protocol"]["kid"]["subset_size_used"] == 30 and results["6"]["protocol"]["kid"]["subset_size_used"] == 40
    rows = (run / "scores.csv").read_text().splitlines()
    assert rows[0] == "step,score,mean,std,runs" and any(r.startswith("4,") for r in rows) and any(r.startswith("6,") for r in rows)


def test_tensorboard_keeps_the_checkpoint_steps_events_after_a_resume(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = train_tiny(tmp_path / "run", 4)
    assert run_cli("resume", run, "--steps", 6, "--no-progress")[0] == 0
    events = EventAccumulator(str(run / "tb")).Reload()
    steps = [e.step for e in events.Scalars("train/loss_d")]
    assert steps == [1, 2, 3, 4, 5, 6]  # step 4 (the checkpoint's) logged once and kept
    assert [e.step for e in events.Images("samples")] == [0, 3, 4, 6]


def test_home_is_expanded_in_path_options(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    code, out, _ = run_cli("train", "wgan_gp_digits", "--set", "data.root=~/data", "--set", "eval.inception_weights=~/w.pth",
                           "--dry-run")
    assert code == 0 and f"root: {tmp_path}/data" in out and f"inception_weights: {tmp_path}/w.pth" in out
    train_tiny(Path("~/run").expanduser(), 2)
    assert run_cli("sample", "~/run", "--num", 4, "--out", "~/grid.png")[0] == 0 and (tmp_path / "grid.png").is_file()


def test_base_is_found_beside_the_file_that_names_it(tmp_path, monkeypatch):
    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / "parent.yaml").write_text("base: wgan_gp_digits\ntrain: {batch_size: 7}\n")
    (folder / "child.yaml").write_text("base: parent.yaml\ntrain: {n_critic: 3}\n")
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli("train", "configs/child.yaml", "--dry-run")
    assert code == 0, err
    assert "batch_size: 7" in out and "n_critic: 3" in out


def test_metrics_dc_flag(tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 16, 16, 1), dtype=np.uint8)
    np.savez(tmp_path / "a.npz", images=images)
    np.savez(tmp_path / "b.npz", images=images[::-1].copy())
    code, out, err = run_cli("metrics", "--input1", tmp_path / "a.npz", "--input2", tmp_path / "b.npz", "--fd", "digits", "--json")
    assert code == 0, err
    scores = json.loads(out)["scores"]
    assert scores["fd_density"] > 0 and scores["fd_coverage"] == pytest.approx(1.0)  # the same images, another order


def test_read_only_lock_and_os_errors_have_their_reason():
    import errno

    from gankit.files import os_error_reason

    assert os_error_reason(OSError(errno.ENOSPC, "x")) == "disk full"
    assert "read-only" in os_error_reason(OSError(errno.EROFS, "x"))


def test_interrupt_saves_and_status_says_so(tmp_path):
    run = tmp_path / "run"
    child = _start_training(run, 100_000)
    child.send_signal(signal.SIGTERM)
    assert child.wait(60) == 128 + signal.SIGTERM
    assert json.loads((run / "status.json").read_text())["state"] == "interrupted"


@pytest.mark.parametrize("damage", ["no checkpoints", "checkpoints is a file"])
def test_resume_never_restarts_a_run_whose_checkpoints_are_gone(finished_run, tmp_path, damage):
    """A run stopped before its first checkpoint may start again from step 0; one whose checkpoints were deleted (or
    replaced by a file) must not: that would train over its snapshot, metrics.jsonl and samples."""
    import shutil

    run = copy_run(finished_run, tmp_path / "run")
    shutil.rmtree(run / "checkpoints")
    if damage == "checkpoints is a file":
        (run / "checkpoints").write_text("x")
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"}
    code, _, err = run_cli("resume", run, "--steps", 8, "--no-progress")
    one_line_error(code, err, "checkpoint")
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"} == before
    # the legitimate case: killed before its first checkpoint (no snapshot, status running) starts from step 0
    fresh = copy_run(finished_run, tmp_path / "fresh")
    shutil.rmtree(fresh / "checkpoints")
    (fresh / "generator.safetensors").unlink()
    (fresh / "status.json").write_text(json.dumps({"state": "running", "step": 1, "pid": 1, "host": "elsewhere"}))
    code, out, err = run_cli("resume", fresh, "--no-progress")
    assert code == 0 and "training from step 0" in out, err


@pytest.mark.parametrize("cut", ["from loss: on", "empty"])
def test_a_cut_short_config_is_refused_not_filled_with_defaults(finished_run, tmp_path, cut):
    """A key the snapshot was trained with and config.yaml lacks would become a default (another penalty, lr, batch)
    and resume would write it back: refused, and nothing changes."""
    run = copy_run(finished_run, tmp_path / "run")
    text = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(text[:text.index("\nloss:")] + "\n" if cut != "empty" else "")
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"}
    for command in (["resume", run, "--steps", 8, "--no-progress"], ["eval", run, "--metrics", "fd", "--num-samples", 10]):
        code, _, err = run_cli(*command)
        line = one_line_error(code, err, "config.yaml: lacks ")
        assert ("loss." in line) if cut != "empty" else "trained with" in line
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"} == before


def test_outputs_never_overwrite_another_runs_files_or_a_file_of_another_kind(finished_run, tmp_path):
    """--out may name any new path, and replace a file of the kind the command writes; it may not replace another
    run's own files (a checkpoint, its config) or a file of another kind (a study's YAML under a report)."""
    run, other = copy_run(finished_run, tmp_path / "run"), copy_run(finished_run, tmp_path / "other")
    study_file = tmp_path / "study.yaml"
    study_file.write_text("name: x\n")
    newest = sorted((other / "checkpoints").iterdir())[-1]
    before = {p: p.read_bytes() for p in [*other.rglob("*"), study_file] if p.is_file() and not p.name.startswith(".")}
    for args, fragment in [
            (["export", run, "--format", "torchscript", "--out", newest], f"the run {other.resolve()}'s checkpoints"),
            (["report", run, "--out", other / "report.html"], f"the run {other.resolve()}'s report.html"),
            (["sample", run, "--num", 4, "--out", other / "samples" / "step-0000003.png"], "'s samples"),
            (["report", run, "--out", other / "config.yaml"], "is not a .html or .htm file"),
            (["report", run, "--out", study_file], "refusing to replace it"),
            (["sample", run, "--num", 4, "--out", study_file], "exists and is not a folder")]:
        one_line_error(*run_cli(*args)[::2], fragment)
    assert {p: p.read_bytes() for p in [*other.rglob("*"), study_file] if p.is_file() and not p.name.startswith(".")} == before
    (tmp_path / "old.html").write_text("old")
    for args in (["report", run, "--out", tmp_path / "old.html"], ["report", run, "--out", other / "notes" / "r.html"]):
        code, _, err = run_cli(*args)
        assert code == 0, err
    assert (tmp_path / "old.html").read_text() != "old"



@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_export_to_a_full_disk_says_so_and_leaves_nothing_behind(finished_run, tmp_path, fmt):
    """torch's TorchScript writer used to abort the process (SIGABRT, C++ frames) on a full disk and leave its
    temporary file behind: a subprocess, because an abort would take pytest with it."""
    import shutil

    if fmt == "onnx":
        pytest.importorskip("onnxscript")
    with small_disk(tmp_path, 2048) as disk:
        run = disk / "run"
        shutil.copytree(finished_run, run)
        fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
        with contextlib.suppress(OSError):  # fill the rest of the disk, then free room for a small file only
            while True:
                os.write(fd, b"\0" * 4096)
        os.ftruncate(fd, max(os.fstat(fd).st_size - 16 * 1024, 0))
        os.close(fd)
        proc = subprocess.run([sys.executable, "-m", "gankit", "export", run, "--format", fmt], capture_output=True,
                              text=True, env=ENV, timeout=300)
        one_line_error(proc.returncode, proc.stderr, "disk full")
        assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp") or p.name.startswith("generator.")
                    and p.name != "generator.safetensors"]


def test_a_dangling_checkpoint_link_and_a_file_for_a_run(finished_run, tmp_path):
    """A broken link named like the newest state used to stop resume ('checkpoint not found') though good states
    were there; a run path that is a file was 'no such run directory'; a study sent into a run took it over."""
    run = copy_run(finished_run, tmp_path / "run")
    (run / "checkpoints" / "state-0000010.pt").symlink_to(tmp_path / "gone.pt")
    assert [step for step, _ in ckpt.list_states(run)] == [2, 4, 6]
    code, out, err = run_cli("resume", run, "--steps", 8, "--no-progress")
    assert code == 0 and ckpt.list_states(run)[-1][0] == 8, err
    (tmp_path / "file").write_text("x")
    one_line_error(*run_cli("eval", tmp_path / "file")[::2], "a file, not a run directory")
    (tmp_path / "s.yaml").write_text("base: wgan_gp_digits\ngrid: {loss.name: [hinge]}\n")
    report = (run / "report.html").read_bytes() if (run / "report.html").exists() else None
    one_line_error(*run_cli("study", tmp_path / "s.yaml", "--out", run)[::2], "is a training run's directory")
    assert ((run / "report.html").read_bytes() if (run / "report.html").exists() else None) == report
    one_line_error(*run_cli("train", "wgan_gp_digits", "--set", "train.steps=10000000000000", "--dry-run")[::2],
                   "config key 'train.steps'")
