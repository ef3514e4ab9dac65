"""Every loss x penalty x normalization x architecture trains: one D and one G step each, registry-driven,
so a new entry in any registry is covered without touching this file."""
import math

import pytest
import torch

from gankit.config import load_config
from gankit.data import load_dataset
from gankit.families.gan import GAN
from gankit.families.improved_gan import ImprovedGAN
from gankit.families.stargan import StarGAN
from gankit.losses import LOSSES
from gankit.models import ARCHITECTURES
from gankit.nn.norms import NORMS_2D
from gankit.penalties import PENALTIES

_DATA = {}


def _data(kind: str, size: int = 8):
    if (kind, size) not in _DATA:
        over = {"image": [f"data.size={size}"], "points": ["data.name=toy2d", "data.distribution=8gaussians", "data.num_train=64"],
                "attributes": ["data.name=attr_digits", f"data.size={size}", "data.variants=1"]}[kind]
        _DATA[kind, size] = load_dataset(load_config("wgan_gp_digits", over).data, "train")
    return _DATA[kind, size]


@pytest.mark.parametrize("norm", NORMS_2D.names())
@pytest.mark.parametrize("arch", ARCHITECTURES.names())
def test_every_loss_and_penalty_trains_with(arch, norm):
    kind = ARCHITECTURES.get(arch).data_kind
    fits = ARCHITECTURES.get(arch).fits
    size = max(8, ARCHITECTURES.get(arch).min_size)  # the smallest images each architecture declares it takes
    data = _data("attributes" if fits == "stargan" else kind, size)
    real = data.get(torch.arange(8))
    g_norm = "batch" if norm == "none" else norm  # G: the default batch norm, and every other norm once
    d_norm = "none" if norm == "virtual_batch" else norm  # virtual batch norm needs G's reference batch
    if fits == "stargan" and norm == "virtual_batch":
        pytest.skip("virtual batch norm needs a latent-fed generator (build_network refuses it for stargan)")
    if fits == "stargan" and norm == "batch":
        pytest.skip("StarGAN's D scores real and fake as one batch, so it refuses batch norm (tests/families/stargan/test_stargan.py)")
    classifier = fits == "improved_gan"
    family_cls = {"gan": GAN, "improved_gan": ImprovedGAN, "stargan": StarGAN}[fits]
    losses = [n for n in LOSSES.names() if not (fits == "stargan" and LOSSES.get(n).g_needs_real)]
    for loss in losses if not classifier else ["improved_gan"]:
        for penalty in PENALTIES.names() if not classifier else ["none"]:
            over = [f"model.arch={arch}", f"model.d_norm={d_norm}", f"model.g_norm={g_norm}", "model.z_dim=4",
                    "model.g_dim=8", "model.d_dim=8", f"loss.name={loss}", f"loss.penalty={penalty}",
                    "loss.penalty_weight=1.0", "train.batch_size=8", "train.device=cpu", "model.vbn_reference_size=4"]
            if fits == "stargan":
                over += ["model.g_layers=1", "family=stargan"]
            if classifier:  # the semi-supervised family: its own losses, every technique switched on
                over = [o for o in over if not o.startswith("loss.")] + [
                    "family=improved_gan", "model.minibatch_kernels=3", "model.d_input_noise=0.3", "model.d_hidden_noise=0.5",
                    "ssl.historical_averaging=0.1", "ssl.label_smoothing=0.1", "ssl.labels_per_class=1"]
            if kind == "image":
                over.append(f"data.size={size}")
            cfg = load_config("wgan_gp_digits", over)
            torch.manual_seed(0)
            family = family_cls(cfg, data.info, torch.device("cpu"))
            family.attach_data(data)
            for step in family.steps():
                step.module.zero_grad(set_to_none=True)
                value, logs = step.loss(real if step.uses_data else {})
                value.backward()
                grads = [p.grad for p in step.module.parameters() if p.grad is not None]
                where = f"{arch}/{norm}/{loss}/{penalty} {step.name}"
                assert math.isfinite(value.item()), where
                assert grads and all(torch.isfinite(g).all() for g in grads), where
                assert any(g.abs().sum() > 0 for g in grads), where
                torch.optim.Adam(step.module.parameters(), 1e-3).step()
