"""Resuming must give the same weights as never stopping (CPU, bit-identical)."""
import torch

from gankit.apps.train import resume
from gankit.config import load_config
from gankit.runs.directory import prepare_run_dir, read_run_config, write_config
from gankit.train import checkpoint as ckpt
from gankit.train.loop import Trainer


def _assert_same_state(a: Trainer, b: Trainer):
    sa, sb = a.state_dict(), b.state_dict()
    for name in sa["modules"]:
        for key, value in sa["modules"][name].items():
            assert torch.equal(value, sb["modules"][name][key]), f"{name}.{key} differs"
    for oa, ob in zip(sa["optimizers"], sb["optimizers"]):
        for pid, state in oa["state"].items():
            for key, value in state.items():
                assert torch.equal(value, ob["state"][pid][key]), f"optimizer state {pid}.{key} differs"
    assert (sa["ema"] is None) == (sb["ema"] is None)
    if sa["ema"] is not None:
        assert sa["ema"]["updates"] == sb["ema"]["updates"]
        for key, value in sa["ema"]["module"].items():
            assert torch.equal(value, sb["ema"]["module"][key]), f"ema {key} differs"
    assert torch.equal(sa["rng"]["torch"], sb["rng"]["torch"])
    assert sa["sampler"]["epoch"] == sb["sampler"]["epoch"] and sa["sampler"]["position"] == sb["sampler"]["position"]


def test_resume_is_bit_identical(tmp_path, tiny_overrides):
    # EMA, random flips and shifts and several epochs (digits train split: 1,617 images / 16 = 101 batches per epoch)
    # exercise every piece of state that a resume has to restore.
    cfg = load_config("wgan_gp_digits", tiny_overrides + ["train.steps=60", "train.ema_decay=0.9", "data.hflip=true",
                                                          "data.shift=1", "train.checkpoint_every=25"])
    straight_dir = prepare_run_dir(tmp_path / "straight")
    write_config(straight_dir, cfg)
    straight = Trainer(cfg, straight_dir, progress=False)
    straight.run()

    stopped_dir = prepare_run_dir(tmp_path / "stopped")
    write_config(stopped_dir, cfg)
    first = Trainer(cfg, stopped_dir, progress=False)
    first.run(until=37)  # stops between checkpoints: resume goes back to step 37's own checkpoint
    assert [s for s, _ in ckpt.list_states(stopped_dir)] == [25, 37]
    del first
    torch.manual_seed(1234)  # disturb the global RNG: the resume must restore it
    second = Trainer(read_run_config(stopped_dir), stopped_dir, progress=False)
    second.resume()
    assert second.step == 37
    second.run()
    assert second.step == straight.step == 60
    _assert_same_state(straight, second)


def test_resume_through_the_run_api_with_a_new_total(tmp_path, tiny_overrides):
    cfg = load_config("wgan_gp_digits", tiny_overrides + ["train.steps=8"])
    a = prepare_run_dir(tmp_path / "a")
    write_config(a, cfg)
    Trainer(cfg, a, progress=False).run()
    summary = resume(a, steps=14, progress=False)
    assert summary["final_step"] == 14 and read_run_config(a).train.steps == 14

    cfg14 = load_config("wgan_gp_digits", tiny_overrides + ["train.steps=14"])
    b = prepare_run_dir(tmp_path / "b")
    write_config(b, cfg14)
    straight = Trainer(cfg14, b, progress=False)
    straight.run()
    resumed = Trainer(read_run_config(a), a, progress=False)
    resumed.resume()
    _assert_same_state(straight, resumed)
    # metrics.jsonl has each step once, in order, after a resume, and a record of the resume itself.
    import json

    records = [json.loads(line) for line in (a / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records if "event" not in r]
    assert steps == sorted(set(steps)) and steps[-1] == 14
    assert [(r["event"], r["step"], r["from"]) for r in records if "event" in r] == [("resume", 8, "checkpoints/state-0000008.pt")]
