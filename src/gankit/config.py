"""Typed, frozen configuration: one model per concept, YAML presets as deltas, dotted overrides.

A run's configuration is `Config`: data, model, loss, optim, train and eval sections. Presets are YAML
files in `gankit/presets/` that set only what differs from the defaults below (a preset may name a
`base:` preset to start from). `--set train.steps=500` overrides are parsed as YAML values and
type-checked; an unknown key is an error that lists the valid keys at that level.
"""
from __future__ import annotations

import math
import os
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gankit.errors import ConfigError
from gankit.yaml_files import _expanded_size, load_yaml, read_config_file  # noqa: F401  (re-exported)

SEED_MAX = 2**32 - 1  # numpy's seeds are 32-bit; torch's would take 64
STEPS_MAX = 10**12  # G iterations: past any training run; counts beyond it lose precision as floats (epochs, logs)
EVAL_SEED_MAX = SEED_MAX // 1000 - 1000  # evaluation run k draws with seed * 1000 + k
NUM_SAMPLES_MAX = 10_000_000  # generated samples one evaluation or `gankit sample` asks for


def _expand_user(value: str | None) -> str | None:
    """`~` and `~user` in a path option, as a shell would have expanded them."""
    return os.path.expanduser(value) if isinstance(value, str) else value


class Section(BaseModel):
    # allow_inf_nan=False: a learning rate, beta or weight of inf/nan is refused when the config is parsed
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False)


class DataConfig(Section):
    name: str = Field("digits", description="dataset: digits, attr_digits, toy2d, mnist, cifar10, celeba, image_folder")
    root: str | None = Field(None, description="folder or file with the data; None = the dataset's default")
    size: int = Field(32, ge=4, le=4096, description="image side after crop and resize")
    channels: int | None = Field(None, description="1 or 3; None = the dataset's own")
    crop: int | None = Field(None, ge=1, description="center-crop side before resizing (CelebA card: 178)")
    hflip: bool = Field(False, description="random horizontal flip of training batches")
    shift: int = Field(0, ge=0, le=64, description="random translation of training batches by up to N pixels each way, "
                       "padded with black (semi-supervised classifiers; a generator learns the shifted images)")
    attributes: list[str] = Field(default_factory=list, description="attribute labels to select (CelebA)")
    test_fraction: float = Field(0.1, gt=0, lt=1, description="share held out as test split where a dataset has none")
    test_count: int | None = Field(None, ge=1, description="held-out test images (overrides test_fraction)")
    seed: int = Field(0, ge=0, le=SEED_MAX, description="seed of the data's own random choices: held-out test items, toy points, GMM means")
    variants: int = Field(4, ge=1, le=1000, description="attr_digits: renderings of each digit under random attributes")
    max_images: int | None = Field(None, ge=1, description="use only the first N images of a split (quick runs)")
    in_memory: bool | None = Field(None, description="hold decoded images in memory; None = when small enough")
    distribution: Literal["8gaussians", "25gaussians", "swissroll", "gmm"] = Field("25gaussians", description="toy2d distribution")
    modes: int = Field(10, ge=1, le=10_000, description="toy2d gmm: number of mixture components")
    num_train: int = Field(100_000, ge=1, le=100_000_000, description="toy2d: training points")
    num_test: int = Field(10_000, ge=1, le=100_000_000, description="toy2d: test points")

    _expand_root = field_validator("root")(classmethod(lambda cls, v: _expand_user(v)))

    @model_validator(mode="after")
    def _check_channels(self) -> DataConfig:
        if self.channels not in (None, 1, 3):
            raise ValueError(f"data.channels must be 1, 3 or null, got {self.channels}")
        if 2 * self.shift >= self.size:
            raise ValueError(f"data.shift {self.shift} must be under half of data.size {self.size}")
        return self


class ModelConfig(Section):
    arch: str = Field("dcgan", description="generator/discriminator pair: dcgan, resnet_cifar, sndcgan, toy_mlp")
    z_dim: int = Field(128, ge=1, le=65_536, description="latent dimension")
    z_dist: Literal["normal", "uniform", "uniform01"] = Field("normal", description="z ~ N(0, I), U[-1, 1] or U[0, 1)")
    g_dim: int = Field(64, ge=1, le=16_384, description="generator width (DIM)")
    d_dim: int = Field(64, ge=1, le=16_384, description="discriminator width (DIM)")
    g_layers: int | None = Field(None, ge=1, le=64, description="generator depth; None = the architecture's own")
    d_layers: int | None = Field(None, ge=1, le=64, description="discriminator depth; None = the architecture's own")
    activation: Literal["relu", "tanh"] = Field("relu", description="hidden activation of toy_mlp (AdaGAN: tanh)")
    init_std: float | None = Field(None, gt=0, description="conv/linear weights ~ N(0, init_std^2), biases 0 "
                                                         "(compare_gan 0.02, AdaGAN 0.8); None = PyTorch's")
    g_norm: str = Field("batch", description="generator normalization: batch, none, layer, instance, spectral, weight, virtual_batch")
    g_transforms: Literal["none", "quarter_turns", "dihedral"] = Field(
        "none", description="stargan: G first takes a learned per-image soft choice among its input turned by quarter "
                            "turns (and mirrored: dihedral); for attributes that are geometric, such as AttrDigits' rotation")
    g_gate_attributes: list[str] = Field(
        default_factory=list, description="stargan with g_transforms: attributes whose target labels only the transform "
                                          "gate reads (G's convolutional body does not), so only an isometry can change them")
    g_upsample: Literal["unpool", "nearest"] = Field(
        "unpool", description="resnet_cifar G's 2x upsampling: unpool (compare_gan's: each pixel at (2i, 2j), zeros "
                              "elsewhere) or nearest (each pixel copied to its 2x2 block, the SN-GAN paper's)")
    patch_convs: bool = Field(True, description="dcgan: the 4x4 layers on the CPU as one matrix product over patches "
                                                "(the same function, other rounding; faster); false: oneDNN's convolutions")
    d_norm: str = Field("none", description="discriminator normalization: none, batch, layer, instance, spectral, weight")
    bn_decay: float = Field(0.9, gt=0, lt=1, description="batch norm moving-average decay (PyTorch momentum = 1 - decay)")
    bn_eps: float = Field(1e-5, gt=0, description="batch norm epsilon")
    vbn_reference_size: int = Field(64, ge=1, le=65_536, description="reference batch of g_norm virtual_batch")
    d_input_noise: float = Field(0.0, ge=0, description="std of Gaussian noise on D's input while training (Improved-GAN: 0.3)")
    d_hidden_noise: float = Field(0.0, ge=0, description="std of Gaussian noise on D's hidden layers (Improved-GAN: 0.5)")
    d_input_dropout: float = Field(0.0, ge=0, lt=1, description="dropout on the input of a semi-supervised classifier "
                                                              "(ssl_*) while training (paper CIFAR: 0.2)")
    d_dropout: float = Field(0.0, ge=0, lt=1, description="dropout after each hidden block of ssl_mlp / ssl_conv, each "
                                                        "stride-2 group of ssl_cnn (paper CIFAR: 0.5)")
    minibatch_kernels: int = Field(0, ge=0, le=4096, description="minibatch discrimination kernels before D's output; 0 = off")
    minibatch_dims: int = Field(5, ge=1, le=1024, description="dimensions of each minibatch discrimination kernel")


class LossConfig(Section):
    name: str = Field("wasserstein", description="adversarial loss (gankit.losses registry)")
    penalty: str = Field("none", description="discriminator penalty (gankit.penalties registry)")
    penalty_weight: float = Field(10.0, ge=0, description="lambda multiplying the penalty")


class OptimConfig(Section):
    name: Literal["adam"] = "adam"
    lr_g: float = Field(1e-4, gt=0)
    lr_d: float = Field(1e-4, gt=0)
    beta1: float = Field(0.5, ge=0, lt=1)
    beta2: float = Field(0.9, ge=0, lt=1)
    eps: float = Field(1e-8, gt=0)
    decay_steps: int = Field(0, ge=0, le=STEPS_MAX, description="decay both learning rates linearly to 0 over the last N G iterations "
                                                  "(the whole run if shorter; StarGAN paper: 100,000); 0 = constant")


class TrainConfig(Section):
    batch_size: int = Field(64, ge=1, le=65_536)
    steps: int | None = Field(10_000, ge=1, le=STEPS_MAX, description="generator iterations in total")
    epochs: float | None = Field(None, gt=0, le=STEPS_MAX, description="alternative to steps: passes over the data by D steps")
    n_critic: int = Field(5, ge=1, le=1000, description="discriminator steps per generator step")
    ema_decay: float = Field(0.0, ge=0, lt=1, description="EMA of G's weights; 0 = off. Update t uses min(ema_decay, "
                             "(1 + t) / (10 + t)): 0.999 holds from update ~9,000, 0.9999 from ~90,000")
    seed: int = Field(0, ge=0, le=SEED_MAX - 10_000_000, description="seed of everything the run draws (each DDP rank "
                                                                     "and AdaGAN component offsets it)")
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$")
    threads: int | None = Field(None, ge=1, le=4096, description="CPU threads; None = torch's default")
    compile: bool = Field(False, description="trace each iteration (losses, gradients, Adam) with torch.compile")
    precision: Literal["fp32", "bf16", "auto"] = Field(
        "auto", description="bf16: the losses' forward passes under bfloat16 autocast (weights, gradients and Adam stay "
                            "fp32); auto: bf16 where the device has bfloat16 units (CPU: AVX512-BF16 or AMX; CUDA: "
                            "compute capability 8.0+), else fp32")
    channels_last: bool = Field(False, description="NHWC memory layout for the networks and image batches")
    tf32: bool = Field(True, description="CUDA: TensorFloat-32 matmuls and convolutions (no effect on CPU)")
    log_every: int = Field(50, ge=1, description="G iterations between log lines")
    sample_every: int = Field(500, ge=1, description="G iterations between sample grids")
    checkpoint_every: int = Field(1000, ge=1, description="G iterations between checkpoints")
    keep_checkpoints: int = Field(3, ge=1, description="training states kept")
    grid_size: int = Field(64, ge=1, le=4096, description="images in the fixed-noise sample grid")
    report: bool = Field(True, description="write report.html (curves, grids, eval table) when training ends")

    @model_validator(mode="after")
    def _check_length(self) -> TrainConfig:
        if (self.steps is None) == (self.epochs is None):
            raise ValueError("set exactly one of train.steps and train.epochs")
        return self


class EvalConfig(Section):
    metrics: list[str] = Field(default_factory=list, description="metrics of `gankit eval`; empty = chosen by the data")
    num_samples: int = Field(10_000, ge=2, le=NUM_SAMPLES_MAX, description="generated samples per run")
    num_real: int | None = Field(None, ge=2, description="reference items (first N of the split); None = all")
    runs: int = Field(1, ge=1, description="independent fake sets; scores are mean and std over them")
    reference: Literal["train", "test"] = Field("test", description="split the fakes are compared with")
    every: int = Field(0, ge=0, description="evaluate while training every N G iterations; 0 = never")
    schedule: Literal["train", "eval_after_train", "continuous_eval"] = Field(
        "train", description="compare_gan's schedules: train only; train then evaluate every kept checkpoint; "
                             "train while `gankit eval RUN --watch` evaluates checkpoints as they appear")
    extractor: str | None = Field(None, description="domain classifier for fd metrics; None = chosen by the data")
    inception_weights: str | None = Field(None, description="FID Inception weights file (else $GANKIT_INCEPTION_WEIGHTS)")
    batch_size: int = Field(250, ge=1, le=65_536)
    _expand_weights = field_validator("inception_weights")(classmethod(lambda cls, v: _expand_user(v)))
    seed: int = Field(0, ge=0, le=EVAL_SEED_MAX, description="seed of the evaluation's latent noise (run k uses seed*1000 + k)")
    is_splits: int = Field(10, ge=1, le=100_000, description="Inception Score splits (10 as the original code; 1 as compare_gan)")
    kid_subsets: int = Field(100, ge=1, le=100_000)
    kid_subset_size: int = Field(1000, ge=2, le=10_000_000)


class BoostConfig(Section):
    """AdaGAN (family adagan): the other sections configure each component GAN."""

    steps: int = Field(10, ge=1, description="mixture components T (AdaGAN steps)")
    beta: Literal["uniform", "constant"] = Field("uniform", description="mixture weight of component t: 1/(t+1) or constant")
    beta_constant: float = Field(0.5, gt=0, le=1)
    reweight: Literal["theory_star", "theory_dagger", "topk"] = Field("theory_star", description="data reweighting rule")
    topk_fraction: float = Field(0.5, gt=0, le=1)
    component_family: str = Field("gan", description="family of every component")
    classifier_epochs: int = Field(10, ge=1, description="epochs of the real-vs-mixture classifier")
    classifier_lr: float = Field(8e-4, gt=0)
    classifier_batch_size: int = Field(256, ge=1, le=65_536)


class SSLConfig(Section):
    """Semi-supervised GAN (family improved_gan): the labelled subset and the paper's techniques."""

    labels_per_class: int | Literal["all"] = Field(10, description="labelled training items per class, chosen by a "
                                                   "seeded permutation of the train split; 'all' = fully supervised")
    label_seed: int = Field(0, ge=0, le=SEED_MAX, description="seed of the permutation that picks the labelled items")
    labelled_batch_size: int | None = Field(None, ge=1, le=65_536, description="labelled items per D step; None = train.batch_size")
    supervised_only: bool = Field(False, description="baseline: train the same classifier on the labelled items alone")
    feature_matching: bool = Field(True, description="G matches D's mean features (else G maximizes log D(G(z)))")
    feature_layer: int = Field(-1, description="index of D's hidden layer for feature matching; -1 = the last")
    unlabelled_weight: float = Field(1.0, ge=0, description="weight of the unlabelled (real/fake) loss in D's loss")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="one-sided label smoothing: real target 1 - s")
    historical_averaging: float = Field(0.0, ge=0, description="weight of ||theta - mean of past theta||^2, both players")
    entropy_weight: float = Field(0.0, ge=0, description="weight of the conditional entropy of D's K-class prediction on "
                                  "the unlabelled batch, minimized by D (Grandvalet & Bengio 2005; Dai et al. 2017, Bad GAN); 0 = off")
    vat_weight: float = Field(0.0, ge=0, description="weight of virtual adversarial training on the unlabelled batch "
                              "(Miyato et al. 2018; not in Improved-GAN): D's posterior kept at x + r, |r| = vat_eps; 0 = off")
    vat_eps: float = Field(4.0, gt=0, le=1000, description="L2 length of VAT's perturbation in D's input space (images in "
                           "[-1, 1]: 4.0 = 2.0 on [0, 1] pixels, VAT's MNIST setting)")
    classifier_ema: float = Field(0.999, ge=0, lt=1, description="EMA decay of D's weights for test accuracy; 0 = off")
    fixed_hidden_scales: bool = Field(False, description="the paper code's weight norm: D's hidden layers keep the "
                                      "scale g they start with (1, or data_init's); only the output layer's trains")
    data_init: int = Field(0, ge=0, le=10_000, description="before training, a data-dependent init of D's and G's "
                           "weight-normed layers on this many unlabelled items and noise vectors (the paper code: 500; >= 2); 0 = off")

    @field_validator("data_init")
    @classmethod
    def _two_or_more(cls, v: int) -> int:
        if v == 1:  # one item has no spread: the init would divide by ~0
            raise ValueError("a data-dependent init needs at least 2 items (0 = off)")
        return v

    @model_validator(mode="after")
    def _check_count(self) -> SSLConfig:
        if isinstance(self.labels_per_class, int) and self.labels_per_class < 1:
            raise ValueError(f"ssl.labels_per_class must be >= 1 or 'all', got {self.labels_per_class}")
        return self


class StarGANConfig(Section):
    """Multi-domain translation (family stargan): the weights of the classification and reconstruction losses."""

    lambda_cls: float = Field(1.0, ge=0, description="attribute classification loss weight")
    lambda_rec: float = Field(10.0, ge=0, description="cycle reconstruction L1 weight")
    lambda_id: float = Field(0.0, ge=0, description="identity L1 |G(x, c_org) - x| weight (not in the card: 0 = the card)")
    lambda_gate: float = Field(1.0, ge=0, description="with model.g_transforms: weight of the gate's cross-entropy towards the "
                                                       "turn under which D sees the target (see StarGAN.gate_loss)")
    grid_rows: int = Field(8, ge=1, description="training images per sample grid (each row: input + every target domain)")


class Config(Section):
    name: str = "custom"
    description: str = ""
    family: str = Field("gan", description="what is trained: gan, adagan, improved_gan, stargan")
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    boost: BoostConfig = Field(default_factory=BoostConfig)
    ssl: SSLConfig = Field(default_factory=SSLConfig)
    stargan: StarGANConfig = Field(default_factory=StarGANConfig)

    def total_steps(self, num_train: int) -> int:
        """Generator iterations to run: `train.steps`, or `train.epochs` converted (D steps use data)."""
        if self.train.steps is not None:
            return self.train.steps
        batches_per_epoch = max(num_train // self.train.batch_size, 1)
        return max(math.ceil(self.train.epochs * batches_per_epoch / self.train.n_critic), 1)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, width=1000)


# --- presets and files --------------------------------------------------------------------------

def preset_names() -> list[str]:
    folder = resources.files("gankit") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def preset_descriptions() -> dict[str, str]:
    return {name: str(_read_source(name)[0].get("description", "")) for name in preset_names()}


def _read_source(preset_or_path: str, relative_to: Path | None = None) -> tuple[dict[str, Any], str, Path | None]:
    """(data, origin, the file's folder or None for a shipped preset). A path in a YAML file's `base:` is found
    relative to that file's folder."""
    path = Path(preset_or_path).expanduser()
    if relative_to is not None and not path.is_absolute():
        beside = relative_to / path
        if beside.is_file() or not path.is_file():  # beside the file that names it; the working folder as a fallback
            path = beside
    if preset_or_path.endswith((".yaml", ".yml")) or path.is_file():
        if not path.is_file():
            raise ConfigError(f"{path}: no such config file")
        return load_yaml(read_config_file(path), str(path)), str(path), path.parent
    if preset_or_path not in preset_names():
        raise ConfigError(f"unknown preset '{preset_or_path}'; valid: {', '.join(preset_names())}")
    text = (resources.files("gankit") / "presets" / f"{preset_or_path}.yaml").read_text()
    return load_yaml(text, f"preset {preset_or_path}"), f"preset {preset_or_path}", None


def _merge(base: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in delta.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _resolve_source(preset_or_path: str, seen: tuple[str, ...] = (), relative_to: Path | None = None) -> dict[str, Any]:
    data, origin, folder = _read_source(preset_or_path, relative_to)
    name = data.get("name", Path(preset_or_path).stem)
    base = data.pop("base", None)
    if base is not None:
        if not isinstance(base, str) or base in seen:
            raise ConfigError(f"{origin}: 'base' must name another preset without cycles, got {base!r}")
        data = _merge(_resolve_source(base, seen + (preset_or_path,), folder), data)
    data["name"] = name
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """'train.steps=500' -> (['train', 'steps'], 500); the value is read as YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects key.sub=value, got '{text}'")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except (yaml.YAMLError, RecursionError, ValueError):  # ValueError: an int of over 4,300 digits
        value = raw
    if isinstance(value, (dict, list)):
        _expanded_size(value, f"--set {key.strip()}")
    return key.strip().split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str] | dict[str, Any]) -> dict[str, Any]:
    items = overrides.items() if isinstance(overrides, dict) else (
        (".".join(k), v) for k, v in map(parse_override, overrides))
    out = _merge({}, data)
    for dotted, value in items:
        keys = dotted.split(".")
        node = out
        for depth, key in enumerate(keys[:-1]):
            child = node.get(key)
            if child is None:
                child = node[key] = {}
            elif not isinstance(child, dict):
                raise ConfigError(f"config key '{'.'.join(keys[:depth + 1])}' is a value, not a section")
            else:
                child = node[key] = dict(child)
            node = child
        node[keys[-1]] = value
    return out


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    cls: type[BaseModel] = Config
    for key in loc:
        field = cls.model_fields.get(key)
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            break
        cls = field.annotation
    return list(cls.model_fields)


def validate_config(data: dict[str, Any], origin: str = "config") -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        loc = tuple(str(part) for part in first["loc"])
        dotted = ".".join(loc)
        if first["type"] == "extra_forbidden":
            level = ".".join(loc[:-1]) or "top level"
            valid = ", ".join(_fields_at(loc[:-1]))
            raise ConfigError(f"{origin}: unknown config key '{dotted}'; valid keys at {level}: {valid}") from None
        msg, where = first["msg"].removeprefix("Value error, "), f"config key '{dotted}': " if dotted else ""
        got = f" (got {_shown(first['input'])})" if first["type"] != "value_error" and dotted else ""
        raise ConfigError(f"{origin}: {where}{msg}{got}") from None


def _shown(value) -> str:  # a value as an error quotes it: its repr, shortened (a 5,000-digit int has none)
    try:
        text = repr(value)
    except ValueError:
        return "an integer too long to print"
    return text if len(text) <= 80 else f"{text[:60]}... ({len(text):,} characters)"


def load_config(preset_or_path: str, overrides: list[str] | dict[str, Any] = ()) -> Config:
    """Resolve a preset name or YAML path, apply dotted overrides, validate."""
    data = apply_overrides(_resolve_source(preset_or_path), overrides or [])
    return validate_config(data, origin=preset_or_path)


def config_from_dict(data: dict[str, Any], origin: str = "config") -> Config:
    return validate_config(data, origin)


def replace(cfg: Config, changes: dict[str, Any]) -> Config:
    """A copy of `cfg` with dotted keys changed, validated again."""
    return validate_config(apply_overrides(cfg.to_dict(), changes))
