import hashlib
import os
import pickle
import signal
import subprocess
import sys
import time

import pytest
import torch

from gankit.config import load_config
from gankit.errors import RunDirError, TrainingDiverged
from gankit.runs.directory import prepare_run_dir, write_config
from gankit.train import checkpoint as ckpt
from gankit.train.loop import Interrupted, Trainer


def _trainer(tmp_path, overrides, name="run"):
    cfg = load_config("wgan_gp_digits", overrides)
    run_dir = prepare_run_dir(tmp_path / name)
    write_config(run_dir, cfg)
    return Trainer(cfg, run_dir, progress=False)


def test_run_directory_contents(tmp_path, tiny_overrides):
    trainer = _trainer(tmp_path, tiny_overrides + ["train.steps=8", "train.keep_checkpoints=2"])
    summary = trainer.run()
    run = trainer.run_dir
    assert summary["final_step"] == 8
    assert [s for s, _ in ckpt.list_states(run)] == [6, 8]  # kept the last 2 of 3, 6, 8
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["real.png", "step-0000000.png", "step-0000004.png", "step-0000008.png"]
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 5  # steps 2, 3 (checkpoint), 4, 6, 8
    assert any(p.name.startswith("events.out.tfevents") for p in (run / "tb").iterdir())
    log = (run / "log.txt").read_text()
    assert "][8] Loss_D:" in log and "Loss_G:" in log
    tensors, meta = ckpt.load_snapshot(run / "generator.safetensors")
    assert meta["step"] == 8 and meta["config"]["train"]["steps"] == 8
    assert not list(run.rglob(".*.tmp"))  # no temporary files left behind


def test_d_and_g_step_counts_follow_n_critic(tmp_path, tiny_overrides):
    trainer = _trainer(tmp_path, tiny_overrides + ["train.steps=3", "train.n_critic=4"])
    trainer.run()
    d_opt, g_opt = trainer.optimizers
    d_steps = next(iter(d_opt.state.values()))["step"].item()
    g_steps = next(iter(g_opt.state.values()))["step"].item()
    assert (d_steps, g_steps) == (12, 3)
    assert trainer.sampler.epoch * trainer.sampler.batches_per_epoch + trainer.sampler.position // 16 == 12


def test_epoch_runs_show_one_progress_bar_per_epoch(tmp_path, capsys):
    # 640 points / batch 64 = 10 iterations per epoch (n_critic 1): 3 epochs -> bars "epoch 1/3" .. "epoch 3/3"
    cfg = load_config("adagan_gmm10", ["family=gan", "data.num_train=640", "train.epochs=3", "train.log_every=100"])
    trainer = Trainer(cfg, prepare_run_dir(tmp_path / "run"), progress=True)
    trainer.run()
    err = capsys.readouterr().err
    assert trainer.step == 30
    for k in (1, 2, 3):
        assert f"epoch {k}/3" in err and "10/10" in err
    assert "epoch 4/3" not in err


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, tiny_overrides):
    trainer = _trainer(tmp_path, tiny_overrides + ["train.steps=10", "train.log_every=1", "train.checkpoint_every=2"])
    d_step = trainer.train_steps[0]
    original = d_step.loss

    def poisoned(batch):
        loss, logs = original(batch)
        if trainer.step >= 4:  # during iteration 5
            loss = loss * float("nan")
            logs["loss_d"] = loss.detach()
        return loss, logs

    d_step.loss = poisoned
    expected = r"loss_d became nan by step 5; training stopped \(last good checkpoint: .*state-0000004.pt\)"
    with pytest.raises(TrainingDiverged, match=expected):
        trainer.run()
    assert [s for s, _ in ckpt.list_states(trainer.run_dir)] == [2, 4]
    state = ckpt.load_state(ckpt.state_path(trainer.run_dir, 4))
    assert all(torch.isfinite(v).all() for v in state["modules"]["G"].values() if v.is_floating_point())


def test_a_loss_past_its_familys_bound_stops_training_as_a_divergence(tmp_path):
    """A 100-label baseline once climbed to a cross-entropy of 1e16 and trained on (finite, so nothing stopped it)."""
    cfg = load_config("improved_gan_digits", ["ssl.supervised_only=true", "train.steps=10", "train.log_every=1",
                                              "train.checkpoint_every=2", "eval.every=0", "model.d_dim=16", "model.g_dim=16"])
    run_dir = prepare_run_dir(tmp_path / "run")
    write_config(run_dir, cfg)
    trainer = Trainer(cfg, run_dir, progress=False)
    step = trainer.train_steps[0]
    original = step.loss

    def exploding(batch):
        loss, logs = original(batch)
        if trainer.step >= 4:  # during iteration 5: the log says 5e4, the loss itself stays finite
            logs["loss_sup"] = torch.tensor(5e4)
        return loss, logs

    step.loss = exploding
    expected = (r"loss_sup reached 5e\+04 \(past 1000, the bound of a healthy run\) by step 5; training stopped "
                r"\(last good checkpoint: .*state-0000004.pt\)")
    with pytest.raises(TrainingDiverged, match=expected):
        trainer.run()
    assert [s for s, _ in ckpt.list_states(trainer.run_dir)] == [2, 4]


def test_checkpoint_refuses_pickled_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    path = tmp_path / "state-0000001.pt"
    torch.save({"x": Evil()}, path)
    with pytest.raises(RunDirError, match="not a gankit checkpoint"):  # no footer: rejected before unpickling
        ckpt.load_state(path)
    # the same behind a valid checksum footer (anyone can compute one): still refused, never run
    payload = path.read_bytes()
    path.write_bytes(payload + ckpt.FOOTER + hashlib.sha256(payload).digest())
    with pytest.raises(RunDirError, match="refused, it holds objects that would run code when loaded"):
        ckpt.load_state(path)
    assert not (tmp_path / "pwned").exists()
    pickle.loads(pickle.dumps(Evil()))  # the payload is live: unpickling it normally does run the command
    assert (tmp_path / "pwned").exists()


def test_a_signal_during_a_hook_stops_at_the_next_step_with_a_checkpoint(tmp_path, tiny_overrides):
    """The stop is decided once per step: a Ctrl-C landing in a hook (eval.every) after that point must not end
    the run at a step that saved no checkpoint."""
    trainer = _trainer(tmp_path, tiny_overrides + ["train.steps=50", "train.checkpoint_every=100"])

    def interrupt_at_3(trainer, logger):
        if trainer.step == 3:
            os.kill(os.getpid(), signal.SIGINT)

    trainer.hooks.append(interrupt_at_3)
    with pytest.raises(Interrupted, match="at step 4; checkpoint saved"):
        trainer.run()
    assert [s for s, _ in ckpt.list_states(trainer.run_dir)] == [4]


def test_resume_without_checkpoint_is_a_clear_error(tmp_path, tiny_overrides):
    trainer = _trainer(tmp_path, tiny_overrides)
    with pytest.raises(RunDirError, match="no checkpoint in checkpoints/ to resume from"):
        trainer.resume()


def test_sigterm_saves_a_checkpoint_and_exits_cleanly(tmp_path):
    run = tmp_path / "run"
    args = [sys.executable, "-m", "gankit", "train", "wgan_gp_digits", "--out", str(run), "--steps", "100000",
            "--no-progress", "--set", "data.size=8", "--set", "model.g_dim=8", "--set", "model.d_dim=8",
            "--set", "train.log_every=1", "--set", "train.checkpoint_every=100000"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not ((run / "metrics.jsonl").exists() and (run / "metrics.jsonl").read_text().count("\n") >= 3):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    report = f"exit {proc.returncode}\nstdout:\n{out[-2000:]}\nstderr:\n{err[-2000:]}"
    assert proc.returncode == 128 + signal.SIGTERM, report
    assert "interrupted by SIGTERM at step" in err and "gankit resume" in err and "Traceback" not in err, report
    states = ckpt.list_states(run)
    assert len(states) == 1 and states[0][0] >= 3, f"{states}\n{report}"
    step = states[0][0]
    done = subprocess.run([sys.executable, "-m", "gankit", "resume", str(run), "--steps", str(step + 2), "--no-progress"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"run at step {step + 2}" in done.stdout, done.stdout + done.stderr


def test_optimizer_state_shaped_unlike_its_parameter_is_refused(tmp_path, tiny_overrides):
    """torch.optim loads moments of any shape; a checkpoint from another layout must stop at load, not mid-update."""
    trainer = _trainer(tmp_path, tiny_overrides + ["train.steps=1"])
    trainer.iteration()
    state = trainer.state_dict()
    moments = state["optimizers"][0]["state"][0] = dict(state["optimizers"][0]["state"][0])  # not the live dict
    moments["exp_avg"] = torch.zeros(*moments["exp_avg"].shape, 2)
    fresh = _trainer(tmp_path, tiny_overrides + ["train.steps=1"], name="fresh")
    with pytest.raises(RunDirError, match=r"does not match this run's configuration \(optimizer state 'exp_avg' has shape"):
        fresh.load_state_dict(state)
    fresh.load_state_dict(trainer.state_dict())  # the same state, shapes intact, loads


@pytest.mark.parametrize("decay,expected", [(0, [1.0] * 4), (2, [1.0, 1.0, 1.0, 0.5]), (10, [1.0, 0.75, 0.5, 0.25])])
def test_lr_decay_covers_the_last_n_iterations_or_a_shorter_run_whole(tmp_path, tiny_overrides, decay, expected):
    """optim.decay_steps N: each lr falls linearly to 0 over the last N of the run's G iterations; a run shorter than N
    decays over its whole length from the full rate (not from a fraction of it)."""
    cfg = load_config("wgan_gp_digits", tiny_overrides + ["train.steps=4", f"optim.decay_steps={decay}"])
    trainer = Trainer(cfg, prepare_run_dir(tmp_path / "run"), progress=False)
    seen = []
    for step in range(4):
        trainer.step = step
        trainer.set_learning_rates()
        seen.append([g["lr"] / spec.lr for spec, opt in zip(trainer.train_steps, trainer.optimizers) for g in opt.param_groups])
    assert all(factors == pytest.approx([e] * len(factors)) for factors, e in zip(seen, expected))
