"""The thread policy: train.threads, then OMP_NUM_THREADS, then the cores idle at the start; the log says which."""
import subprocess
import sys

import pytest
import torch

from gankit.train import threads


@pytest.fixture
def two_cores(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)


@pytest.mark.parametrize("busy, expected", [(0.1, 2), (0.6, 1), (1.0, 1), (2.0, 1), (None, 2)])
def test_the_idle_cores_at_the_start(two_cores, monkeypatch, busy, expected):
    monkeypatch.setattr(threads, "busy_cores", lambda: busy)
    count, why = threads.choose_threads(None)
    assert count == expected and ("busy" in why if busy is not None else "unknown" in why)


def test_a_setting_wins_then_the_environment(two_cores, monkeypatch):
    monkeypatch.setattr(threads, "busy_cores", lambda: 2.0)
    assert threads.choose_threads(3) == (3, "train.threads")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert threads.choose_threads(None) == (2, "OMP_NUM_THREADS")


def test_busy_cores_sees_another_process_keep_a_core_busy():
    idle = threads.busy_cores(0.3)
    if idle is None or idle > threads.usable_cores() - 1.2:
        pytest.skip(f"no idle core to watch ({idle} of {threads.usable_cores()} busy already)")
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        threads.busy_cores(0.2)  # let it start
        busy = threads.busy_cores(0.3)
    finally:
        burner.kill()
    assert idle is not None and busy is not None
    assert busy - idle > 0.5  # one more core's worth, give or take the rest of the machine


def test_the_run_log_names_the_threads(tmp_path, tiny_overrides, two_cores, monkeypatch):
    from gankit.cli import main

    monkeypatch.setattr(threads, "busy_cores", lambda: 1.0)
    before = torch.get_num_threads()
    run = tmp_path / "run"
    try:
        assert main(["train", "wgan_gp_digits", "--out", str(run), "--steps", "2",  # the preset pins 1 thread: unpin
                     *[a for o in tiny_overrides + ["train.threads=null"] for a in ("--set", o)]]) == 0
        assert "threads: 1 (2 cores, 1.0 busy with other work at the start)" in (run / "log.txt").read_text()
    finally:
        torch.set_num_threads(before)


def test_a_resumed_run_keeps_its_checkpoints_count(tmp_path, tiny_overrides, two_cores, monkeypatch):
    from gankit.cli import main

    sets = [a for o in tiny_overrides + ["train.threads=null"] for a in ("--set", o)]
    before = torch.get_num_threads()
    run = tmp_path / "run"
    try:
        monkeypatch.setattr(threads, "busy_cores", lambda: 0.0)  # quiet at the start: 2 threads
        assert main(["train", "wgan_gp_digits", "--out", str(run), "--steps", "3", *sets]) == 0
        monkeypatch.setattr(threads, "busy_cores", lambda: 1.0)  # busy now: a new run would take 1
        assert main(["resume", str(run), "--steps", "6"]) == 0
        log = (run / "log.txt").read_text()
        assert "threads: 2 (2 cores, 0.0 busy" in log and "threads: 2 (the checkpoint's count" in log
    finally:
        torch.set_num_threads(before)
