"""The CUDA paths (issue 24): every image family trains on a GPU in fp32 and bf16, with channels_last, resumes and is
scored there; `train.precision: auto` picks bf16 on a GPU with bfloat16 units; torchrun runs on the GPU (NCCL).

Skipped without a CUDA device (CI has none); `benchmarks/cuda_check.sh` runs this module on a lent GPU.
GANKIT_TEST_DEVICE=cpu runs the device-independent tests here on the CPU instead (to check the tests themselves).
"""
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gankit.apps.evaluate import evaluate_run
from gankit.apps.train import resume, train
from gankit.config import load_config
from gankit.runs.snapshots import load_generator
from gankit.train.precision import resolve_precision

DEVICE = os.environ.get("GANKIT_TEST_DEVICE", "cuda")
ON_CUDA = DEVICE.startswith("cuda")
pytestmark = pytest.mark.skipif(ON_CUDA and not torch.cuda.is_available(), reason="needs a CUDA device")
cuda_only = pytest.mark.skipif(not ON_CUDA, reason="checks CUDA itself")

GAN_TINY = ["data.size=16", "model.g_dim=8", "model.d_dim=8", "model.z_dim=8", "train.batch_size=16", "train.n_critic=2",
            "train.log_every=1", "train.sample_every=4", "train.checkpoint_every=3", "train.grid_size=16", "optim.decay_steps=0"]
# (preset, overrides): one run of each family that trains through the loop, at test size
RUNS = {
    "wgan_gp_digits": GAN_TINY,
    "compare_gan_sndcgan": GAN_TINY + ["model.arch=sndcgan", "model.d_norm=spectral", "loss.name=hinge"],
    "compare_gan_resnet": GAN_TINY + ["model.arch=resnet_cifar", "model.d_norm=spectral"],
    "stargan_attrdigits": ["model.g_dim=8", "model.d_dim=8", "model.g_layers=1", "data.size=16", "data.variants=1",
                           "train.batch_size=8", "train.n_critic=2", "train.log_every=1", "train.sample_every=4",
                           "train.checkpoint_every=3", "stargan.grid_rows=3", "optim.decay_steps=0"],
    "improved_gan_digits": ["model.z_dim=8", "model.g_dim=16", "model.d_dim=8", "train.batch_size=20", "train.log_every=1",
                            "train.sample_every=4", "train.checkpoint_every=3", "train.grid_size=16", "eval.every=0",
                            "ssl.labels_per_class=3", "train.epochs=null"],
}


def _preset(name: str) -> str:
    return {"compare_gan_sndcgan": "wgan_gp_digits", "compare_gan_resnet": "wgan_gp_digits"}.get(name, name)


def _losses(run: Path) -> list[float]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [v for row in rows for k, v in row.items() if k.startswith("loss") and isinstance(v, (int, float))]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("name", sorted(RUNS))
def test_every_family_trains_resumes_and_scores_on_cuda(tmp_path, name, precision):
    cfg = load_config(_preset(name), RUNS[name] + [f"train.device={DEVICE}", f"train.precision={precision}",
                                                   "train.channels_last=true", "train.steps=6"])
    run = tmp_path / "run"
    summary = train(cfg, run, progress=False)
    assert summary["final_step"] == 6
    losses = _losses(run)
    assert losses and all(math.isfinite(v) for v in losses), f"{name} {precision}: non-finite loss on CUDA"
    summary = resume(run, steps=9, progress=False)  # the training state (CUDA RNG included) reloads on the GPU
    assert summary["final_step"] == 9 and all(math.isfinite(v) for v in _losses(run))
    G, _, _, _ = load_generator(run, DEVICE)
    assert next(G.parameters()).device.type == torch.device(DEVICE).type
    result = evaluate_run(run, device=DEVICE, log=lambda *_: None, num_samples=64)
    scores = [v["mean"] for entry in result["results"].values() for v in entry["scores"].values()]
    assert scores and all(math.isfinite(v) for v in scores if isinstance(v, (int, float))), result["results"]


@cuda_only
def test_precision_auto_is_bf16_on_a_gpu_with_bf16_units():
    expected = "bf16" if torch.cuda.is_bf16_supported(including_emulation=False) else "fp32"
    assert resolve_precision("auto", torch.device("cuda")) == expected


@cuda_only
def test_cuda_and_cpu_generators_agree_in_fp32(tmp_path):
    cfg = load_config("wgan_gp_digits", GAN_TINY + ["train.device=cuda", "train.precision=fp32", "train.tf32=false",
                                                    "train.steps=3"])
    train(cfg, tmp_path / "run", progress=False)
    G_gpu, *_ = load_generator(tmp_path / "run", "cuda")
    G_cpu, *_ = load_generator(tmp_path / "run", "cpu")
    z = torch.randn(8, cfg.model.z_dim)
    with torch.no_grad():
        torch.testing.assert_close(G_gpu(z.cuda()).cpu(), G_cpu(z), atol=1e-4, rtol=1e-4)


@cuda_only
@pytest.mark.skipif(shutil.which("torchrun") is None and not (Path(sys.executable).parent / "torchrun").exists(),
                    reason="torchrun not installed")
def test_torchrun_trains_on_the_gpu(tmp_path):
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    args = [torchrun, "--standalone", f"--nproc_per_node={min(torch.cuda.device_count(), 2)}", "-m", "gankit", "train",
            "wgan_gp_digits", "--out", str(tmp_path / "ddp"), "--set", "train.device=cuda", "--set", "train.steps=4"]
    for item in GAN_TINY:
        args += ["--set", item]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "ddp" / "generator.safetensors").exists()
