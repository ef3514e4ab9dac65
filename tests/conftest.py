import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
torch.set_num_threads(2)


@pytest.fixture
def tiny_overrides():
    """A DCGAN on 8x8 digits small enough that a step takes milliseconds."""
    return ["data.size=8", "model.g_dim=8", "model.d_dim=8", "model.z_dim=8", "train.batch_size=16",
            "train.n_critic=2", "train.log_every=2", "train.sample_every=4", "train.checkpoint_every=3",
            "train.grid_size=16", "optim.decay_steps=0"]  # constant lr: resume tests change the run's total


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Feature caches go to a per-session temporary folder, never the user's ~/.cache."""
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path_factory.getbasetemp() / "gankit-cache"))


@pytest.fixture(autouse=True)
def cpu_without_bf16_units(monkeypatch):
    """`train.precision: auto` (the demo presets) resolves to fp32 in-process, on every CI machine alike: whether the
    CPU has bf16 units would otherwise change the arithmetic of tests that compare numbers. Tests of auto itself
    patch these back. Processes the tests start inherit the same through GANKIT_CPU_BF16=0."""
    monkeypatch.setenv("GANKIT_CPU_BF16", "0")
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
