"""StarGAN (Choi et al. 2018; yunjey/stargan): one generator translates an image to any combination of
attributes; D scores patches real/fake (`src`) and predicts the attributes (`cls`).

D step (n_critic times, a fresh batch each): targets c_trg are the batch's own labels shuffled; loss =
d_loss(src(x), src(G(x, c_trg))) + lambda_cls BCE(cls(x), c_org) + lambda_gp penalty. G step:
g_loss(src(G(x, c_trg))) + lambda_rec mean|x - G(G(x, c_trg), c_org)| + lambda_cls BCE(cls(G(x, c_trg)), c_trg).
BCE is summed over attributes and averaged over the batch. `d_loss`/`g_loss` come from `loss.name` applied
to every patch score (the card: wasserstein + wgangp, lambda 10).
Not in the card: lambda_id |x - G(x, c_org)| (CycleGAN's identity term), and with a transform gate in G
(`model.g_transforms`) lambda_gate times the gate's cross-entropy towards the turn D reads as the target
(`gate_targets`); the identity and cycle terms then treat the gate's choice as a constant.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.data.base import DataInfo
from gankit.errors import ConfigError
from gankit.families.base import FAMILIES, ExportInterface, Family, ReportPart, SampleGrids, ScoredGenerator, TrainStep
from gankit.families.gan import build_module, check_architecture
from gankit.families.stargan import networks
from gankit.families.stargan.translation import score_translations, translation_rows
from gankit.losses import LOSSES
from gankit.models import ARCHITECTURES, Architecture
from gankit.penalties import PENALTIES

ARCHITECTURES.register("stargan")(Architecture(networks.stargan_generator, networks.stargan_discriminator, "image", "stargan"))


def attribute_bce(logits: Tensor, target: Tensor) -> Tensor:
    """Binary cross-entropy summed over attributes, averaged over the batch (the reference's classification loss)."""
    return F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / len(logits)


class SourceHead(nn.Module):
    """D's patch scores alone, for penalties written against D(x) -> logits."""

    def __init__(self, D: nn.Module):
        super().__init__()
        self.D = D

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        return self.D(x)[0]


@FAMILIES.register("stargan")
class StarGAN(Family):
    sections = ("loss", "stargan")
    supports_compile = False
    report_samples = SampleGrids("Translation grids over training",
                                 "each row: a training image, then its translation to every target domain", 540)

    @classmethod
    def report_parts(cls, run_dir, series, evals) -> list[ReportPart]:
        """The grids `gankit translate` wrote into the run (it enlarges and labels its own: shown at their size)."""
        grids = sorted(run_dir.glob("translat*.png"))
        return [ReportPart("Translations", "written by gankit translate", images=tuple((p, p.name) for p in grids))] \
            if grids else []
    # real and fake through D as one batch (D has no batch statistics, so the numbers are the same): this matters
    # where D's last layers are large and see few rows (the card's D at 64 px: a 134 MB 1x1-output layer);
    # False = two passes, kept for benchmarks/optimizations.py
    joint_d_batch = True

    @classmethod
    def config_problem(cls, cfg) -> str | None:
        if LOSSES.get(cfg.loss.name).g_needs_real:
            return (f"config key 'loss.name': '{cfg.loss.name}' compares fakes with a real batch; StarGAN supports "
                    "the non-relativistic losses")
        return None

    def __init__(self, cfg, info: DataInfo, device: torch.device):
        check_architecture(cfg, "stargan")
        if problem := self.config_problem(cfg):
            raise ConfigError(problem)
        self.cfg, self.info, self.device = cfg, info, device
        self.G = build_module(cfg, info, "generator").to(device)
        self.D = build_module(cfg, info, "discriminator").to(device)
        self.modules = {"G": self.G, "D": self.D}
        self.losses = LOSSES.get(cfg.loss.name)
        self.penalty = PENALTIES.get(cfg.loss.penalty)
        self.penalty_weight = cfg.loss.penalty_weight if cfg.loss.penalty != "none" else 0.0
        self.source = SourceHead(self.D)

    @property
    def generator(self) -> nn.Module:
        return self.G

    def latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """The fixed inputs of the sample grids: not latents but row indices of the training images."""
        return torch.arange(n)

    def steps(self) -> list[TrainStep]:
        return [TrainStep("D", self.D, self.d_step, self.cfg.optim.lr_d, repeat=self.cfg.train.n_critic),
                TrainStep("G", self.G, self.g_step, self.cfg.optim.lr_g)]

    @staticmethod
    def shuffled_targets(c_org: Tensor) -> Tensor:
        """The batch's own labels in a random order: valid attribute combinations (exclusive groups hold)."""
        return c_org[torch.randperm(len(c_org), device=c_org.device)]

    def d_step(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        x, c_org = batch["x"], batch["y"]
        c_trg = self.shuffled_targets(c_org)
        with torch.no_grad():
            fake = self.G(x, c_trg)
        if self.joint_d_batch:  # one weight-gradient product per layer instead of two and a sum
            src, cls = self.D(torch.cat([x, fake]))
            (src_real, src_fake), cls_real = src.chunk(2), cls[: len(x)]
        else:
            (src_real, cls_real), (src_fake, _) = self.D(x), self.D(fake)
        loss_adv = self.losses.d_loss(src_real.flatten(), src_fake.flatten())
        loss_cls = attribute_bce(cls_real, c_org)
        loss = loss_adv + self.cfg.stargan.lambda_cls * loss_cls
        logs = {"d_adv": loss_adv.detach(), "d_cls": loss_cls.detach()}
        if self.penalty_weight > 0:
            penalty = self.penalty(self.source, x, fake, data_range=(-1.0, 1.0))
            loss = loss + self.penalty_weight * penalty
            logs["penalty"] = penalty.detach()
        logs["loss_d"] = loss.detach()
        return loss, logs

    def g_step(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        x, c_org = batch["x"], batch["y"]
        c_trg = self.shuffled_targets(c_org)
        fake = self.G(x, c_trg)
        src_fake, cls_fake = self.D(fake)
        loss_adv = self.losses.g_loss(src_fake.flatten())
        loss_cls = attribute_bce(cls_fake, c_trg)
        loss_rec = (x - self._reconstruct(fake, c_org)).abs().mean()
        s = self.cfg.stargan
        loss = loss_adv + s.lambda_rec * loss_rec + s.lambda_cls * loss_cls
        logs = {"g_adv": loss_adv.detach(), "g_cls": loss_cls.detach(), "g_rec": loss_rec.detach()}
        gate = getattr(self.G, "gate", None)
        if gate is not None and s.lambda_gate > 0:
            loss_gate = self.gate_loss(x, c_org, c_trg)
            loss = loss + s.lambda_gate * loss_gate
            logs["g_gate"] = loss_gate.detach()
        if s.lambda_id > 0:  # not in the card: G(x, c_org) = x, CycleGAN's identity loss
            loss_id = (x - self._reconstruct(x, c_org)).abs().mean()
            loss = loss + s.lambda_id * loss_id
            logs["g_id"] = loss_id.detach()
        return loss, logs | {"loss_g": loss.detach()}

    def gate_targets(self, x: Tensor, c_org: Tensor, c_trg: Tensor) -> Tensor:
        """(N,) the candidate turn the gate should take for each real x of the batch.

        Where the gate's attributes (`model.g_gate_attributes`) stay as they are: keep (index 0), the identity
        principle. Where they change from a to b: one turn for every image of the batch making that change, and its
        inverse for every image making the change back (a turn that holds for one image holds for all, and undoing
        it is its inverse). The turn is the one with the lowest summed score over those images, a score being the
        BCE of D's attribute logits on the gate's attributes against the target minus D's mean patch score, both
        read on the turned real image: D's classifier tells turned from kept, and its critic tells the turn that
        gives real-looking images from the others (90° counter-clockwise from 90° clockwise)."""
        gate, attributes = self.G.gate, list(self.G.gate_only)
        with torch.no_grad():
            candidates = gate.candidates(x)  # (N, K, C, H, W)
            n, k = candidates.shape[:2]
            src, cls = self.D(candidates.flatten(0, 1))
            logits = cls.view(n, k, -1)[:, :, attributes]
            target = c_trg[:, attributes].to(logits.dtype)[:, None].expand_as(logits)
            score = (F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(2)
                     - src.view(n, k, -1).mean(2))  # (N, K)
            bits = 2 ** torch.arange(len(attributes), device=x.device)
            org = (c_org[:, attributes].round().long() * bits).sum(1)
            trg = (c_trg[:, attributes].round().long() * bits).sum(1)
            inverse = torch.tensor(gate.inverse, device=x.device)
            choice = torch.zeros(n, dtype=torch.long, device=x.device)
            for a, b in {(min(p), max(p)) for p in zip(org.tolist(), trg.tolist()) if p[0] != p[1]}:
                forward, back = (org == a) & (trg == b), (org == b) & (trg == a)
                total = score[forward].sum(0) + score[back][:, inverse].sum(0)  # turn k forward, its inverse back
                best = total.argmin()
                choice[forward], choice[back] = best, inverse[best]
            return choice

    def gate_loss(self, x: Tensor, c_org: Tensor, c_trg: Tensor) -> Tensor:
        """Cross-entropy of the transform gate's logits towards `gate_targets`: D teaches the gate which turn of a
        real image reads as the target. Learned end to end, the gate stays an even mix: the convolutional body
        adapts to whatever mix it gets sooner than a softmax over turns moves (measured: weights 0.26 vs 0.25 after
        400 iterations); taught per image, D's critic is too noisy a judge of 90° against 270° (65 % agreement at
        400 iterations), hence one turn per change of attributes and batch."""
        return F.cross_entropy(self.G.gate.scores(x, c_trg), self.gate_targets(x, c_org, c_trg))

    def _reconstruct(self, x: Tensor, c: Tensor) -> Tensor:
        """G for the cycle and identity terms, which do not train a transform gate (`model.g_transforms`; it learns from
        `gate_loss` and the adversarial and classification terms): through them it learned to keep every input
        unturned (the identity term asks exactly that of half the orientations) before it could tell orientations."""
        if getattr(self.G, "gate", None) is not None:
            return self.G(x, c, train_gate=False)
        return self.G(x, c)

    def sample_grid(self, G: nn.Module, fixed: Tensor, data) -> tuple[Tensor, int]:
        """Translation grid of `stargan.grid_rows` training images spread evenly over the set (a stored set is often
        sorted by class, so its first rows would show one digit or face): a row per image."""
        rows = min(self.cfg.stargan.grid_rows, len(data))
        batch = data.get(torch.linspace(0, len(data) - 1, rows).round().long())
        return translation_rows(G, batch["x"], batch["y"], self.info), 1 + self.info.num_classes

    @classmethod
    def build_generator(cls, cfg, info: DataInfo) -> nn.Module:
        return build_module(cfg, info, "generator")

    @classmethod
    def score_generator(cls, G: nn.Module, cfg, info: DataInfo, device) -> ScoredGenerator:
        """Translations of the test split scored by the AttrDigits scorer (beside the identity and exact-render
        translators), or on other data by the card's FID (`gankit.families.stargan.translation`)."""
        return score_translations(G, cfg, info, device)

    @classmethod
    def export_interface(cls, G: nn.Module, cfg, info: DataInfo) -> ExportInterface:
        """G(image, label): image (N, C, H, W) in [-1, 1], label (N, c_dim) of 0/1 target attributes."""
        def example(n: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
            return torch.rand(n, *info.shape, generator=g) * 2 - 1, torch.randint(0, 2, (n, info.num_classes), generator=g).float()

        return ExportInterface(G, ("image", "label"), example,
                               {"attributes": list(info.label_names),
                                "exclusive_groups": [list(g) for g in info.exclusive]})

    @classmethod
    def generate(cls, G, cfg, n, device, generator=None) -> Tensor:
        raise ConfigError("a StarGAN generator translates images rather than sampling from noise; "
                          "use its translation grids (samples/) instead")
