"""Unconditional GAN: any architecture x loss x penalty (WGAN-GP, compare_gan's modular GAN).

D step (n_critic times per iteration, fresh real batch and z each time): real and fake pass through D
together; loss = d_loss(real, fake) + penalty_weight * penalty(D, real, fake). G step: g_loss(D(G(z))), or for
a relativistic loss g_loss(D(G(z)), D(x)) on a fresh real batch.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from gankit.data.base import DataInfo
from gankit.errors import ConfigError
from gankit.families.base import FAMILIES, ExportInterface, Family, TrainStep
from gankit.losses import LOSSES
from gankit.models import ARCHITECTURES, build_network
from gankit.models.latent import sample_latent
from gankit.penalties import PENALTIES


def build_module(cfg, info: DataInfo, role: str) -> nn.Module:
    try:
        return build_network(cfg.model, info, role)
    except ValueError as err:
        raise ConfigError(f"model.arch '{cfg.model.arch}' ({role}): {err}") from None


def check_architecture(cfg, family: str) -> None:
    """Each architecture's D fits one family: one logit (gan), K class logits (improved_gan), src + cls (stargan)."""
    names = [n for n in ARCHITECTURES.names() if ARCHITECTURES.get(n).fits == family]
    if cfg.model.arch in ARCHITECTURES.names() and ARCHITECTURES.get(cfg.model.arch).fits != family:
        raise ConfigError(f"model.arch '{cfg.model.arch}' does not fit family '{cfg.family}'; use one of: {', '.join(names)}")


@FAMILIES.register("gan")
class GAN(Family):
    sections = ("loss",)

    def __init__(self, cfg, info: DataInfo, device: torch.device):
        check_architecture(cfg, "gan")
        self.cfg, self.device = cfg, device
        self.G = build_module(cfg, info, "generator").to(device)
        self.D = build_module(cfg, info, "discriminator").to(device)
        self.modules = {"G": self.G, "D": self.D}
        self.losses = LOSSES.get(cfg.loss.name)
        self.penalty = PENALTIES.get(cfg.loss.penalty)
        self.penalty_weight = cfg.loss.penalty_weight if cfg.loss.penalty != "none" else 0.0
        self.data_range = (-1.0, 1.0) if info.kind == "image" else None  # images are scaled to [-1, 1]
        # G's loss comes from a joint real + fake forward of D when the loss is relativistic, or when D batch-
        # normalizes: D's batch statistics are then those of the mixed batches it is trained on (compare_gan's way),
        # not of fakes alone, which D never sees in its own step.
        self.g_joint = self.losses.g_needs_real or cfg.model.d_norm == "batch"

    @property
    def generator(self) -> nn.Module:
        return self.G

    def latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return sample_latent(n, self.cfg.model.z_dim, self.cfg.model.z_dist, self.device, generator)

    def steps(self) -> list[TrainStep]:
        return [TrainStep("D", self.D, self.d_step, self.cfg.optim.lr_d, repeat=self.cfg.train.n_critic),
                TrainStep("G", self.G, self.g_step, self.cfg.optim.lr_g, uses_data=self.g_joint)]

    def d_step(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        real = batch["x"]
        n = real.shape[0]
        with torch.no_grad():
            fake = self.G(self.latent(n))
        logits = self.D(torch.cat([real, fake]))  # (2N,)
        real_logits, fake_logits = logits[:n], logits[n:]
        loss = self.losses.d_loss(real_logits, fake_logits)
        logs = {"d_real": real_logits.detach().mean(), "d_fake": fake_logits.detach().mean()}
        if self.penalty_weight > 0:
            penalty = self.penalty(self.D, real, fake, data_range=self.data_range)
            loss = loss + self.penalty_weight * penalty
            logs["penalty"] = penalty.detach()
        logs["loss_d"] = loss.detach()  # the full D objective, penalty included (the card's Loss_D)
        return loss, logs

    def g_step(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        fake = self.G(self.latent(self.cfg.train.batch_size))
        if self.g_joint:  # D also scores a fresh real batch (see __init__)
            logits = self.D(torch.cat([batch["x"], fake]))
            n = batch["x"].shape[0]
            real_logits, fake_logits = logits[:n], logits[n:]
            loss = self.losses.g_loss(fake_logits, real_logits) if self.losses.g_needs_real else self.losses.g_loss(fake_logits)
        else:
            loss = self.losses.g_loss(self.D(fake))
        return loss, {"loss_g": loss.detach()}

    @classmethod
    def build_generator(cls, cfg, info: DataInfo) -> nn.Module:
        return build_module(cfg, info, "generator")

    @classmethod
    def generate(cls, G: nn.Module, cfg, n: int, device, generator: torch.Generator | None = None) -> Tensor:
        return G(sample_latent(n, cfg.model.z_dim, cfg.model.z_dist, device, generator))

    @classmethod
    def export_interface(cls, G: nn.Module, cfg, info: DataInfo) -> ExportInterface:
        """What `gankit export` freezes: G(z) with z of the configured distribution."""
        return ExportInterface(G, ("z",), lambda n, g: (sample_latent(n, cfg.model.z_dim, cfg.model.z_dist, "cpu", g),),
                               {"z_dim": cfg.model.z_dim, "z_dist": cfg.model.z_dist})
