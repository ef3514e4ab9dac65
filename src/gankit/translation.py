"""Translating images with a StarGAN run, and scoring translations on AttrDigits.

Scoring (`gankit eval` on a stargan run): every test image is translated to each target domain of
`target_domains` (one per attribute: a colour switched on, or another attribute flipped) and scored by the
shipped AttrDigits scorer (`scripts/train_extractors.py attr_digits`, a fixed seed): attribute accuracies and
the all-attributes-correct rate, the digit kept (the scorer's digit head on the translation vs the true digit,
beside its accuracy on the real inputs), L1 to the exact render of the digit under the target (in [0, 1] pixel
units), the cycle L1 |x - G(G(x, c_trg), c_org)|, and FD between translations and the exact renders in the
scorer's feature space. Two reference translators are scored the same way: the identity (the floor) and the
exact render (the scorer's ceiling).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from gankit.data import load_dataset
from gankit.data.attr_digits import render
from gankit.data.transforms import to_signed_unit
from gankit.errors import ConfigError
from gankit.families.stargan import target_domains
from gankit.metrics.fid import fid_from_features
from gankit.metrics.translation import attribute_scores

Translator = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@torch.no_grad()
def score_translator(translate: Translator, data, scorer, device, batch_size: int = 100, exact: bool = False) -> dict[str, float]:
    """Scores of `translate(x, c_trg)` over `data` (an AttrDigits split) by `scorer` (the shipped attr_digits
    classifier); `exact` scores the exact renders instead."""
    size = data.info.shape[1]
    parts: dict[str, list] = {k: [] for k in ("attr", "target", "kept", "real", "l1", "cycle", "fake_f", "exact_f")}
    for index in torch.arange(len(data)).split(batch_size):
        batch = data.get(index)
        x, c_org, digit = batch["x"].to(device), batch["y"].to(device), batch["digit"].to(device)
        parts["real"].append((scorer(x)["logits"].argmax(1) == digit).cpu())
        for c_trg in target_domains(c_org, data.info):
            target = to_signed_unit(render(batch["stroke"], c_trg, size)).to(device)
            fake = target if exact else translate(x, c_trg)
            back = x if exact else translate(fake, c_org)
            out, ref = scorer(fake), scorer(target)
            parts["attr"].append(out["attributes"].cpu())
            parts["target"].append(c_trg.cpu())
            parts["kept"].append((out["logits"].argmax(1) == digit).cpu())
            parts["l1"].append(((fake - target).abs().mean((1, 2, 3)) / 2).cpu())  # [-1, 1] -> [0, 1] units
            parts["cycle"].append(((back - x).abs().mean((1, 2, 3)) / 2).cpu())
            parts["fake_f"].append(out["features"].cpu())
            parts["exact_f"].append(ref["features"].cpu())
    cat = {k: torch.cat(v).numpy() for k, v in parts.items()}
    scores = attribute_scores(cat["attr"], cat["target"], data.info.label_names, data.info.exclusive)
    kept, real = float(cat["kept"].mean()), float(cat["real"].mean())
    scores |= {"digit_kept": kept, "digit_real": real, "digit_kept_ratio": kept / real, "l1_exact": float(cat["l1"].mean()),
               "cycle_l1": float(cat["cycle"].mean()),
               "fd": float(fid_from_features(cat["exact_f"].astype(np.float64), cat["fake_f"].astype(np.float64)))}
    return scores


def translation_scores(G: torch.nn.Module, cfg, device, batch_size: int = 100) -> dict[str, dict[str, float]]:
    """{translator: scores} for the run's generator, the identity and the exact render, on the test split."""
    if cfg.data.name != "attr_digits":
        raise ConfigError(f"translation scoring needs the exact renders of attr_digits; data '{cfg.data.name}' "
                          "(CelebA FID on held-out translations) is not scored yet")
    from gankit.metrics.classifiers import load_classifier

    data = load_dataset(cfg.data, "test")
    scorer = load_classifier("attr_digits", device)  # once for all three translators
    G = G.to(device).eval()
    return {"model": score_translator(G, data, scorer, device, batch_size),
            "identity": score_translator(lambda x, c: x, data, scorer, device, batch_size),
            "exact_render": score_translator(None, data, scorer, device, batch_size, exact=True)}


def evaluate_translation_run(run_dir: Path, device: str = "cpu", log=print) -> dict:
    """Score RUN_DIR's generator snapshot; write eval.json (results[step].scores as other runs, plus the reference
    translators' scores) and scores.csv."""
    from gankit import __version__
    from gankit.evaluate import write_results
    from gankit.generate import load_generator

    G, cfg, info, meta = load_generator(run_dir, device)
    scores = translation_scores(G, cfg, device)
    step = int(meta.get("step", -1))
    entry = {"source": "generator.safetensors",
             "scores": {k: {"mean": v, "std": 0.0, "values": [v]} for k, v in scores["model"].items()},
             "reference_translators": {k: scores[k] for k in ("identity", "exact_render")}}
    for name, values in scores.items():
        log(f"{name}: " + ", ".join(f"{k} {v:.4g}" for k, v in values.items()))
    protocol = {"scorer": "attr_digits-cnn", "test_items": len(load_dataset(cfg.data, "test")),
                "targets_per_item": info.num_classes, "reference_data": cfg.data.model_dump(mode="json"),
                "gankit_version": __version__}
    path = write_results(Path(run_dir), {step: entry}, protocol)
    return {"results": {step: entry}, "protocol": protocol, "path": str(path)}


def parse_targets(specs: list[str], names: tuple[str, ...]) -> torch.Tensor:
    """['Blond_Hair,Young', ''] -> (T, A) 0/1: the named attributes on, the rest off."""
    rows = []
    for spec in specs:
        on = [a.strip() for a in spec.split(",") if a.strip()]
        unknown = [a for a in on if a not in names]
        if unknown:
            raise ConfigError(f"--targets: unknown attribute '{unknown[0]}'; valid: {', '.join(names)}")
        rows.append([float(a in on) for a in names])
    return torch.tensor(rows)


def _read_inputs(path: Path, cfg, info) -> torch.Tensor:
    from gankit.data.image_io import IMAGE_SUFFIXES, read_image
    from gankit.data.transforms import prepare_images

    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if path.is_dir() else [path]
    if not files:
        raise ConfigError(f"{path}: no images (PNG/JPEG) to translate")
    mode = "L" if info.shape[0] == 1 else "RGB"
    images = [prepare_images(torch.from_numpy(read_image(f, mode)).permute(2, 0, 1)[None], cfg.data.size, cfg.data.crop)
              for f in files]
    return to_signed_unit(torch.cat(images))


def _estimate_attributes(run_dir: Path, cfg, info, x: torch.Tensor) -> torch.Tensor:
    """The inputs' own attributes as the run's D classifies them (newest training state); exclusive groups by arg-max."""
    from gankit.errors import RunDirError
    from gankit.families.gan import build_module
    from gankit.train.checkpoint import list_states, load_state

    states = list_states(run_dir)
    if not states:
        raise RunDirError(f"{run_dir}: no training state to read D from; give --targets explicitly")
    D = build_module(cfg, info, "discriminator")
    D.load_state_dict(load_state(states[-1][1])["modules"]["D"])
    with torch.no_grad():
        logits = D.eval()(x)[1]
    c = (logits > 0).float()
    for group in info.exclusive:
        c[:, list(group)] = 0
        c[torch.arange(len(c)), torch.tensor(group)[logits[:, list(group)].argmax(1)]] = 1
    return c


@torch.no_grad()
def translate_images(run_dir: Path, out: Path, input_path: Path | None = None, split: str | None = None, num: int = 8,
                     targets: list[str] | None = None, per_image: Path | None = None, device: str = "cpu") -> str:
    """A grid with a row per input: [input, its translation to each target] (the reference's test phase)."""
    from gankit.data.image_io import make_grid, save_grid, save_png
    from gankit.generate import load_generator

    run_dir = Path(run_dir)
    G, cfg, info, _ = load_generator(run_dir, device)
    if cfg.family != "stargan":
        raise ConfigError(f"{run_dir}: a '{cfg.family}' run; translate needs a stargan run")
    if (input_path is None) == (split is None):
        raise ConfigError("give exactly one of --input and --split")
    if split is not None:
        data = load_dataset(cfg.data, split)
        batch = data.get(torch.arange(min(num, len(data))))
        x, c_org = batch["x"], batch["y"]
    else:
        x = _read_inputs(Path(input_path), cfg, info)
        c_org = None if targets else _estimate_attributes(run_dir, cfg, info, x)
    x = x.to(device)
    goals = [parse_targets(list(targets), info.label_names).to(device)[i].expand(len(x), -1) for i in range(len(targets))] \
        if targets else target_domains(c_org.to(device), info)
    rows = torch.stack([x] + [G(x, c) for c in goals], 1).cpu()  # (N, 1 + T, C, H, W)
    save_grid(rows.flatten(0, 1), out, nrow=rows.shape[1])
    if per_image is not None:
        per_image.mkdir(parents=True, exist_ok=True)
        for i, row in enumerate(rows):
            save_png(make_grid(row, nrow=len(row)), per_image / f"{i:05d}.png")
    return f"{len(rows)} inputs x {rows.shape[1] - 1} targets to {out}" + (f" and {per_image}/" if per_image else "")
