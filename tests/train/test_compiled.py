"""The compiled iteration (train.compile) computes the eager loop's update: same random numbers, the same
losses and weights up to floating-point rounding, and checkpoints interchangeable with eager runs."""
import pytest
import torch

from gankit.config import load_config
from gankit.runs.directory import prepare_run_dir
from gankit.train import checkpoint as ckpt
from gankit.train import compiled
from gankit.train.loop import Trainer


def _max_param_diff(a: Trainer, b: Trainer) -> float:
    worst = 0.0
    for name, module in a.family.modules.items():
        for p, q in zip(module.state_dict().values(), b.family.modules[name].state_dict().values()):
            if p.is_floating_point():
                worst = max(worst, (p - q).abs().max().item())
    return worst


def _moved(a: Trainer, initial: dict) -> float:
    return max((p - initial[k]).abs().max().item() for k, p in a.family.D.state_dict().items() if p.is_floating_point())


@pytest.mark.parametrize("preset,overrides", [
    ("adagan_gmm10", ["family=gan", "train.epochs=null", "train.steps=40", "data.num_train=640"]),
    # batch norm in G, the gradient penalty's double backward inside torch.func.grad, n_critic 2
    ("wgan_gp_digits", ["train.steps=6"]),
])
def test_compiled_matches_eager(tmp_path, tiny_overrides, preset, overrides):
    extra = tiny_overrides + overrides if preset == "wgan_gp_digits" else overrides
    runs = {}
    for mode in ("false", "true"):
        cfg = load_config(preset, extra + [f"train.compile={mode}", "train.log_every=1000", "train.sample_every=1000",
                                           "train.checkpoint_every=1000"])
        trainer = Trainer(cfg, prepare_run_dir(tmp_path / mode), progress=False)
        initial = {k: v.clone() for k, v in trainer.family.D.state_dict().items()}
        trainer.run()
        runs[mode] = trainer
    eager, fast = runs["false"], runs["true"]
    assert _moved(fast, initial) > 1e-3  # it trained
    if preset == "adagan_gmm10":
        assert _max_param_diff(eager, fast) < 1e-4
    # With batch norm, the bias of the layer before it has an exactly-zero gradient, so Adam turns rounding noise
    # into full-size steps on it; it cannot change any output in training mode, so compare what the nets compute.
    z = eager.family.latent(32, torch.Generator().manual_seed(1))
    real = eager.data.get(torch.arange(32))["x"]
    with torch.no_grad():
        assert torch.allclose(eager.family.G(z), fast.family.G(z), atol=1e-4)
        assert torch.allclose(eager.family.D(real), fast.family.D(real), atol=1e-4)
    for s_eager, s_fast in zip(eager.optimizers, fast.optimizers):
        for st_e, st_f in zip(s_eager.state.values(), s_fast.state.values()):
            assert st_e["step"].item() == st_f["step"].item()
            if preset == "adagan_gmm10":
                assert torch.allclose(st_e["exp_avg"], st_f["exp_avg"], atol=1e-5)


def test_compiled_components_share_one_graph_and_checkpoints_resume_eagerly(tmp_path):
    over = ["family=gan", "train.epochs=null", "train.steps=6", "data.num_train=640", "train.compile=true",
            "train.checkpoint_every=3", "train.keep_checkpoints=3", "train.log_every=3", "train.sample_every=1000"]
    first = Trainer(load_config("adagan_gmm10", over), prepare_run_dir(tmp_path / "a"), progress=False)
    other = over + ["train.seed=5", "optim.lr_g=2e-3"]
    second = Trainer(load_config("adagan_gmm10", other), prepare_run_dir(tmp_path / "b"), progress=False)
    assert first._compiled is second._compiled  # a new seed or learning rate does not recompile
    second.run()
    eager = Trainer(load_config("adagan_gmm10", over + ["train.seed=5", "optim.lr_g=2e-3", "train.compile=false"]),
                    prepare_run_dir(tmp_path / "c"), progress=False)
    states = dict(ckpt.list_states(tmp_path / "b"))
    eager.load_state_dict(ckpt.load_state(states[3]))  # the compiled run's step-3 checkpoint, continued eagerly
    eager.run()
    assert eager.step == second.step == 6
    assert _max_param_diff(eager, second) < 1e-4


def test_structure_key_ignores_loop_settings_only():
    a = load_config("adagan_gmm10")
    key = compiled.structure_key
    from gankit.data import load_dataset

    info = load_dataset(load_config("adagan_gmm10", ["data.num_train=640"]).data, "train").info
    base = key(a, info, "cpu")
    assert key(load_config("adagan_gmm10", ["train.seed=3", "train.log_every=7"]), info, "cpu") == base
    assert key(load_config("adagan_gmm10", ["train.batch_size=32"]), info, "cpu") != base
    assert key(load_config("adagan_gmm10", ["loss.name=hinge"]), info, "cpu") != base
