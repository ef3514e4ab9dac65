"""Crash safety: SIGKILL at random moments (and in the middle of a checkpoint write), corrupted and truncated
checkpoints, a full disk. After every crash `gankit resume` must end where an uninterrupted run ends, bit for bit."""
import errno
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gankit.cli import main
from gankit.train import checkpoint as ckpt

TINY = ["--set", "data.size=8", "--set", "model.g_dim=8", "--set", "model.d_dim=8", "--set", "model.z_dim=8",
        "--set", "train.batch_size=16", "--set", "train.n_critic=2", "--set", "train.log_every=2",
        "--set", "train.sample_every=10", "--set", "train.checkpoint_every=1", "--set", "train.keep_checkpoints=2",
        "--set", "train.report=false", "--no-progress"]
STEPS = 40
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # every process alike: the same float reductions
# A child that dies by SIGKILL half-way through writing the checkpoint of step 3 (in its temporary file).
DIE_IN_WRITE = """
import os, signal, sys
from gankit.train import checkpoint
real = checkpoint.atomic_write
def dying(path, write):
    if path.name == "state-0000003.pt":
        def half(tmp):
            write(tmp)
            data = tmp.read_bytes()
            tmp.write_bytes(data[: len(data) // 2])
            os.kill(os.getpid(), signal.SIGKILL)
        return real(path, half)
    return real(path, write)
checkpoint.atomic_write = dying
from gankit.cli import main
sys.exit(main(sys.argv[1:]))
"""


def gankit(*args, script=None) -> list[str]:
    return [sys.executable, "-c", script, *args] if script else [sys.executable, "-m", "gankit", *args]


def newest(run_dir: Path) -> int:
    return max((step for step, _ in ckpt.list_states(run_dir)), default=0)


def final_state(run_dir: Path) -> dict:
    states = ckpt.list_states(run_dir)
    assert states and states[-1][0] == STEPS
    return ckpt.load_state(states[-1][1])


def assert_same_weights(a: dict, b: dict) -> None:
    for name in a["modules"]:
        for key, value in a["modules"][name].items():
            assert torch.equal(value, b["modules"][name][key]), f"{name}.{key} differs"
    for oa, ob in zip(a["optimizers"], b["optimizers"], strict=True):
        for pid, state in oa["state"].items():
            for key, value in state.items():
                assert torch.equal(value, ob["state"][pid][key]), f"optimizer {pid}.{key} differs"


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    out = tmp_path_factory.mktemp("straight") / "run"
    done = subprocess.run(gankit("train", "wgan_gp_digits", "--out", str(out), "--steps", str(STEPS), *TINY), env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return out


def test_sigkill_at_random_moments_then_resume_equals_an_uninterrupted_run(straight, tmp_path):
    seed = int(time.time())
    rng = random.Random(seed)
    run = tmp_path / "killed"
    env = ENV
    # first a death inside a checkpoint write, then kills at random moments, resuming each time
    start = time.monotonic()
    done = subprocess.run(gankit("train", "wgan_gp_digits", "--out", str(run), "--steps", str(STEPS), *TINY,
                                 script=DIE_IN_WRITE), env=env, capture_output=True, text=True, timeout=300)
    startup = time.monotonic() - start  # start-up and 3 steps: this machine's scale for "a moment anywhere"
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert list((run / "checkpoints").glob(".state-0000003.pt.*.tmp"))  # died mid-write: the half file is left
    assert [s for s, _ in ckpt.list_states(run)] == [1, 2]
    kills, mid_training, finished = 1, 0, False
    for attempt in range(12):
        before = newest(run)
        args = ("resume", str(run), "--no-progress") if (run / "config.yaml").is_file() else \
            ("train", "wgan_gp_digits", "--out", str(run), "--steps", str(STEPS), *TINY)
        child = subprocess.Popen(gankit(*args), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if attempt % 3 == 2:  # a moment anywhere, start-up included (a fixed 0.5-4 s let fast machines finish first)
            deadline = time.monotonic() + rng.uniform(0.2, 1.0) * startup
        else:  # a moment while it trains: once it has saved 1-4 new checkpoints, within the next 20 ms (a step takes
            # a few ms: a longer wait let a fast machine finish the run before 2 kills had landed mid-run)
            target = before + rng.randint(1, 4)
            while child.poll() is None and newest(run) < target:
                time.sleep(0.002)
            deadline = time.monotonic() + rng.uniform(0.0, 0.02)
        while child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            child.communicate()
            kills += 1
            mid_training += before < newest(run) < STEPS
            continue
        assert child.returncode == 0, f"seed {seed}: {child.stderr.read()}"
        finished = True
        break
    if not finished:  # the random kills never let it end: one last undisturbed resume
        assert subprocess.run(gankit("resume", str(run), "--no-progress"), env=env, timeout=300).returncode == 0
    assert_same_weights(final_state(straight), final_state(run))
    # how many kills land mid-run depends on timing (the run may reach its end first; with a 0-0.4 s wait after a
    # checkpoint, a faster machine got 4 kills, 1 mid-run, 2026-12-01); 2 proves kills between checkpoints happened
    assert kills >= 4 and mid_training >= 2, f"seed {seed}: {kills} kills, {mid_training} of them while training"
    steps = [int(line.split('"step": ')[1].split(",")[0]) for line in (run / "metrics.jsonl").read_text().splitlines()
             if '"event"' not in line]  # resume records repeat their checkpoint's step
    assert steps == sorted(set(steps)) and steps[-1] == STEPS  # no step logged twice, none cut short
    assert not list(run.rglob("*.tmp"))  # the half-written temporary files of killed processes were cleared


def _copy_run(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize("damage", ["flip_byte", "truncate", "footer_only"])
def test_a_corrupt_newest_checkpoint_is_reported_and_the_previous_one_used(straight, tmp_path, capsys, damage):
    run = _copy_run(straight, tmp_path / "run")
    newest = ckpt.state_path(run, STEPS)
    data = bytearray(newest.read_bytes())
    if damage == "flip_byte":
        data[len(data) // 2] ^= 0x40
    elif damage == "truncate":
        data = data[: len(data) * 2 // 3]
    else:
        data = data[-46:]
    newest.write_bytes(bytes(data))
    with pytest.raises(ckpt.BadCheckpoint):
        ckpt.load_state(newest)
    # resume finds it bad, keeps it aside, goes on from the previous state and ends at the same weights
    done = subprocess.run(gankit("resume", str(run), "--no-progress"), env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    reason = {"flip_byte": "checksum mismatch", "truncate": "truncated or not a gankit checkpoint",
              "footer_only": "checksum mismatch"}[damage]
    assert f"warning: {newest}: {reason}" in out and "trying the previous checkpoint" in out
    assert (run / "checkpoints" / f"state-{STEPS:07d}.pt.bad").is_file()
    assert_same_weights(final_state(straight), final_state(run))


def test_no_usable_checkpoint_is_a_one_line_error(straight, tmp_path, capsys):
    run = _copy_run(straight, tmp_path / "run")
    for _, path in ckpt.list_states(run):
        path.write_bytes(b"not a checkpoint")
    assert main(["resume", str(run), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    reasons = "; ".join(f"{path.name}: truncated or not a gankit checkpoint (no checksum footer)"
                        for _, path in reversed(ckpt.list_states(straight)))
    assert err == [f"gankit: error: {run}: no usable checkpoint left in checkpoints/ ({reasons}; kept as *.bad)"]


def test_a_full_disk_while_saving_loses_nothing_already_saved(straight, tmp_path, capsys, monkeypatch):
    run = _copy_run(straight, tmp_path / "run")
    before = {p.name: p.read_bytes() for p in (run / "checkpoints").iterdir()}
    snapshot = (run / ckpt.SNAPSHOT_NAME).read_bytes()
    real_write = Path.write_bytes

    def full_disk(self, data):
        if self.name.endswith(".tmp") and self.name.startswith(".state-"):  # the checkpoint's temporary file
            real_write(self, data[:100])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    assert main(["resume", str(run), "--steps", str(STEPS + 2), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("gankit: error: ") and "could not be written (disk full)" in err[0]
    assert f"state-{STEPS + 1:07d}.pt" in err[0]
    monkeypatch.undo()
    after = {p.name: p.read_bytes() for p in (run / "checkpoints").iterdir()}
    assert after == before and (run / ckpt.SNAPSHOT_NAME).read_bytes() == snapshot  # no temp file left either
