"""Golden weights: a short CPU run of every family gives bit-identical weights under this tree and under a pinned
earlier commit, run side by side on this machine (kernels differ between CPUs, so the hashes are compared, never
stored). A refactor that must not change numbers keeps this green; a commit that changes numbers on purpose moves
BASELINE to itself and says why.

The baseline's source comes from `git archive BASELINE src` into a temporary folder, put first on PYTHONPATH; the
test skips where the clone has no such commit (a shallow clone).
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parents[1]
BASELINE = "d035c10"  # numbers as of the ResNet transposed up-conv (same function, other rounding); move on purpose only

COMMON = ["train.precision=fp32", "train.threads=1", "train.report=false", "train.compile=false", "train.device=cpu",
          "train.seed=3"]
RUNS = {
    "gan_dcgan": ("wgan_gp_digits", ["data.size=8", "model.g_dim=8", "model.d_dim=8", "model.z_dim=8",
                                     "train.batch_size=16", "train.n_critic=2", "train.steps=6", "train.ema_decay=0.9",
                                     "optim.decay_steps=0"]),
    "gan_resnet": ("compare_gan_resnet_digits", ["model.g_dim=8", "model.d_dim=8", "train.batch_size=8",
                                                 "train.steps=4", "train.n_critic=2"]),
    "gan_sndcgan_spectral": ("compare_gan_resnet_digits", ["model.arch=sndcgan", "model.d_norm=spectral",
                                                           "model.g_dim=8", "model.d_dim=8", "train.batch_size=8",
                                                           "train.steps=4", "train.n_critic=1"]),
    "gan_toy": ("wgan_gp_toy_8gaussians", ["model.g_dim=32", "model.d_dim=32", "train.batch_size=64", "train.steps=6"]),
    "improved_gan": ("improved_gan_digits", ["model.z_dim=8", "model.g_dim=16", "model.d_dim=8", "train.batch_size=20",
                                             "train.steps=6", "eval.metrics=[accuracy]", "eval.every=0",
                                             "ssl.labels_per_class=3"]),
    "stargan": ("stargan_attrdigits", ["model.g_dim=8", "model.d_dim=8", "model.g_layers=1", "data.size=16",
                                       "data.variants=1", "train.batch_size=8", "train.n_critic=2", "train.steps=4",
                                       "optim.decay_steps=2"]),
    "adagan": ("adagan_gmm10", ["boost.steps=2", "train.steps=30", "train.epochs=null", "data.num_train=2000",
                                "boost.classifier_epochs=1", "eval.num_samples=200", "eval.num_real=100"]),
}


@pytest.fixture(scope="module")
def baseline_src(tmp_path_factory):
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", BASELINE, "src"],
                             capture_output=True)
    if archive.returncode != 0:
        pytest.skip(f"no commit {BASELINE} in this clone: {archive.stderr.decode(errors='replace').strip()[:120]}")
    root = tmp_path_factory.mktemp("baseline")
    tar = root / "src.tar"
    tar.write_bytes(archive.stdout)
    with tarfile.open(tar) as fh:
        fh.extractall(root, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    return root / "src"


def weights_hash(run: Path) -> str:
    """sha256 over every tensor of every snapshot the run wrote (names, dtypes, shapes and bytes; no metadata)."""
    digest = hashlib.sha256()
    files = sorted(run.rglob("*.safetensors"))
    assert files, f"{run}: no snapshot written"
    for path in files:
        tensors = load_file(path)
        for name in sorted(tensors):
            t = tensors[name].contiguous()
            digest.update(f"{path.relative_to(run)}:{name}:{t.dtype}:{tuple(t.shape)}".encode())
            digest.update(t.view(-1).view(dtype=torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def train(src: Path, preset: str, overrides: list[str], out: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    sets = [a for o in [*COMMON, *overrides] for a in ("--set", o)]
    done = subprocess.run([sys.executable, "-m", "gankit", "train", preset, "--out", str(out), "--no-progress", *sets],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return weights_hash(out)


@pytest.mark.parametrize("name", sorted(RUNS))
def test_weights_are_bit_identical_to_the_baseline_commit(name, baseline_src, tmp_path):
    preset, overrides = RUNS[name]
    ours = train(REPO / "src", preset, overrides, tmp_path / "ours")
    theirs = train(baseline_src, preset, overrides, tmp_path / "baseline")
    assert ours == theirs, f"{name}: weights differ from {BASELINE}'s after the same short run"
