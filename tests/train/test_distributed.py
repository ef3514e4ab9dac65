"""Data-parallel training in real processes: torchrun with 2 CPU ranks (gloo)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gankit.config import load_config
from gankit.train.distributed import Distributed

HERE = Path(__file__).parent


def torchrun(*args: str, cwd: Path, nproc: int = 2) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(HERE.parent.parent / "src"))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_shards_cover_the_global_batch_once():
    for world in (1, 2, 3, 5):
        for batch in (world, 9, 16, 64):
            parts = [Distributed(rank, world).shard(batch) for rank in range(world)]
            starts = [s for s, _ in parts]
            sizes = [n for _, n in parts]
            assert sum(sizes) == batch and max(sizes) - min(sizes) <= 1
            assert starts == [sum(sizes[:r]) for r in range(world)]


def test_shutdown_frees_a_ddp_wrapper_held_in_a_cycle_before_leaving_the_group(tmp_path):
    """A trainer's modules live in reference cycles (freed only by the garbage collector): a DDP wrapper kept alive
    past destroy_process_group tore its gloo threads down at interpreter exit instead, and a rank now and then
    aborted ("terminate called without an active exception"). shutdown() collects it while the group is alive."""
    import gc
    import weakref

    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from gankit.train import distributed

    store = dist.FileStore(str(tmp_path / "store"), 1)
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        holder = {"ddp": DistributedDataParallel(torch.nn.Linear(2, 2))}
        holder["self"] = holder  # a cycle, as a Trainer and its family make
        ddp = weakref.ref(holder["ddp"])
        del holder
        gc.disable()
        try:
            assert ddp() is not None  # only the collector frees it
            distributed.shutdown(synchronize=True)
        finally:
            gc.enable()
        assert ddp() is None and not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_two_ranks_take_the_same_step_from_the_weighted_mean_gradient(tmp_path):
    """One iteration with the gradient penalty (a double backward) on 2 ranks sharing a batch of 9 (5 + 4):
    both ranks end with identical parameters, equal to Adam's first step on sum_r (n_r / 9) * local gradient."""
    result = torchrun(str(HERE / "ddp_worker.py"), str(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    assert [r["weight"] for r in ranks] == [5 / 9, 4 / 9]
    cfg = load_config("wgan_gp_toy_8gaussians")
    lr = {"D": cfg.optim.lr_d, "G": cfg.optim.lr_g}
    for name in ("D", "G"):
        for a, b in zip(ranks[0]["before"][name], ranks[1]["before"][name]):
            assert torch.equal(a, b)  # the same start (rank 0's weights broadcast)
        for a, b in zip(ranks[0]["after"][name], ranks[1]["after"][name]):
            assert torch.equal(a, b)  # the same step
        local = [r["grads"][name] for r in ranks]
        assert any(not torch.allclose(g0, g1) for g0, g1 in zip(*local))  # different data and noise per rank
        for i, (p0, p1) in enumerate(zip(ranks[0]["before"][name], ranks[0]["after"][name])):
            g = 5 / 9 * local[0][i] + 4 / 9 * local[1][i]
            expected = p0 - lr[name] * g / (g.abs() + cfg.optim.eps)  # Adam's first step (bias-corrected)
            torch.testing.assert_close(p1, expected, rtol=1e-5, atol=1e-7)


def test_torchrun_train_and_resume_match_an_uninterrupted_run(tmp_path, tiny_overrides):
    """`torchrun -m gankit train` on 2 ranks: rank 0 alone writes the run; 2 steps then `resume` to 4 gives
    exactly the weights of 4 steps in one go."""
    sets = [a for o in tiny_overrides + ["train.device=cpu", "train.checkpoint_every=2", "train.batch_size=15"]
            for a in ("--set", o)]
    whole = torchrun("-m", "gankit", "train", "wgan_gp_digits", "--out", "whole", "--steps", "4", *sets, cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr[-3000:]
    assert whole.stdout.count("done: 4 steps") == 1  # one report, from rank 0
    part = torchrun("-m", "gankit", "train", "wgan_gp_digits", "--out", "part", "--steps", "2", *sets, cwd=tmp_path)
    assert part.returncode == 0, part.stderr[-3000:]
    resumed = torchrun("-m", "gankit", "resume", "part", "--steps", "4", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = load_file(tmp_path / "whole" / "generator.safetensors"), load_file(tmp_path / "part" / "generator.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    log = (tmp_path / "whole" / "log.txt").read_text()
    assert log.count("G iterations 0 -> 4") == 1
    states = torch.load(sorted((tmp_path / "whole" / "checkpoints").glob("state-*.pt"))[-1], weights_only=True)
    assert len(states["rng_ranks"]) == 2


def test_boosting_refuses_torchrun(tmp_path):
    result = torchrun("-m", "gankit", "train", "adagan_gmm10", "--out", "boost", "--steps", "2", cwd=tmp_path)
    assert result.returncode != 0  # torchrun's own code (1) when a rank exits with 2
    assert result.stderr.count("gankit: error: family 'adagan' trains around the loop") == 2  # one line per rank
    assert not (tmp_path / "boost").exists()


@pytest.mark.parametrize("world", [3])
def test_three_ranks_keep_identical_weights(tmp_path, world):
    """An odd rank count with a batch it does not divide (16 = 6 + 5 + 5) still trains in lockstep."""
    result = torchrun(str(HERE / "ddp_worker.py"), str(tmp_path), "16", cwd=tmp_path, nproc=world)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(world)]
    for name in ("D", "G"):
        for params in zip(*(r["after"][name] for r in ranks)):
            assert all(torch.equal(params[0], p) for p in params[1:])
