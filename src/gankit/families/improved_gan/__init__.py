"""Semi-supervised GAN (Salimans et al. 2016, "Improved Techniques for Training GANs"; openai/improved-gan).

D is a K-class classifier whose implicit (K+1)-th "fake" logit is 0. Each iteration: one D step on a labelled
batch (cross-entropy over the K classes), an unlabelled batch and a batch of fakes (the real/fake loss of the
paper code), then one G step by feature matching against a fresh unlabelled batch. The labelled items are
`ssl.labels_per_class` per class from a seeded permutation of the train split (`gankit.data.labels`); the
unlabelled batches come from the whole train split with their labels ignored. Test accuracy is measured on
an EMA of D's weights (`ssl.classifier_ema`), saved as `classifier.safetensors` beside the generator.

`ssl.supervised_only` trains the same classifier, for the same number of steps, on the labelled items alone:
the baseline that the GAN's gain is measured against. `ssl.vat_weight` adds virtual adversarial training (Miyato
et al. 2018, not in the paper) on the unlabelled batch; on Fashion-MNIST's MLP it did not help (BENCHMARKS.md).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from gankit.data.base import DataInfo
from gankit.data.labels import class_counts, labelled_subset
from gankit.data.sampler import InfiniteSampler
from gankit.data.transforms import augment
from gankit.errors import ConfigError, DataError, RunDirError
from gankit.families.base import FAMILIES, ReportPart, TrainStep
from gankit.families.gan import GAN, build_module, check_architecture
from gankit.families.improved_gan import networks
from gankit.families.improved_gan.losses import (
    conditional_entropy,
    d_supervised,
    d_unsupervised,
    g_feature_matching,
    g_ssl_non_saturating,
    historical_average,
    virtual_adversarial,
)
from gankit.models import ARCHITECTURES, Architecture
from gankit.nn.ema import EMA
from gankit.nn.norms import data_dependent_init, parametrize_name

ARCHITECTURES.register("ssl_mlp")(Architecture(networks.mlp_generator, networks.mlp_classifier, "image", "improved_gan"))
ARCHITECTURES.register("ssl_conv")(Architecture(networks.conv_generator, networks.conv_classifier, "image", "improved_gan"))
ARCHITECTURES.register("ssl_cnn")(Architecture(networks.conv_generator, networks.cnn_classifier, "image", "improved_gan",
                                               min_size=networks.CNN_MIN_SIZE))

CARD_NAMES = {"loss_sup": "Supervised loss", "loss_d": "D loss", "loss_g": "G loss", "acc_lab": "Accuracy"}


def card_line(step: int, values: dict[str, float], it_per_s: float, batch_size: int) -> str:
    """The card's `[train step N] Supervised loss … D loss … G loss … Accuracy … (sec/batch, instances/sec)`;
    Accuracy is the labelled batch's (test accuracy is logged as eval/accuracy)."""
    parts = [f"{CARD_NAMES[k]} {values[k]:.4f}" for k in CARD_NAMES if k in values]
    parts += [f"{k} {v:.4f}" for k, v in sorted(values.items()) if k not in CARD_NAMES]
    seconds = 1.0 / max(it_per_s, 1e-9)
    return f"[train step {step}] " + " ".join(parts) + f" ({seconds:.3f} sec/batch, {batch_size * it_per_s:.1f} instances/sec)"


@FAMILIES.register("improved_gan")
class ImprovedGAN(GAN):
    sections = ("ssl",)  # its losses are its own (losses.py here): `loss` is not read
    # cross-entropies and softplus terms: ~2.3 at the start, 1,000 only once the logits have blown up (a 100-label
    # baseline with trainable weight-norm scales climbed from 0.02 to 1e16 and went on training, BENCHMARKS.md)
    loss_limits = {"loss_sup": 1000.0, "loss_unl": 1000.0}
    supports_compile = False  # the labelled batch is drawn inside the D step
    extra_metrics = ("accuracy",)

    @classmethod
    def report_parts(cls, run_dir, series, evals) -> list[ReportPart]:
        """The classifier's accuracy: on the training batches (the log) and on the test split (each evaluation)."""
        curves = {**{f"train {k}": v for k, v in series.items() if k.startswith("acc")},
                  **{f"test {k}": v for k, v in evals.items() if k.startswith("acc")}}
        return [ReportPart("Semi-supervised accuracy", curves=curves, curves_title="classifier accuracy")] if curves else []

    def __init__(self, cfg, info: DataInfo, device: torch.device):
        if info.labels != "class":
            raise ConfigError(f"family improved_gan needs class labels; data '{cfg.data.name}' gives {info.labels}")
        check_architecture(cfg, "improved_gan")
        self.cfg, self.info, self.device, self.ssl = cfg, info, device, cfg.ssl
        self.G = build_module(cfg, info, "generator").to(device)
        self.D = build_module(cfg, info, "discriminator").to(device)
        if self.ssl.fixed_hidden_scales:
            self._fix_hidden_scales()
        self.modules = {"G": self.G, "D": self.D}
        self.ema = EMA(self.D, self.ssl.classifier_ema) if self.ssl.classifier_ema > 0 else None
        self.history = self._history_start() if self.ssl.historical_averaging > 0 else None
        self.history_count = 1
        self.data = self.labelled = self.labelled_sampler = None

    # --- hooks ---------------------------------------------------------------------------------------
    def attach_data(self, data) -> list[str]:
        if data.y is None:
            raise DataError(f"data '{self.cfg.data.name}' has no labels for the semi-supervised protocol")
        per_class = None if self.ssl.labels_per_class == "all" else self.ssl.labels_per_class
        self.data = data
        self.labelled = labelled_subset(data.y, per_class, self.ssl.label_seed)
        counts = class_counts(data.y[self.labelled.to(data.y.device)], self.info.num_classes)
        batch = self.ssl.labelled_batch_size or self.cfg.train.batch_size
        # Fewer labelled items than a batch: cycle through them, as the paper code tiles its 100 labels.
        repeats = math.ceil(batch / len(self.labelled))
        self.labelled_sampler = InfiniteSampler(len(self.labelled) * repeats, batch, seed=self.cfg.train.seed + 7919)
        mode = "supervised-only baseline" if self.ssl.supervised_only else "semi-supervised"
        notes = self._data_init(data) if self.ssl.data_init else []
        return notes + [f"{mode}: {len(self.labelled)} labelled of {len(data)} training items (label seed {self.ssl.label_seed}); "
                f"per class: {' '.join(f'{name}={n}' for name, n in zip(self.info.label_names, counts))}"]

    def _fix_hidden_scales(self) -> None:
        """ssl.fixed_hidden_scales: stop the gradient of every weight-normed hidden layer's g (the paper code trains
        only the K-way output layer's scale); the optimizers skip parameters without a gradient."""
        if self.cfg.model.d_norm != "weight":
            raise ConfigError(f"ssl.fixed_hidden_scales needs model.d_norm: weight (got '{self.cfg.model.d_norm}')")
        for module in self.D.blocks.modules():
            if parametrize_name(module) == "weight_norm":
                module.parametrizations.weight.original0.requires_grad_(False)

    def _history_start(self) -> list[list[Tensor]]:
        """The players' weights now: historical averaging's first average (D alone for the supervised baseline)."""
        players = (self.D,) if self.ssl.supervised_only else (self.D, self.G)
        return [[p.detach().clone() for p in m.parameters()] for m in players]

    def _data_init(self, data) -> list[str]:
        """ssl.data_init: Salimans & Kingma's init of the weight-normed layers on unlabelled items (D) and noise (G),
        drawn with their own seed; the global random stream (D's noise layers) is left as it was. Runs on a resume
        too, before the checkpoint's weights replace the result."""
        draw = torch.Generator().manual_seed(self.cfg.train.seed + 104_729)
        index = torch.randperm(len(data), generator=draw)[: self.ssl.data_init]
        devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=devices):  # manual_seed below seeds every device: restore them all
            torch.manual_seed(self.cfg.train.seed + 104_730)
            layers = data_dependent_init(self.D, data.get(index)["x"])
            if not self.ssl.supervised_only:
                layers += data_dependent_init(self.G, self.latent(len(index), generator=draw))
        if self.ema is not None:
            self.ema.module.load_state_dict(self.D.state_dict())
        if self.history is not None:  # historical averaging starts from the initialized weights
            self.history = self._history_start()
        return [f"data-dependent init: {layers} weight-normed layers on {len(index)} unlabelled items and noise vectors"]

    def after_iteration(self) -> None:
        if self.ema is not None:
            self.ema.update(self.D)
        if self.history is not None:
            self.history_count += 1
            players = (self.D,) if self.ssl.supervised_only else (self.D, self.G)
            with torch.no_grad():
                for averages, module in zip(self.history, players):
                    torch._foreach_lerp_(averages, [p.detach() for p in module.parameters()], 1.0 / self.history_count)

    def extra_state(self) -> dict:
        return {"labelled": self.labelled.clone(), "labelled_sampler": self.labelled_sampler.state_dict(),
                "classifier_ema": self.ema.state_dict() if self.ema else None,
                "history": self.history, "history_count": self.history_count}

    def load_extra_state(self, state: dict) -> None:
        if not torch.equal(state["labelled"], self.labelled):
            raise RunDirError("the checkpoint's labelled items differ from this config's (ssl.labels_per_class or "
                              "ssl.label_seed changed)")
        self.labelled_sampler.load_state_dict(state["labelled_sampler"])
        if self.ema is not None:
            self.ema.load_state_dict(state["classifier_ema"])
        if self.history is not None:
            self.history, self.history_count = state["history"], state["history_count"]

    def extra_snapshots(self) -> dict[str, nn.Module]:
        return {"classifier": self.classifier}

    @property
    def classifier(self) -> nn.Module:
        return self.ema.module if self.ema is not None else self.D

    log_line = staticmethod(card_line)

    # --- steps ---------------------------------------------------------------------------------------
    def steps(self) -> list[TrainStep]:
        if self.ssl.supervised_only:
            return [TrainStep("D", self.D, self.d_step_supervised, self.cfg.optim.lr_d, self.cfg.train.n_critic, uses_data=False)]
        return [TrainStep("D", self.D, self.d_step, self.cfg.optim.lr_d, repeat=self.cfg.train.n_critic),
                TrainStep("G", self.G, self.g_step, self.cfg.optim.lr_g, uses_data=self.ssl.feature_matching)]

    def labelled_batch(self) -> tuple[Tensor, Tensor]:
        index = self.labelled[self.labelled_sampler.next() % len(self.labelled)]
        batch = self.data.get(index)  # augmented as the unlabelled batches are (data.hflip, data.shift)
        return augment(batch["x"], self.cfg.data.hflip, self.cfg.data.shift), batch["y"]

    def _history_penalty(self, player: int) -> Tensor | None:
        if self.history is None:
            return None
        module = (self.D, self.G)[player]
        return self.ssl.historical_averaging * historical_average(list(module.parameters()), self.history[player])

    def d_step_supervised(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        x, y = self.labelled_batch()
        logits = self.D(x)  # (N, K)
        loss = d_supervised(logits, y)
        logs = {"loss_sup": loss.detach(), "acc_lab": (logits.detach().argmax(1) == y).float().mean()}
        if (penalty := self._history_penalty(0)) is not None:
            loss = loss + penalty
        logs["loss_d"] = loss.detach()
        return loss, logs

    def d_step(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        x_lab, y = self.labelled_batch()
        x_unl = batch["x"]  # batch["y"] is never read: these items count as unlabelled
        with torch.no_grad():
            fake = self.G(self.latent(len(x_unl)))
        logits = self.D(torch.cat([x_lab, x_unl, fake]))  # (N_lab + 2 N, K): one pass for all three
        l_lab, l_unl, l_fake = logits.split([len(x_lab), len(x_unl), len(fake)])
        loss_sup = d_supervised(l_lab, y)
        loss_unl = d_unsupervised(l_unl, l_fake, self.ssl.label_smoothing)
        loss = loss_sup + self.ssl.unlabelled_weight * loss_unl
        logs = {"loss_sup": loss_sup.detach(), "loss_unl": loss_unl.detach()}
        if self.ssl.entropy_weight > 0:
            entropy = conditional_entropy(l_unl)
            loss = loss + self.ssl.entropy_weight * entropy
            logs["entropy_unl"] = entropy.detach()
        if self.ssl.vat_weight > 0:
            vat = self._vat(x_unl)
            loss = loss + self.ssl.vat_weight * vat
            logs["vat_unl"] = vat.detach()
        if (penalty := self._history_penalty(0)) is not None:
            loss = loss + penalty
        logs |= {"loss_d": loss.detach(), "acc_lab": (l_lab.detach().argmax(1) == y).float().mean()}
        return loss, logs

    def _vat(self, x: Tensor) -> Tensor:
        """ssl.vat_weight: VAT of D on the unlabelled batch in fp32 (the direction is the difference of two nearby
        outputs: bf16 would round it away), every pass with the same draw of D's noise and dropout (as VAT under
        dropout fixes the masks), so the noise neither drowns the direction nor escapes the smoothing."""
        cuda, start = x.device.type == "cuda", []

        def classify(inputs: Tensor) -> Tensor:  # the first pass records the random stream, the others replay it
            if not start:
                start.append(torch.cuda.get_rng_state(x.device) if cuda else torch.get_rng_state())
            else:
                torch.cuda.set_rng_state(start[0], x.device) if cuda else torch.set_rng_state(start[0])
            return self.D(inputs)

        with torch.autocast(x.device.type, enabled=False):
            return virtual_adversarial(classify, x.float(), self.ssl.vat_eps)

    def g_step(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        fake = self.G(self.latent(self.cfg.train.batch_size))
        if self.ssl.feature_matching:
            with torch.no_grad():
                _, real_hidden = self.D(batch["x"], features=True)
            _, fake_hidden = self.D(fake, features=True)
            layer = self.ssl.feature_layer
            if not -len(fake_hidden) <= layer < len(fake_hidden):
                raise ConfigError(f"ssl.feature_layer {layer} is out of range: D has {len(fake_hidden)} hidden layers")
            loss = g_feature_matching(fake_hidden[layer], real_hidden[layer])
        else:
            loss = g_ssl_non_saturating(self.D(fake))
        if (penalty := self._history_penalty(1)) is not None:
            loss = loss + penalty
        return loss, {"loss_g": loss.detach()}

    @classmethod
    def build_classifier(cls, cfg, info: DataInfo) -> nn.Module:
        return build_module(cfg, info, "discriminator")

    @classmethod
    def classifier_weights(cls, state: dict) -> dict[str, Tensor]:
        """The classifier's weights in a training state: the EMA of D if kept, else D."""
        ema = (state.get("family") or {}).get("classifier_ema")
        return ema["module"] if ema else state["modules"]["D"]
