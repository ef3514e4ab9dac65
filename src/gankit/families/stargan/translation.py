"""StarGAN's translations: the target domains of a batch, translation rows, and their scoring (AttrDigits or FID);
the pieces `gankit translate` (apps/translate.py) puts together.

Scoring (`gankit eval` on a stargan run): every test image is translated to each target domain of
`target_domains` (one per attribute: a colour switched on, or another attribute flipped) and scored by the
shipped AttrDigits scorer (`scripts/train_extractors.py attr_digits`, a fixed seed): attribute accuracies and
the all-attributes-correct rate, the digit kept (the scorer's digit head on the translation vs the true digit,
beside its accuracy on the real inputs), L1 to the exact render of the digit under the target (in [0, 1] pixel
units), the cycle L1 |x - G(G(x, c_trg), c_org)|, and FD between translations and the exact renders in the
scorer's feature space. Two reference translators are scored the same way: the identity (the floor) and the
exact render (the scorer's ceiling).

On CelebA (no exact targets) the score is the card's: Inception FID of the test images' translations against
the real test images, beside the FID of real train images (the floor a perfect translator could reach).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gankit import __version__
from gankit.data import load_dataset
from gankit.data.attr_digits import render
from gankit.data.base import DataInfo, FirstItems
from gankit.data.image_io import IMAGE_SUFFIXES, read_image
from gankit.data.transforms import prepare_images, to_signed_unit
from gankit.errors import ConfigError
from gankit.families.base import ScoredGenerator
from gankit.families.gan import build_module
from gankit.families.stargan.metrics import attribute_scores
from gankit.metrics.classifiers import load_classifier
from gankit.metrics.features import cached_real_features, extract, make_extractor
from gankit.metrics.fid import fid_from_features

Translator = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def target_domains(c_org: torch.Tensor, info: DataInfo) -> list[torch.Tensor]:
    """One target per attribute, as the reference's test phase: an attribute of an exclusive group (hair colour,
    ink colour) is switched on and the rest of its group off; any other attribute is flipped. Each (N, c_dim)."""
    grouped = {i: group for group in info.exclusive for i in group}
    targets = []
    for i in range(c_org.shape[1]):
        c = c_org.clone()
        if i in grouped:
            c[:, list(grouped[i])] = 0
            c[:, i] = 1
        else:
            c[:, i] = 1 - c[:, i]
        targets.append(c)
    return targets


def translation_rows(G: nn.Module, x: torch.Tensor, c_org: torch.Tensor, info: DataInfo) -> torch.Tensor:
    """[input, G(input, target) for every target domain] per input, stacked row-major: (N * (1 + c_dim), C, H, W)."""
    outputs = [x] + [G(x, c) for c in target_domains(c_org, info)]
    return torch.stack(outputs, 1).flatten(0, 1)


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
        for t, c_trg in enumerate(target_domains(c_org, data.info)):
            target = to_signed_unit(render(batch["stroke"], c_trg, size)).to(device)
            fake = target if exact else translate(x, c_trg)
            back = x if exact else translate(fake, c_org)
            out, ref = scorer(fake), scorer(target)
            parts["attr"].append(out["attributes"].cpu())
            parts["target"].append(c_trg.cpu())
            parts["kept"].append((out["logits"].argmax(1) == digit).cpu())
            parts.setdefault(f"kept_{t}", []).append(parts["kept"][-1])
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
    # which targets lose the content: target t switches attribute t on (its exclusive group) or flips it
    scores |= {f"digit_kept_{name}": float(cat[f"kept_{t}"].mean()) for t, name in enumerate(data.info.label_names)}
    return scores


def translation_scores(G: torch.nn.Module, cfg, device, batch_size: int = 100) -> dict[str, dict[str, float]]:
    """{translator: scores} on the test split (its first `eval.num_real` items when set): for AttrDigits the
    run's generator, the identity and the exact render; for other data (CelebA) FID of the translations."""
    data = load_dataset(cfg.data, "test")
    if cfg.eval.num_real:
        data = FirstItems(data, cfg.eval.num_real)
    G = G.to(device).eval()
    if cfg.data.name != "attr_digits":
        return fid_translation_scores(G, cfg, data, device)
    scorer = load_classifier("attr_digits", device)  # once for all three translators
    return {"model": score_translator(G, data, scorer, device, batch_size),
            "identity": score_translator(lambda x, c: x, data, scorer, device, batch_size),
            "exact_render": score_translator(None, data, scorer, device, batch_size, exact=True)}


@torch.no_grad()
def fid_translation_scores(G: torch.nn.Module, cfg, data, device) -> dict[str, dict[str, float]]:
    """The StarGAN card's figure: FID between the translations of the held-out test images (each to every
    target domain of `target_domains`) and those real test images, with the Inception of `gankit eval`; the
    cycle L1 beside it. Reference: FID of as many real train images against the same test images."""
    extractor = make_extractor("inception", device, cfg.eval.inception_weights)
    batch_size = min(cfg.eval.batch_size, 50)
    real, _ = cached_real_features(cfg.data, "test", extractor, len(data), batch_size,
                                   lambda *_: data)  # `data` may be the first num_real items only
    cycle: list[torch.Tensor] = []

    def translations():
        for index in torch.arange(len(data)).split(batch_size):
            batch = data.get(index)
            x, c_org = batch["x"].to(device), batch["y"].to(device)
            for c_trg in target_domains(c_org, data.info):
                fake = G(x, c_trg)
                cycle.append(((G(fake, c_org) - x).abs().mean((1, 2, 3)) / 2).cpu())
                yield fake

    fake = extract(extractor, translations())["features"].astype(np.float64)
    train_real, _ = cached_real_features(cfg.data, "train", extractor, len(data), batch_size, load_dataset)
    test_features = real["features"].astype(np.float64)
    return {"model": {"fid": float(fid_from_features(test_features, fake)), "cycle_l1": float(torch.cat(cycle).mean()),
                      "translations": len(fake)},
            "real_train_images": {"fid": float(fid_from_features(test_features, train_real["features"].astype(np.float64)))}}


def score_translations(G: nn.Module, cfg, info: DataInfo, device) -> ScoredGenerator:
    """`translation_scores` as `gankit eval` records them: the model's scores, the reference translators' beside
    them, and the protocol. `cfg`: the run's config with `gankit eval`'s changes (num_real, inception_weights)."""
    scores = translation_scores(G, cfg, device)
    attr_digits = cfg.data.name == "attr_digits"
    protocol = {"scorer": "attr_digits-cnn" if attr_digits else "inception FID (translations vs real test images)",
                "test_items": min(cfg.eval.num_real or 10**9, len(load_dataset(cfg.data, "test"))),
                "targets_per_item": info.num_classes, "reference_data": cfg.data.model_dump(mode="json"),
                "gankit_version": __version__}
    return ScoredGenerator(scores["model"], {k: v for k, v in scores.items() if k != "model"}, protocol)


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


def column_labels(info, c_org: torch.Tensor | None = None, specs: list[str] | None = None) -> list[str]:
    """'input', then a name per target column: for `--targets` specs the attributes each turns on ('none' for an empty
    one); for `target_domains` of the inputs' attributes `c_org` (N, A), the attribute switched on ('+Blond_Hair') for
    an exclusive group, else the one flipped: '+Male' where every input lacks it, '-Male' where all have it, 'flip Male'."""
    if specs:
        return ["input"] + [", ".join(a.strip() for a in spec.split(",") if a.strip()) or "none" for spec in specs]
    grouped = {i for group in info.exclusive for i in group}
    labels = ["input"]
    for i, name in enumerate(info.label_names):
        values = set(c_org[:, i].tolist())
        labels.append(f"+{name}" if i in grouped or values == {0.0} else f"-{name}" if values == {1.0} else f"flip {name}")
    return labels


def read_inputs(path: Path, cfg, info) -> torch.Tensor:
    """The images to translate: one file, or every PNG/JPEG under a folder, prepared as the run's data."""
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if path.is_dir() else [path]
    if not files:
        raise ConfigError(f"{path}: no images (PNG/JPEG) to translate")
    mode = "L" if info.shape[0] == 1 else "RGB"
    images = [prepare_images(torch.from_numpy(read_image(f, mode)).permute(2, 0, 1)[None], cfg.data.size, cfg.data.crop)
              for f in files]
    return to_signed_unit(torch.cat(images))


def estimate_attributes(d_weights: dict[str, torch.Tensor], cfg, info, x: torch.Tensor) -> torch.Tensor:
    """The inputs' own attributes as the run's D (`d_weights`) classifies them; exclusive groups by arg-max."""
    D = build_module(cfg, info, "discriminator")
    D.load_state_dict(d_weights)
    with torch.no_grad():
        logits = D.eval()(x)[1]
    c = (logits > 0).float()
    for group in info.exclusive:
        c[:, list(group)] = 0
        c[torch.arange(len(c)), torch.tensor(group)[logits[:, list(group)].argmax(1)]] = 1
    return c
