"""One rank of the data-parallel update test (launched by tests/train/test_distributed.py through torchrun).

Trains one iteration (one D step with the gradient penalty, one G step) of a toy WGAN-GP and saves, for this rank:
the parameters before and after, each step's local gradients (before the all-reduce) and this rank's batch weight.
"""
import sys
from pathlib import Path

import torch

from gankit.config import load_config
from gankit.train import distributed
from gankit.train.loop import Trainer

out = Path(sys.argv[1])
batch = sys.argv[2] if len(sys.argv) > 2 else "9"
torch.set_num_threads(1)
cfg = load_config("wgan_gp_toy_8gaussians", ["train.n_critic=1", f"train.batch_size={batch}", "model.g_dim=16",
                                            "model.d_dim=16", "data.num_train=500", "train.device=cpu"])
trainer = Trainer(cfg, out / "run")
modules = trainer.family.modules
before = {name: [p.detach().clone() for p in m.parameters()] for name, m in modules.items()}
local_grads = []
average = trainer.dist.average_gradients


def recording(params, weight):
    local_grads.append([p.grad.clone() for p in params])
    average(params, weight)


trainer.dist.average_gradients = recording
trainer.iteration()
after = {name: [p.detach().clone() for p in m.parameters()] for name, m in modules.items()}
torch.save({"rank": trainer.dist.rank, "world": trainer.dist.world, "weight": trainer._weight, "before": before,
            "after": after, "grads": {"D": local_grads[0], "G": local_grads[1]}},
           out / f"rank{trainer.dist.rank}.pt")
# leave the process group as `gankit train` does: exiting with gloo's threads still up aborted a rank now and then
# ("terminate called without an active exception", 2026-12-01)
trainer.dist.barrier()
distributed.shutdown()
