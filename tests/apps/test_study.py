"""The study tool: plans from grid/random specs, runs trials as ordinary run directories, resumes, summarises."""
import contextlib
import csv
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gankit.apps.study import StudySpec, load_study, plan, run_study, swept_points, trial_id
from gankit.cli import main
from gankit.errors import ConfigError
from gankit.train import checkpoint as ckpt

TOY = """
base: wgan_gp_toy_8gaussians
description: a 2x2 toy study
set: {train.steps: 6, data.num_train: 256, train.batch_size: 32, model.g_dim: 16, model.d_dim: 16,
      train.n_critic: 1, train.log_every: 3, train.checkpoint_every: 3, eval.num_samples: 200}
grid:
  loss.name: [non_saturating, hinge]
  optim.lr_d: [1.0e-4, 1.0e-3]
seeds: [0]
"""


def _write(tmp_path, text=TOY, name="toy.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_grid_and_random_points_are_reproducible():
    spec = StudySpec(base="wgan_gp_digits", grid={"loss.name": ["hinge", "wasserstein"]},
                     random={"samples": 3, "seed": 7, "params": {"optim.lr_d": {"log_uniform": [1e-5, 1e-3]},
                                                                  "loss.penalty_weight": {"choice": [1, 10]}}})
    points = swept_points(spec)
    assert len(points) == 6 and points == swept_points(spec)
    assert {p["loss.name"] for p in points} == {"hinge", "wasserstein"}
    assert all(1e-5 <= p["optim.lr_d"] <= 1e-3 and p["loss.penalty_weight"] in (1, 10) for p in points)
    other = swept_points(spec.model_copy(update={"random": spec.random.model_copy(update={"seed": 8})}))
    assert [p["optim.lr_d"] for p in other] != [p["optim.lr_d"] for p in points]


def test_trial_ids_are_stable_and_distinct():
    a = trial_id({"loss.name": "hinge"}, 0, {"base": "x"})
    assert a == trial_id({"loss.name": "hinge"}, 0, {"base": "x"}) and a.startswith("loss.name=hinge-s0-")
    assert len({a, trial_id({"loss.name": "hinge"}, 1, {"base": "x"}), trial_id({"loss.name": "hinge"}, 0, {"base": "y"})}) == 3


@pytest.mark.parametrize("text,fragment", [
    ("base: wgan_gp_digits\ngrid: {loss.nme: [hinge]}\n", "unknown config key 'loss.nme'"),
    ("base: wgan_gp_digits\ngrid: {loss.name: []}\n", "grid.loss.name: expected at least one value"),
    ("base: wgan_gp_digits\nrandom: {samples: 2, params: {optim.lr_d: {normal: [0, 1]}}}\n", "give one of uniform"),
    ("base: wgan_gp_digits\nseedz: [1]\n", "seedz"),
    ("base: [unclosed\n", "invalid YAML"),
    # the name becomes the default folder runs/study-NAME: a path in it would write outside runs/
    ("name: ../../evil\nbase: wgan_gp_digits\n", "expected a plain name"),
    ("name: a/b\nbase: wgan_gp_digits\n", "expected a plain name"),
])
def test_bad_study_files_are_one_line_errors(tmp_path, text, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("[", r"\[")):
        plan(load_study(_write(tmp_path, text, "bad.yaml")))


def test_toy_study_runs_resumes_and_summarises(tmp_path, capsys):
    study = _write(tmp_path)
    out = tmp_path / "out"
    assert main(["study", str(study), "--out", str(out)]) == 0
    rows = list(csv.DictReader(open(out / "study.csv")))
    assert len(rows) == 4 and all(r["status"] == "finished" for r in rows)
    assert {(r["loss.name"], r["optim.lr_d"]) for r in rows} == {("non_saturating", "0.0001"), ("non_saturating", "0.001"),
                                                                ("hinge", "0.0001"), ("hinge", "0.001")}
    assert all(float(r["log_p"]) < 0 and 0 <= float(r["C"]) <= 1 for r in rows)
    trial_dirs = sorted(p for p in (out / "trials").iterdir() if p.is_dir())
    assert len(trial_dirs) == 4 and all((d / "eval.json").is_file() and (d / "generator.safetensors").is_file() for d in trial_dirs)
    summary = (out / "summary.md").read_text()
    assert "| loss.name | optim.lr_d | finished |" in summary and "## By `optim.lr_d`" in summary
    assert (out / "plot-log_p.png").stat().st_size > 1000
    assert "modes_total" not in summary  # constant over the trials: in the csv only

    # finished trials are not run again; an interrupted one resumes from its checkpoint
    first = json.loads((trial_dirs[0] / "trial.json").read_text())
    (trial_dirs[1] / "trial.json").unlink()
    capsys.readouterr()
    result = run_study(study, out)
    assert result["finished"] == 4
    log = capsys.readouterr().out
    assert log.count("done before") == 3
    assert json.loads((trial_dirs[0] / "trial.json").read_text()) == first
    resumed = (out / "trials" / f"{trial_dirs[1].name}.log").read_text()
    assert "already finished at step 6" in resumed  # resumed at its last checkpoint: nothing left to train

    # a new seed adds only the new trials
    _write(tmp_path, TOY.replace("seeds: [0]", "seeds: [0, 1]"))
    capsys.readouterr()
    assert run_study(study, out)["trials"] == 8
    assert capsys.readouterr().out.count("done before") == 4


def test_failed_trials_are_recorded_not_fatal(tmp_path):
    text = TOY.replace("optim.lr_d: [1.0e-4, 1.0e-3]", "optim.lr_d: [1.0e-4, 1.0e+30]")
    result = run_study(_write(tmp_path, text), tmp_path / "out")
    rows = list(csv.DictReader(open(tmp_path / "out" / "study.csv")))
    assert result["trials"] == 4 and result["finished"] == 2
    assert {r["optim.lr_d"]: r["status"] for r in rows} == {"0.0001": "finished", "1e+30": "diverged"}
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "## Diverged or failed" in summary and "loss_d became nan" in summary


def test_ray_backend_runs_trials_as_tasks(tmp_path):
    pytest.importorskip("ray")
    text = TOY.replace("  optim.lr_d: [1.0e-4, 1.0e-3]\n", "")
    out = tmp_path / "out"
    result = run_study(_write(tmp_path, text), out, backend="ray", workers=2)
    assert result["finished"] == 2
    assert len(list(csv.DictReader(open(out / "study.csv")))) == 2
    shutil.rmtree(out / "trials")


def test_an_interrupted_trial_stops_the_study(tmp_path, monkeypatch):
    import gankit.apps.study as study_module
    from gankit.train.loop import Interrupted

    def interrupted(*args, **kwargs):
        raise Interrupted("interrupted by SIGTERM at step 3; checkpoint saved", 15)

    monkeypatch.setattr(study_module, "train", interrupted)
    with pytest.raises(Interrupted):
        run_study(_write(tmp_path), tmp_path / "out")
    assert not list((tmp_path / "out" / "trials").glob("*/trial.json"))  # nothing recorded as a result


def test_local_process_pool_runs_trials_in_workers(tmp_path, capsys):
    text = TOY.replace("  optim.lr_d: [1.0e-4, 1.0e-3]\n", "")
    out = tmp_path / "out"
    result = run_study(_write(tmp_path, text), out, backend="local", workers=2)
    rows = list(csv.DictReader(open(out / "study.csv")))
    assert result["finished"] == 2 and [r["loss.name"] for r in rows] == ["non_saturating", "hinge"]  # plan order kept
    capsys.readouterr()
    assert run_study(_write(tmp_path, text), out, backend="local", workers=2)["finished"] == 2
    assert capsys.readouterr().out.count("done before") == 2  # skipped in the study process, no trial process


def _children(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is `pid`, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return False


def _all_gone(pids: list[int], timeout: float) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    return not any(_alive(p) for p in pids)


def _lines(trials: Path) -> dict[Path, int]:
    return {p.parent: p.read_text().count("\n") for p in trials.glob("*/metrics.jsonl")}


def _wait_training(trials: Path, count: int, since: dict[Path, int] | None = None, timeout: float = 120) -> list[Path]:
    """Wait until `count` trials have logged 3 metric lines more than in `since`; returns their folders."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        busy = [d for d, n in _lines(trials).items() if n >= 3 + (since or {}).get(d, 0)]
        if len(busy) >= count:
            return sorted(busy)
        time.sleep(0.2)
    raise AssertionError(f"{count} trials did not train within {timeout} s")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads worker processes from /proc (Linux)")
def test_stopping_a_parallel_study_stops_its_workers(tmp_path):
    """SIGTERM to a `--workers 2` study: both running trials save a checkpoint, no queued trial starts, the study
    exits 143 and no worker outlives it; a study killed outright (SIGKILL) leaves workers that do the same alone."""
    text = TOY.replace("train.steps: 6", "train.steps: 1000000").replace("train.log_every: 3", "train.log_every: 20")
    text = text.replace("train.checkpoint_every: 3", "train.checkpoint_every: 1000000")  # only the stops save
    study, out = _write(tmp_path, text), tmp_path / "out"
    args = [sys.executable, "-m", "gankit", "study", str(study), "--out", str(out), "--workers", "2"]
    env = dict(os.environ, OMP_NUM_THREADS="1")

    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        running = _wait_training(out / "trials", 2)
        workers = _children(proc.pid)
        assert len([w for w in workers if "spawn_main" in Path(f"/proc/{w}/cmdline").read_text()]) == 2, workers
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    report = f"exit {proc.returncode}\nstdout:\n{stdout[-2000:]}\nstderr:\n{stderr[-2000:]}"
    assert proc.returncode == 128 + signal.SIGTERM, report
    assert "study interrupted by SIGTERM" in stderr and "Traceback" not in stderr, report
    assert _all_gone(workers, 10), report  # the workers (and multiprocessing's resource tracker)
    started = sorted(d for d in (out / "trials").iterdir() if d.is_dir())
    assert started == running, report  # the two queued trials never started
    steps = {d: ckpt.list_states(d)[-1][0] for d in started}
    assert all(json.loads((d / "status.json").read_text())["state"] == "interrupted" for d in started)

    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        _wait_training(out / "trials", 2, since=_lines(out / "trials"))
        workers = _children(proc.pid)
        assert len(workers) >= 2, workers
        proc.kill()  # no chance to tell its workers
        proc.wait(30)
        gone = _all_gone(workers, 60)
    finally:
        for w in workers:
            with contextlib.suppress(OSError):
                os.kill(w, signal.SIGKILL)
    assert gone, "orphaned workers still running a minute after the study died"
    assert sorted(d for d in (out / "trials").iterdir() if d.is_dir()) == started
    after = {d: [s for s, _ in ckpt.list_states(d)] for d in started}
    logs = "\n".join((d.parent / f"{d.name}.log").read_text()[-600:] for d in started)
    assert all(max(after[d]) > steps[d] for d in started), f"{steps} {after}\n{logs}"  # each saved where it stopped


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads worker processes from /proc (Linux)")
def test_one_trial_process_signalled_or_killed(tmp_path):
    """SIGTERM to one trial's process (a plain `kill`): the study stops as on its own SIGTERM (exit 143, the other
    trial checkpoints, no queued trial starts). SIGKILL to one (the OOM killer): that trial is a failed row, not
    recorded in its trial.json, and the study goes on with the next."""
    text = TOY.replace("train.steps: 6", "train.steps: 1000000").replace("train.log_every: 3", "train.log_every: 20")
    text = text.replace("train.checkpoint_every: 3", "train.checkpoint_every: 1000000")
    study, out = _write(tmp_path, text), tmp_path / "out"
    args = [sys.executable, "-m", "gankit", "study", str(study), "--out", str(out), "--workers", "2"]
    env = dict(os.environ, OMP_NUM_THREADS="1")

    def started():
        return sorted(d for d in (out / "trials").iterdir() if d.is_dir())

    def trial_processes(study_pid):
        return [w for w in _children(study_pid) if "spawn_main" in Path(f"/proc/{w}/cmdline").read_text()]

    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        _wait_training(out / "trials", 2)
        workers = trial_processes(proc.pid)
        assert len(workers) == 2, workers
        os.kill(workers[0], signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    report = f"exit {proc.returncode}\nstdout:\n{stdout[-2000:]}\nstderr:\n{stderr[-2000:]}"
    assert proc.returncode == 128 + signal.SIGTERM and "study interrupted by SIGTERM to trial" in stderr, report
    assert "Traceback" not in stderr and _all_gone(workers, 10), report
    assert len(started()) == 2 and all(ckpt.list_states(d) for d in started()), report  # no queued trial started

    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        _wait_training(out / "trials", 2, since=_lines(out / "trials"))
        workers = trial_processes(proc.pid)
        assert len(workers) == 2, workers
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.time() + 120
        while time.time() < deadline and len(started()) < 3:
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    report = f"exit {proc.returncode}\nstdout:\n{stdout[-2000:]}\nstderr:\n{stderr[-2000:]}"
    assert "its process was killed by SIGKILL" in stdout and len(started()) == 3, report  # and the study went on
    assert proc.returncode == 128 + signal.SIGTERM and "Traceback" not in stderr, report
    assert not list((out / "trials").glob("*/trial.json")), report  # none recorded: each runs again next time


def _row(seed, scores, status="finished", **values):
    return {"id": f"{values}-{seed}", "seed": seed, "values": values, "status": status, "scores": scores, "seconds": 1.0}


def test_matched_differences_pair_only_trials_that_differ_in_the_key():
    from gankit.apps.study_summary import matched_differences

    rows = [_row(0, {"fd": 10.0}, norm="none", loss="ns"), _row(0, {"fd": 7.0}, norm="sn", loss="ns"),
            _row(1, {"fd": 12.0}, norm="none", loss="ns"), _row(1, {"fd": 8.0}, norm="sn", loss="ns"),
            _row(0, {"fd": 20.0}, norm="none", loss="wgan"), _row(0, {"fd": 25.0}, norm="sn", loss="wgan"),
            _row(1, {"fd": 5.0}, norm="sn", loss="wgan"),  # its baseline (seed 1, wgan, none) is missing: no pair
            _row(0, {"fd": 1.0}, "diverged", norm="sn", loss="hinge"), _row(0, {"fd": 3.0}, norm="none", loss="hinge")]
    assert sorted(matched_differences(rows, "norm", "sn", "none", "fd")) == [-4.0, -3.0, 5.0]
    # (none, seed 0): 20 - 10; (sn, seed 0): 25 - 7; (sn, seed 1): 5 - 8
    assert sorted(matched_differences(rows, "loss", "wgan", "ns", "fd")) == [-3.0, 10.0, 18.0]


def test_rank_agreement_is_spearmans_rho():
    from gankit.apps.study_summary import rank_agreement

    rows = [_row(i, {"fd": fd, "kid": kid}, k=i) for i, (fd, kid) in enumerate([(1, 0.1), (2, 0.3), (3, 0.2), (4, 0.4)])]
    rho, n = rank_agreement(rows, "fd", "kid")
    # ranks (1,2,3,4) vs (1,3,2,4): rho = 1 - 6 * (0 + 1 + 1 + 0) / (4 * 15) = 0.8
    assert n == 4 and rho == pytest.approx(0.8)
    assert math.isnan(rank_agreement(rows[:2], "fd", "kid")[0])
    # fd is lower-is-better, precision higher-is-better: ranks reversed = the same verdict, reported as +1
    opposite = [_row(i, {"fd": fd, "fd_precision": 1 - fd / 10}, k=i) for i, fd in enumerate([1.0, 2.0, 3.0, 4.0])]
    assert rank_agreement(opposite, "fd", "fd_precision")[0] == pytest.approx(1.0)


def test_a_blown_up_score_counts_as_the_worst_in_its_pair():
    from gankit.apps.study_summary import matched_differences

    rows = [_row(0, {"fd": 10.0}, norm="none"), _row(0, {"fd": math.inf}, norm="sn"),
            _row(1, {"fd": 12.0}, norm="none"), _row(1, {"fd": math.nan}, norm="sn")]
    assert matched_differences(rows, "norm", "sn", "none", "fd") == [math.inf, math.inf]


def test_summary_only_reports_a_study_in_progress(tmp_path, capsys):
    study = _write(tmp_path)
    out = tmp_path / "out"
    assert main(["study", str(study), "--out", str(out), "--summary-only"]) == 2  # nothing started yet: one-line error
    assert "no trials/ folder" in capsys.readouterr().err
    assert main(["study", str(study), "--out", str(out)]) == 0
    trial_dirs = sorted(p for p in (out / "trials").iterdir() if p.is_dir())
    (trial_dirs[0] / "trial.json").unlink()  # as if still training
    (trial_dirs[1] / "trial.json").write_text('{"status": "finished", "scores": {"fd": "x"}}')  # damaged: not read
    (out / "summary.md").unlink()
    capsys.readouterr()
    assert main(["study", str(study), "--out", str(out), "--summary-only"]) == 0
    assert "2 of 4 trials have a result (2 finished)" in capsys.readouterr().out
    summary = (out / "summary.md").read_text()
    assert "4 trials, 2 finished, 2 not run yet" in summary
    assert len(list(csv.DictReader(open(out / "study.csv")))) == 2
    assert not (trial_dirs[0] / "trial.json").exists()  # nothing trained
    assert "matched pairs" in summary and "median by `loss.name` × `optim.lr_d`" in summary
    page = (out / "report.html").read_text()  # the study's page is refreshed too, from the same two results
    assert "4 trials, 2 finished, 2 not run yet" in page and page.count("data:image/png;base64,") >= 1


def test_a_result_from_another_resolved_config_is_trained_again_and_left_out_of_the_summary(tmp_path, capsys):
    """The trial id hashes the base's name, not its contents: a base file edited after a trial finished must not
    let the old result pass as the new config's (and a result saved before the hash existed is still trusted)."""
    base = _write(tmp_path, "base: wgan_gp_toy_8gaussians\noptim:\n  lr_g: 1.0e-4\n", "base.yaml")
    study = _write(tmp_path, TOY.replace("base: wgan_gp_toy_8gaussians", f"base: {base}")
                   .replace("  optim.lr_d: [1.0e-4, 1.0e-3]\n", "").replace("[non_saturating, hinge]", "[hinge]"))
    out = tmp_path / "out"
    assert run_study(study, out)["finished"] == 1
    result = next((out / "trials").glob("*/trial.json"))
    first = json.loads(result.read_text())
    assert len(first["config_sha"]) == 12
    assert run_study(study, out)["finished"] == 1 and "done before" in capsys.readouterr().out

    base.write_text(base.read_text().replace("1.0e-4", "3.0e-4"))  # same trial id, another config
    assert main(["study", str(study), "--out", str(out), "--summary-only"]) == 0
    assert "0 of 1 trials have a result" in capsys.readouterr().out
    assert run_study(study, out)["finished"] == 1
    assert "done before" not in capsys.readouterr().out
    again = json.loads(result.read_text())
    assert again["config_sha"] != first["config_sha"]
    assert "another resolved config" in (out / "trials" / f"{result.parent.name}.log").read_text()

    legacy = {k: v for k, v in again.items() if k != "config_sha"}  # written before the hash was kept
    legacy["config_sha"] = ""
    result.write_text(json.dumps(legacy))
    base.write_text(base.read_text().replace("3.0e-4", "5.0e-4"))
    assert run_study(study, out)["finished"] == 1 and "done before" in capsys.readouterr().out


def test_a_class_index_is_kept_out_of_the_study_table(tmp_path, monkeypatch):
    """fd_classes names its worst class by index: per trial it stays in eval.json, but averaged over trials, ranked
    or plotted it would mean nothing, so the study's rows leave it out."""
    import gankit.apps.study as study_module

    real_evaluate = study_module.evaluate_run

    def with_a_label(*args, **kwargs):
        result = real_evaluate(*args, **kwargs)
        for entry in result["results"].values():
            entry["scores"]["class_ratio_min_class"] = {"mean": 7, "std": 0.0, "values": [7.0]}
        return result

    monkeypatch.setattr(study_module, "evaluate_run", with_a_label)
    text = TOY.replace("  optim.lr_d: [1.0e-4, 1.0e-3]\n", "")
    assert run_study(_write(tmp_path, text), tmp_path / "out")["finished"] == 2
    header = (tmp_path / "out" / "study.csv").read_text().splitlines()[0]
    assert "log_p" in header and "class_ratio_min_class" not in header
