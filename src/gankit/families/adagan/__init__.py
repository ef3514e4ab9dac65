"""AdaGAN (Tolstikhin et al. 2017): a mixture of GANs trained one after another, each on the data
reweighted towards what the mixture so far misses (reference `adagan.py`, `adagan_gmm.py`).

Boosting step t: beta_t = 1/(t+1) (or a constant); for t > 0 a classifier separates real data from
mixture samples, its outputs give density ratios and data weights (theory_star by default); component t
is an ordinary gankit GAN (`boost.component_family`, configured by the other sections) trained by the
one training loop on data drawn with those weights, in `components/cTT/`; the mixture weights become
(1 - beta) * old + [beta]. The snapshot `generator.safetensors` holds all T components and the mixture
weights (zero for components not trained yet), so `gankit sample` and `gankit eval` read it as any run.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gankit import __version__
from gankit.config import Config, replace
from gankit.data.base import DataInfo
from gankit.families.base import FAMILIES, ExportInterface, Family, ReportPart, SampleGrids


class Mixture(nn.Module):
    """T generators and their mixture weights; sampling picks a component per sample by weight."""

    def __init__(self, components: list[nn.Module]):
        super().__init__()
        self.components = nn.ModuleList(components)
        self.register_buffer("weights", torch.zeros(len(components), dtype=torch.float64))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        raise TypeError("sample a Mixture with AdaGAN.generate (each sample needs a component draw)")


class MixtureByComponent(nn.Module):
    """The mixture as one exportable function: sample i comes from component `component[i]` (draw it with the
    mixture weights, kept in the export's sidecar). Every component runs on the whole batch; fine for 2-D toys."""

    def __init__(self, mixture: Mixture):
        super().__init__()
        self.components = mixture.components

    def forward(self, z: torch.Tensor, component: torch.Tensor) -> torch.Tensor:
        outs = torch.stack([G(z) for G in self.components])  # (T, N, ...)
        pick = F.one_hot(component.long(), len(self.components)).to(outs.dtype).T  # (T, N)
        return (outs * pick.reshape(*pick.shape, *[1] * (outs.dim() - 2))).sum(0)


def component_config(cfg: Config, t: int) -> Config:
    return replace(cfg, {"family": cfg.boost.component_family, "train.seed": cfg.train.seed * 1000 + t,
                         "name": f"{cfg.name}-c{t:02d}", "eval.every": 0})


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@FAMILIES.register("adagan")
class AdaGAN(Family):
    """Not trained by the loop directly: the boosting driver (`gankit.drivers.boosting`) trains the components, each
    an ordinary run of the loop; this class generates from and exports the mixture."""

    driver = "boosting"
    sections = ("boost",)
    report_training_curves = False  # its log is per boosting step: report_parts plots it
    report_samples = SampleGrids("Samples of the mixture")

    @classmethod
    def report_parts(cls, run_dir: Path, series, evals) -> list[ReportPart]:
        """The boosting: mixture weights, coverage / likelihood / modes after each step, a scatter plot per step."""
        try:
            boost = json.loads((run_dir / "boost.json").read_text())
        except (OSError, ValueError):
            return []
        if not isinstance(boost, dict):
            return []
        steps = [s for s in boost.get("steps") or [] if isinstance(s, dict)]
        curves = {}
        for key in ("C", "log_p", "modes_covered", "high_quality", "reverse_kl"):
            points = [(s["step"], s[key]) for s in steps if _finite(s.get("step")) and _finite(s.get(key))]
            if points:
                curves[key] = ([x for x, _ in points], [y for _, y in points])
        weights = [w for w in boost.get("mixture_weights") or [] if _finite(w)]
        plots = sorted((run_dir / "boost").glob("step-*.png")) if (run_dir / "boost").is_dir() else []
        return [ReportPart("AdaGAN boosting", f"{boost.get('completed', len(steps))} components; mixture weights "
                           + ", ".join(f"{w:.3f}" for w in weights), curves=curves,
                           curves_title="mixture after each boosting step", xlabel="boosting step",
                           images=tuple((p, f"after boosting step {int(p.stem.rsplit('-', 1)[-1])}") for p in plots
                                        if p.stem.rsplit("-", 1)[-1].isdigit()), image_width=300)]

    @classmethod
    def config_sections(cls, cfg: Config) -> tuple[str, ...]:
        """Its own `boost` and whatever its components' family reads."""
        component = FAMILIES.get(cfg.boost.component_family) if cfg.boost.component_family in FAMILIES else Family
        return tuple(dict.fromkeys(component.config_sections(cfg) + cls.sections))

    @classmethod
    def bench_config(cls, cfg: Config) -> Config:
        """What `gankit bench` times: one component's training (the components train one after another)."""
        return component_config(cfg, 0)

    @classmethod
    def build_generator(cls, cfg: Config, info: DataInfo) -> Mixture:
        component = FAMILIES.get(cfg.boost.component_family)
        return Mixture([component.build_generator(component_config(cfg, t), info) for t in range(cfg.boost.steps)])

    @classmethod
    def export_interface(cls, G: Mixture, cfg: Config, info: DataInfo) -> ExportInterface:
        """(z, component) -> sample; the sidecar lists the mixture weights to draw `component` with."""
        base = FAMILIES.get(cfg.boost.component_family).export_interface(G.components[0], component_config(cfg, 0), info)
        weights = G.weights.cpu()

        def example(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
            trained = weights if weights.sum() > 0 else torch.ones_like(weights)
            return base.example(n, g)[0], torch.multinomial(trained, n, replacement=True, generator=g)

        return ExportInterface(MixtureByComponent(G), ("z", "component"), example,
                               {**base.facts, "mixture_weights": weights.tolist()})

    @classmethod
    def generate(cls, G: Mixture, cfg: Config, n: int, device, generator: torch.Generator | None = None) -> torch.Tensor:
        component = FAMILIES.get(cfg.boost.component_family)
        choice = torch.multinomial(G.weights.cpu(), n, replacement=True, generator=generator)  # (n,)
        out = None
        for k in range(len(G.components)):
            rows = (choice == k).nonzero().squeeze(1)
            if len(rows) == 0:
                continue
            part = component.generate(G.components[k], cfg, len(rows), device, generator)
            if out is None:
                out = part.new_empty((n, *part.shape[1:]))
            out[rows.to(part.device)] = part
        return out


def snapshot_metadata(cfg: Config, info: DataInfo, completed: int) -> dict:
    return {"config": cfg.to_dict(), "data_info": info.to_dict(), "step": completed, "ema": cfg.train.ema_decay > 0,
            "components": completed, "gankit_version": __version__}


def read_boost_state(run_dir: Path) -> dict:
    path = run_dir / "boost.json"
    return json.loads(path.read_text()) if path.is_file() else {"completed": 0, "mixture_weights": [], "steps": []}
