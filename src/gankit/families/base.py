"""The declared contract of a family, in three parts, each with its defaults here:

- **configure** (classmethods): `config_sections(cfg)`, the sections a run reads, and `config_problem(cfg)`, a
  combination of valid settings the family cannot train;
- **generate** (what `gankit sample`, `export` and `eval` need, as classmethods on the family class):
  `build_generator(cfg, info)`, `generate(G, cfg, n, device, generator)`, `export_interface(G, cfg, info)`;
- **score** (what `gankit eval` needs beyond the metrics of the data): `extra_metrics`, a classifier to score
  (`build_classifier`, `classifier_weights`), or a scoring of its own (`score_generator`, StarGAN's translations);
- **report** (what a run's `report.html` shows of this family, as classmethods): `report_parts(run_dir, series,
  evals)` returns sections of its own (`ReportPart`: a title, a note, curves, pictures); `report_samples` titles the
  sample-grid section (StarGAN: translation grids) and `report_training_curves` turns off the loss curves (AdaGAN's
  log is per boosting step, plotted by its own part);
- **train** (what the one loop needs, on an instance built as `Family(cfg, info, device)`): `modules`,
  `generator`, `latent(n)`, `steps()`, `loss_limits` (bounds of a healthy run's logged losses; none by default) and
  the hooks below (no-ops by default). A family trained by a procedure over ordinary runs instead (AdaGAN's
  boosting) names that procedure in `driver` (`gankit.drivers`) and leaves the training part out.

`FAMILIES.register` checks a class against this contract when it is registered (members present, class-level ones
classmethods, config sections that exist), so such a mistake fails at import, not in the middle of a run; what only
an instance can show (its `modules`, its steps) is checked for every family by tests/families/test_contract.py.
Nothing outside this module asks a family which members it has.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from gankit.config import Config
from gankit.errors import ConfigError
from gankit.registry import Registry

Batch = dict[str, Tensor]
StepLoss = Callable[[Batch], tuple[Tensor, dict[str, Tensor]]]


@dataclass
class TrainStep:
    """One optimizer's step: `loss(batch)` -> (scalar, logs) trains `module` with Adam at `lr`,
    `repeat` times per iteration (n_critic for D), drawing a fresh data batch each time if `uses_data`."""

    name: str
    module: nn.Module
    loss: StepLoss
    lr: float
    repeat: int = 1
    uses_data: bool = True


@dataclass(frozen=True)
class ExportInterface:
    """A generator as `gankit export` freezes it: the module, its input names, example inputs
    `example(n, torch.Generator) -> tuple of tensors` (batch n, CPU) and facts for the export's JSON sidecar."""

    module: nn.Module
    inputs: tuple[str, ...]
    example: Callable[[int, torch.Generator], tuple[Tensor, ...]]
    facts: dict = field(default_factory=dict)


Series = dict[str, tuple[list[float], list[float]]]  # name -> (x, y), as the report plots them


@dataclass(frozen=True)
class ReportPart:
    """A section a family adds to a run's report.html: a title, a note under it, curves plotted against `xlabel`
    (one figure) and pictures (file, caption) shown at `image_width` pixels (None: their own size)."""

    title: str
    note: str = ""
    curves: Series = field(default_factory=dict)
    curves_title: str = ""
    xlabel: str = "G iteration"
    images: tuple[tuple[Path, str], ...] = ()
    image_width: int | None = None


@dataclass(frozen=True)
class SampleGrids:
    """How the report titles the run's sample grids (`samples/step-*.png`) and how wide it shows them."""

    title: str = "Samples over training"
    note: str = "fixed noise, same grid at every step"
    width: int = 270


COMMON_SECTIONS = ("data", "model", "optim", "train", "eval")  # the config sections every family reads


class Family:
    """Defaults of every optional member; a family overrides what it has (see the module docstring)."""

    sections: tuple[str, ...] = ()  # the config sections it reads beyond COMMON_SECTIONS (its own: loss, ssl, ...)
    # logged losses that cannot grow past a bound in a healthy run (a cross-entropy of 1,000 nats is a logit gap of
    # 1,000): a mean past its bound stops training as a divergence, as a non-finite one does for every family
    loss_limits: dict[str, float] = {}

    @classmethod
    def config_sections(cls, cfg) -> tuple[str, ...]:
        """The config sections a run of this family reads: setting a key in any other is a mistake (`gankit.names`)."""
        return COMMON_SECTIONS + cls.sections

    @classmethod
    def config_problem(cls, cfg) -> str | None:
        """What makes `cfg` untrainable by this family though every name and key in it is valid (StarGAN: a loss
        that needs a real batch in G's step), or None; checked when the config is parsed, so `--dry-run` and a
        study's plan catch it before anything trains."""
        return None

    # --- generate ----------------------------------------------------------------------------------
    @classmethod
    def build_generator(cls, cfg, info) -> nn.Module:
        raise NotImplementedError

    @classmethod
    def generate(cls, G: nn.Module, cfg, n: int, device, generator: torch.Generator | None = None) -> Tensor:
        raise NotImplementedError

    @classmethod
    def export_interface(cls, G: nn.Module, cfg, info) -> ExportInterface:
        raise ConfigError(f"family '{cfg.family}' has no export interface")

    # --- score -------------------------------------------------------------------------------------
    extra_metrics: tuple[str, ...] = ()  # prepended to the data's default metrics
    score_generator: Callable | None = None  # classmethod (G, cfg, info, device) -> ScoredGenerator: scored its own way
    build_classifier: Callable | None = None  # classmethod (cfg, info) -> the network `eval.metrics: accuracy` scores

    @classmethod
    def classifier_weights(cls, state: dict) -> dict[str, Tensor]:
        """The classifier's weights in a training state (for `build_classifier`'s network)."""
        raise NotImplementedError

    # --- report ------------------------------------------------------------------------------------
    report_samples = SampleGrids()
    report_training_curves = True  # the loss curves of metrics.jsonl

    @classmethod
    def report_parts(cls, run_dir: Path, series: Series, evals: Series) -> list[ReportPart]:
        """Sections of the family's own for the run's report, from its directory and the curves of its log
        (`series`: training values per G iteration; `evals`: scores per checkpoint)."""
        return []

    # --- train -------------------------------------------------------------------------------------
    driver: str | None = None  # the name of a procedure in gankit.drivers that trains this family instead of the loop
    supports_compile = True  # the iteration can be traced by train.compile
    log_line = None  # (step, values, it_per_s, batch_size) -> str, else the loop's standard line
    modules: dict[str, nn.Module]  # everything with weights, saved in the training state

    @classmethod
    def bench_config(cls, cfg):
        """The config `gankit bench` times (AdaGAN: one component's training)."""
        return cfg

    @property
    def generator(self) -> nn.Module:
        raise NotImplementedError

    def latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        raise NotImplementedError

    def steps(self) -> list[TrainStep]:
        raise NotImplementedError

    def attach_data(self, data) -> list[str]:
        """Called once with the training split; returns lines for the log."""
        return []

    def after_iteration(self) -> None:
        pass

    def extra_state(self) -> dict:
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass

    def extra_snapshots(self) -> dict[str, nn.Module]:
        """{file stem: module} saved as `<stem>.safetensors` beside the generator snapshot."""
        return {}

    @property
    def classifier(self) -> nn.Module | None:
        return None

    def sample_grid(self, G: nn.Module, fixed: torch.Tensor, data) -> tuple[torch.Tensor, int | None]:
        """The images of a training sample grid from the fixed inputs, and images per row (None = square)."""
        return G(fixed), None


@dataclass(frozen=True)
class ScoredGenerator:
    """What a family's own scoring returns: scores (name -> float), reference scores beside them (e.g. StarGAN's
    identity and exact-render translators) and the protocol they were measured under."""

    scores: dict[str, float]
    references: dict[str, dict[str, float]]
    protocol: dict


GENERATE = ("build_generator", "generate")
TRAIN = ("generator", "latent", "steps")
CLASS_LEVEL = ("build_generator", "generate", "export_interface", "bench_config", "classifier_weights", "config_sections",
               "config_problem", "report_parts")


def missing_members(cls: type) -> list[str]:
    """The contract's members that `cls` leaves at their raising defaults (empty: it fulfils the contract)."""
    if not (isinstance(cls, type) and issubclass(cls, Family)):
        return ["(subclass of gankit.families.base.Family)"]
    required = GENERATE + (("bench_config",) if cls.driver else TRAIN)  # a driver says what `gankit bench` times
    if cls.build_classifier is not None:
        required += ("classifier_weights", "classifier")
    return [name for name in required if inspect.getattr_static(cls, name) is Family.__dict__[name]]


def contract_problems(cls: type) -> list[str]:
    """Everything that keeps `cls` from being registered: missing members, class-level members that are not
    classmethods, a generator that is not a property, config sections that do not exist."""
    if missing := missing_members(cls):
        problems = [f"missing {', '.join(missing)}"]
        if not issubclass(cls, Family):
            return problems
    else:
        problems = []
    problems += [f"{name} must be a classmethod (sample, export and eval call it on the class)" for name in CLASS_LEVEL
                 for member in [inspect.getattr_static(cls, name)] if not isinstance(member, classmethod)]
    if not cls.driver and not isinstance(inspect.getattr_static(cls, "generator"), property):
        problems.append("generator must be a property returning the generator module")
    for attribute in ("score_generator", "build_classifier"):
        member = inspect.getattr_static(cls, attribute)
        if member is not None and not isinstance(member, classmethod):
            problems.append(f"{attribute} must be a classmethod or None")
    if unknown := sorted(set(cls.sections) - set(Config.model_fields) - set(COMMON_SECTIONS)):
        problems.append(f"sections {unknown} are not config sections (valid: {', '.join(Config.model_fields)})")
    return problems


class FamilyRegistry(Registry[type]):
    """The families, each checked against the contract when registered."""

    def register(self, name: str):
        add = super().register(name)

        def decorator(cls: type) -> type:
            if problems := contract_problems(cls):
                raise TypeError(f"family '{name}' ({getattr(cls, '__name__', cls)}) does not fulfil the contract: "
                                + "; ".join(problems))
            return add(cls)

        return decorator


FAMILIES = FamilyRegistry("family")
