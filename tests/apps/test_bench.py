"""`gankit bench`: figures that agree with each other and with torch's own FLOP counter; synthetic stand-ins
for data that is not on disk; the fast paths (channels_last, bf16 autocast) train like the fp32 eager path."""
import json

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from gankit.apps.bench import CountFlops, bench
from gankit.cli import main
from gankit.config import load_config
from gankit.data.synthetic import synthetic_dataset
from gankit.errors import DataError
from gankit.train.loop import Trainer


def test_bench_cli_figures_are_consistent(tmp_path, tiny_overrides):
    out = tmp_path / "bench.json"
    sets = [a for o in tiny_overrides for a in ("--set", o)]
    assert main(["bench", "wgan_gp_digits", "--steps", "2", "--repeats", "3", "--json", str(out), *sets]) == 0
    r = json.loads(out.read_text())
    assert r["data"] == "real" and r["batch_size"] == 16 and r["n_critic"] == 2 and len(r["s_per_iter_runs"]) == 3
    assert sorted(r["s_per_iter_runs"])[1] == pytest.approx(r["s_per_iter"])  # the median
    assert r["images_per_s"] == pytest.approx(2 * 16 / r["s_per_iter"])
    assert r["gflops_per_s"] == pytest.approx(r["flops_per_iter"] / r["s_per_iter"] / 1e9)
    assert r["peak_fraction"] == pytest.approx(r["gflops_per_s"] / r["peak_gflops_per_s"])
    assert set(r["peak_by_library"]) == {"matmul", "conv1x1", "conv1x1_nhwc", "conv3x3_nhwc"}
    assert r["peak_gflops_per_s"] == max(r["peak_by_library"].values()) == r["peaks"][r["precision"]]
    assert r["peaks"]["fp32"] > 0 and r["peaks"]["bf16"] > 0  # both peaks, measured in the same process
    assert r["kernels"]["fp32"] and r["kernels"]["bf16"]  # oneDNN's implementation names (e.g. brg_conv_fwd:avx512_core)
    assert r["flops_per_iter"] > 0 and r["peak_gflops_per_s"] > 0 and r["peak_memory_mib"] > 0
    assert 0 < r["ms_per_d_step"] and 0 < r["ms_per_g_step"]


def _iteration_flops(overrides, counter_cls):
    cfg = load_config("wgan_gp_digits", overrides)
    trainer = Trainer(cfg, "unused", progress=False)
    with counter_cls() as counter:
        trainer.iteration()
    return counter


def test_flops_agree_with_torch_flop_counter(tiny_overrides):
    """Without the penalty (whose autograd.grad FlopCounterMode's module hooks refuse), both count the same."""
    overrides = tiny_overrides + ["loss.penalty=none"]
    ours = _iteration_flops(overrides, CountFlops).total
    theirs = _iteration_flops(overrides, lambda: FlopCounterMode(display=False)).get_total_flops()
    assert ours == theirs > 0


def test_flops_are_linear_in_the_batch(tiny_overrides):
    """Every counted operator (conv, matmul and their backward passes) is linear in the batch, penalty included."""
    small = _iteration_flops(tiny_overrides + ["train.batch_size=8"], CountFlops).total
    large = _iteration_flops(tiny_overrides + ["train.batch_size=24"], CountFlops).total
    assert large == 3 * small


def test_synthetic_stand_ins_have_the_loaders_shapes():
    cifar = synthetic_dataset(load_config("wgan_gp_cifar10").data, 50)
    assert cifar.x.shape == (50, 3, 32, 32) and cifar.x.dtype == torch.uint8 and cifar.info.num_classes == 10
    celeba_cfg = load_config("stargan_celeba").data
    celeba = synthetic_dataset(celeba_cfg, 200)
    assert celeba.x.shape == (200, 3, 128, 128) and celeba.y.shape == (200, 5)
    hair = list(celeba.info.exclusive[0])
    assert [celeba_cfg.attributes[i] for i in hair] == ["Black_Hair", "Blond_Hair", "Brown_Hair"]
    assert torch.all(celeba.y[:, hair].sum(1) == 1)  # exactly one hair colour, as real labels
    with pytest.raises(DataError, match="ships with gankit"):
        synthetic_dataset(load_config("wgan_gp_digits").data, 10)


def test_bench_falls_back_to_synthetic_data_when_none_is_on_disk(tmp_path):
    cfg = load_config("wgan_gp_cifar10", ["model.g_dim=8", "model.d_dim=8", "train.batch_size=8", "train.n_critic=1",
                                          f"data.root={tmp_path / 'absent'}", "train.device=cpu"])
    r = bench(cfg, steps=1, warmup=1, repeats=1)
    assert r["data"].startswith("synthetic (") and r["shape"] == [3, 32, 32]
    with pytest.raises(DataError):
        bench(cfg, steps=1, warmup=1, repeats=1, data="real")


def test_bench_never_evaluates_so_an_eval_after_train_preset_needs_no_inception_weights(tmp_path, monkeypatch):
    """compare_gan's preset scores FID/IS after training; bench times training steps only (it failed here before)."""
    monkeypatch.delenv("GANKIT_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no cached weights either
    cfg = load_config("compare_gan_resnet_cifar10", ["model.g_dim=8", "model.d_dim=8", "train.batch_size=4",
                                                     "train.n_critic=1", f"data.root={tmp_path / 'absent'}"])
    assert cfg.eval.schedule == "eval_after_train" and "fid" in cfg.eval.metrics
    r = bench(cfg, steps=1, warmup=1, repeats=1)
    assert r["s_per_iter"] > 0 and r["shape"] == [3, 32, 32]


def _train(overrides, steps=4):
    cfg = load_config("wgan_gp_digits", overrides + [f"train.steps={steps}"])
    trainer = Trainer(cfg, "unused", progress=False)
    start = torch.cat([p.detach().flatten().clone() for p in trainer.family.G.parameters()])
    logs = []
    for _ in range(steps):
        trainer.iteration()
        logs.append(trainer.losses.take())
    update = torch.cat([p.detach().flatten() for p in trainer.family.G.parameters()]) - start
    return trainer, logs, update


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / a.norm()).item()


def test_channels_last_trains_like_the_default_layout(tiny_overrides):
    """The same arithmetic in another order: G's updates over 4 iterations agree to rounding (Adam's first steps
    amplify it where a gradient is near 0: ~1 % measured)."""
    _, base_logs, base_update = _train(tiny_overrides)
    fast, fast_logs, fast_update = _train(tiny_overrides + ["train.channels_last=true"])
    assert next(fast.family.D.parameters()).is_contiguous(memory_format=torch.channels_last)
    assert _relative(base_update, fast_update) < 0.03  # another seed: 1.3
    assert base_logs[-1]["loss_d"] == pytest.approx(fast_logs[-1]["loss_d"], rel=1e-3, abs=1e-4)


def test_bf16_autocast_keeps_the_penalty_finite_and_close_to_fp32(tiny_overrides):
    _, base_logs, base_update = _train(tiny_overrides)
    fast, fast_logs, fast_update = _train(tiny_overrides + ["train.precision=bf16"])
    assert all(torch.isfinite(torch.tensor(list(log.values()))).all() for log in fast_logs)
    assert all(p.dtype == torch.float32 for p in fast.family.G.parameters())  # weights stay fp32
    for key in ("loss_d", "penalty"):  # bf16 keeps ~3 significant digits: a few steps stay within a few percent
        assert fast_logs[-1][key] == pytest.approx(base_logs[-1][key], rel=0.1, abs=0.05)
    assert _relative(base_update, fast_update) < 0.4  # 0.22 measured; another seed: 1.3


@pytest.mark.parametrize("avx512_bf16, amx, expected, units", [(False, False, "fp32", "no bfloat16"),
                                                                 (True, False, "bf16", "AVX512-BF16"),
                                                                 (False, True, "bf16", "AMX-BF16")])
def test_precision_auto_takes_bf16_only_where_the_cpu_has_bf16_units(monkeypatch, tiny_overrides, capsys,
                                                                     avx512_bf16, amx, expected, units):
    monkeypatch.delenv("GANKIT_CPU_BF16")
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    trainer = Trainer(load_config("wgan_gp_digits", tiny_overrides + ["train.precision=auto", "train.device=cpu"]),
                      "unused", progress=False)
    assert trainer.precision == expected and units in trainer.arithmetic.record()["why"]
    with trainer.autocast():
        out = torch.nn.functional.linear(torch.ones(2, 3), torch.ones(4, 3))
    assert out.dtype == (torch.bfloat16 if expected == "bf16" else torch.float32)


def test_the_environment_can_turn_bf16_off(monkeypatch, tiny_overrides):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    cfg = load_config("wgan_gp_digits", tiny_overrides + ["train.device=cpu"])
    assert cfg.train.precision == "auto"  # the default
    assert Trainer(cfg, "unused", progress=False).arithmetic.record() == {
        "precision": "fp32", "why": "train.precision auto: GANKIT_CPU_BF16=0"}
    monkeypatch.setenv("GANKIT_CPU_BF16", "1")
    assert Trainer(cfg, "unused", progress=False).precision == "bf16"


def test_precision_auto_says_what_it_chose(tmp_path, monkeypatch, tiny_overrides):
    monkeypatch.delenv("GANKIT_CPU_BF16")  # the CPU's own answer (patched: no units), not the tests' switch
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    run = tmp_path / "run"
    assert main(["train", "wgan_gp_digits", "--out", str(run), "--steps", "2", "--set", "train.precision=auto",
                 *[a for o in tiny_overrides for a in ("--set", o)]]) == 0
    log = (run / "log.txt").read_text()
    assert "precision: fp32 (train.precision auto: no bfloat16 units (bf16 would be emulated, slower than fp32))" in log
    assert main(["eval", str(run), "--checkpoint", "all", "--num-samples", "20", "--num-real", "20"]) == 0
    entry = next(iter(json.loads((run / "eval.json").read_text())["results"].values()))
    assert entry["training"] == {"precision": "fp32", "why": "train.precision auto: no bfloat16 units (bf16 would be "
                                                              "emulated, slower than fp32)"}


def test_bench_times_one_adagan_component():
    cfg = load_config("adagan_gmm10", ["train.compile=false", "data.num_train=2000", "train.device=cpu"])
    r = bench(cfg, steps=2, warmup=1, repeats=1)
    assert r["preset"] == "adagan_gmm10" and r["shape"] == [2] and r["family"] == "gan" and r["flops_per_iter"] > 0
