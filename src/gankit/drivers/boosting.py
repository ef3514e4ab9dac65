"""AdaGAN's boosting (Tolstikhin et al. 2017): components trained one after another, each an ordinary run of the one
loop in `components/cTT/` on data drawn with weights that favour what the mixture so far misses (the maths and the
mixture live in `gankit.families.adagan`)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gankit.config import Config
from gankit.data import InfiniteSampler, load_dataset
from gankit.data.image_io import save_png
from gankit.data.toy2d import toy_modes
from gankit.errors import RunDirError
from gankit.families import FAMILIES
from gankit.families.adagan import Mixture, component_config, read_boost_state, snapshot_metadata
from gankit.families.adagan.reweighting import data_weights, mixture_weights_after, next_mixture_weight
from gankit.files import atomic_write_json
from gankit.metrics.modes import adagan_coverage, mode_metrics
from gankit.runs.directory import prepare_run_dir, write_config
from gankit.runs.snapshots import load_generator
from gankit.train import checkpoint as ckpt
from gankit.train.loop import Interrupted, Trainer, resolve_device
from gankit.train.signals import StopSignals
from gankit.train.status import write_status
from gankit.viz import weighted_scatter_image


def evaluate_mixture(cfg: Config, mixture: Mixture, real: torch.Tensor, seed: int) -> dict:
    """The card's evaluation: 500 real points, 1,000 mixture samples and 500 more for the KDE bandwidth."""
    family = FAMILIES.get(cfg.family)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        samples = family.generate(mixture, cfg, 1500, "cpu", generator).double().numpy()
    scores = adagan_coverage(real[:500].double().numpy(), samples[:1000], samples[1000:])
    result = {"log_p": scores["log_p"], "C": scores["C"]}
    if cfg.data.name == "toy2d" and cfg.data.distribution != "swissroll":
        result |= mode_metrics(samples[:1000], *toy_modes(cfg.data.distribution, cfg.data.modes, cfg.data.seed))
    return result


def load_mixture(cfg: Config, info, run_dir: Path, weights: list[float]) -> Mixture:
    mixture = FAMILIES.get("adagan").build_generator(cfg, info)
    for t in range(len(weights)):
        G, _, _, _ = load_generator(run_dir / "components" / f"c{t:02d}")
        mixture.components[t].load_state_dict(G.state_dict())
    mixture.weights[: len(weights)] = torch.tensor(weights, dtype=torch.float64)
    return mixture.eval()


def train_component(cfg: Config, run_dir: Path, t: int, weights: torch.Tensor | None, progress) -> dict:
    folder = run_dir / "components" / f"c{t:02d}"
    comp_cfg = component_config(cfg, t)
    resuming = bool(ckpt.list_states(folder))  # resume inside a component
    if not resuming:
        prepare_run_dir(folder, overwrite=True)
        write_config(folder, comp_cfg)
    sampler = None if weights is None else \
        InfiniteSampler(len(weights), comp_cfg.train.batch_size, seed=comp_cfg.train.seed, weights=weights)
    trainer = Trainer(comp_cfg, folder, progress, sampler=sampler)
    if resuming:
        trainer.resume()
    return trainer.run()


def step_data_weights(cfg: Config, run_dir: Path, real, state: dict, t: int, beta: float) -> torch.Tensor:
    """Uniform for the first component; else from a real-vs-mixture classifier. Saved once, reused on resume."""
    path = run_dir / "components" / f"c{t:02d}.weights.pt"
    if path.is_file():
        return torch.load(path, weights_only=True)
    if t == 0:
        weights = torch.full((len(real),), 1.0 / len(real), dtype=torch.float64)
    else:
        mixture = load_mixture(cfg, real.info, run_dir, state["mixture_weights"])
        generator = torch.Generator().manual_seed(cfg.train.seed * 1000 + 500 + t)
        with torch.no_grad():
            fake = FAMILIES.get("adagan").generate(mixture, cfg, len(real), "cpu", generator).float()
        weights = torch.from_numpy(data_weights(cfg, real.x, fake, beta, cfg.train.seed + t))
    path.parent.mkdir(parents=True, exist_ok=True)
    ckpt.atomic_write(path, lambda tmp: torch.save(weights, tmp))
    return weights


def boost_step(cfg: Config, run_dir: Path, real, state: dict, t: int, progress, check_stop=lambda where: None) -> int:
    """Train component t, update the mixture and its snapshot, evaluate and plot; returns G iterations."""
    beta = next_mixture_weight(t, cfg.boost.beta, cfg.boost.beta_constant)
    weights = step_data_weights(cfg, run_dir, real, state, t, beta)
    check_stop(f"after the data weights of component {t + 1} (saved)")
    iterations = train_component(cfg, run_dir, t, weights, progress)["steps"]
    state["mixture_weights"] = mixture_weights_after(state["mixture_weights"], beta)
    mixture = load_mixture(cfg, real.info, run_dir, state["mixture_weights"])
    ckpt.save_snapshot(run_dir / ckpt.SNAPSHOT_NAME, mixture, snapshot_metadata(cfg, real.info, t + 1))
    scores = evaluate_mixture(cfg, mixture, real.x, cfg.train.seed * 1000 + 900 + t)
    line = f"AdaGAN step {t + 1}/{cfg.boost.steps}: Evaluating: log_p={scores['log_p']:.3f}, C={scores['C']:.3f}"
    if "modes_covered" in scores:
        line += f"; modes covered {scores['modes_covered']}/{scores['modes_total']}, high quality {scores['high_quality']:.3f}"
    print(line, flush=True)
    with open(run_dir / "log.txt", "a") as log:
        log.write(line + "\n")
    with open(run_dir / "metrics.jsonl", "a") as fh:
        fh.write(json.dumps({"step": t + 1, "boost": scores, "beta": beta, "time": time.time()}) + "\n")
    with torch.no_grad():
        shown = FAMILIES.get("adagan").generate(mixture, cfg, 1000, "cpu", torch.Generator().manual_seed(t)).numpy()
    image = weighted_scatter_image(real.x[:2000].numpy(), weights[:2000].numpy(), shown,
                       f"step {t + 1}: log_p {scores['log_p']:.2f}, C {scores['C']:.2f}")
    save_png(image, run_dir / "boost" / f"step-{t + 1:02d}.png")
    state["completed"] = t + 1
    state["steps"].append({"step": t + 1, "beta": beta, **scores})
    atomic_write_json(run_dir / "boost.json", state)
    return iterations


def check_boosting(cfg: Config, run_dir: Path, resume: bool = False) -> None:
    """Build what boosting builds first (the device, the data, the first component's trainer) and write nothing: a
    mistake in the config fails here, before `train --overwrite` empties the old run or `resume` rewrites its config.
    On resume, a step total (`--steps`) below what a component has already trained is refused, as the loop refuses
    it for one run (it would otherwise be written into config.yaml as if the components had trained that long)."""
    resolve_device(cfg.train.device)
    Trainer(component_config(cfg, 0), Path(run_dir) / "components" / "c00", progress=False)
    if resume and cfg.train.epochs is None:
        for folder in sorted((Path(run_dir) / "components").glob("c[0-9][0-9]")):
            if (states := ckpt.list_states(folder)) and states[-1][0] > cfg.train.steps:
                raise RunDirError(f"{run_dir}: --steps {cfg.train.steps} is below the step {states[-1][0]} that "
                                  f"component {folder.name} has trained to")


def run_boosting(cfg: Config, run_dir: Path, progress: bool | None, resume: bool = False) -> dict:
    start = time.perf_counter()
    resolve_device(cfg.train.device)
    real = load_dataset(cfg.data, "train")
    state = read_boost_state(run_dir) if resume else {"completed": 0, "mixture_weights": [], "steps": []}
    iterations = 0
    write_status(run_dir, "running", state["completed"])
    status = "failed"
    resume_hint = f"continue with: gankit resume {run_dir}"

    def check_stop(where: str) -> None:  # between the phases of boosting, where no trainer notes the signal
        if signals.received is not None:
            raise Interrupted(f"interrupted by {signals.name()} {where}; {resume_hint}", signals.received)

    try:
        with StopSignals() as signals:  # a component's trainer notes its own signals while it trains
            for t in range(state["completed"], cfg.boost.steps):
                check_stop(f"before component {t + 1}")
                iterations += boost_step(cfg, run_dir, real, state, t, progress, check_stop)
        status = "finished"
    except Interrupted as err:  # name the boosting run to resume, not the component folder the trainer knows
        status = "interrupted"
        if str(err).endswith(resume_hint):
            raise
        raise Interrupted(f"component {state['completed'] + 1} of {cfg.boost.steps}: {str(err).split('; continue with:')[0]}; "
                          f"continue with: gankit resume {run_dir}", err.exit_code - 128) from None
    finally:
        write_status(run_dir, status, state["completed"])
    strip = [np.asarray(Image.open(p).convert("RGB")) for p in sorted((run_dir / "boost").glob("step-*.png"))]
    if strip:
        save_png(np.concatenate(strip, axis=1), run_dir / "boost" / "strip.png")
    seconds = time.perf_counter() - start
    return {"steps": cfg.boost.steps, "seconds": seconds, "final_step": state["completed"],
            "it_per_s": iterations / max(seconds, 1e-9), "run_dir": str(run_dir), "boost": state["steps"]}
