"""`gankit translate`: a StarGAN run's generator applied to test images or image files, as the reference's test
phase (a row per input: the input, then its translation to each target)."""
from __future__ import annotations

from pathlib import Path

import torch

from gankit.data import load_dataset
from gankit.errors import ConfigError, RunDirError
from gankit.families.stargan.translation import column_labels, estimate_attributes, parse_targets, read_inputs, target_domains
from gankit.runs.directory import check_out_beside_run
from gankit.runs.snapshots import load_generator
from gankit.train.checkpoint import list_states, load_state
from gankit.viz import save_samples


def newest_d_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    """D's weights in the run's newest training state (to read the inputs' own attributes)."""
    states = list_states(run_dir)
    if not states:
        raise RunDirError(f"{run_dir}: no training state to read D from; give --targets explicitly")
    return load_state(states[-1][1])["modules"]["D"]


@torch.no_grad()
def translate_images(run_dir: Path, out: Path, input_path: Path | None = None, split: str | None = None, num: int = 8,
                     targets: list[str] | None = None, per_image: Path | None = None, device: str = "cpu") -> str:
    """A grid with a row per input: [input, its translation to each target] (the reference's test phase), small images
    enlarged as the training grids are, under a header row naming each column (`column_labels`); `per_image`: each
    row also on its own, enlarged and labelled the same way."""
    run_dir = Path(run_dir)
    check_out_beside_run(out, run_dir)
    check_out_beside_run(per_image, run_dir, what="--per-image")
    for path, what in ((out, "--out"), (per_image, "--per-image")):
        _check_apart_from_inputs(path, input_path, what)
    G, cfg, info, _ = load_generator(run_dir, device)
    if cfg.family != "stargan":
        raise ConfigError(f"{run_dir}: a '{cfg.family}' run; translate needs a stargan run")
    if (input_path is None) == (split is None):
        raise ConfigError("give exactly one of --input and --split")
    if split is not None:
        data = load_dataset(cfg.data, split)
        if len(data) == 0:
            raise ConfigError(f"--split {split}: the {cfg.data.name} {split} split of {cfg.data.root or 'the default data'} "
                              "is empty (for CelebA: list_eval_partition.txt names no image of it); nothing to translate")
        batch = data.get(torch.arange(min(num, len(data))))
        x, c_org = batch["x"], batch["y"]
    else:
        x = read_inputs(Path(input_path), cfg, info)
        c_org = None if targets else estimate_attributes(newest_d_weights(run_dir), cfg, info, x)
    x = x.to(device)
    goals = [parse_targets(list(targets), info.label_names).to(device)[i].expand(len(x), -1) for i in range(len(targets))] \
        if targets else target_domains(c_org.to(device), info)
    labels = column_labels(info, None if targets else c_org, list(targets or []))
    rows = torch.stack([x] + [G(x, c) for c in goals], 1).cpu()  # (N, 1 + T, C, H, W)
    save_samples(rows.flatten(0, 1), out, nrow=rows.shape[1], columns=labels)
    if per_image is not None:
        per_image.mkdir(parents=True, exist_ok=True)
        for i, row in enumerate(rows):
            save_samples(row, per_image / f"{i:05d}.png", nrow=len(row), columns=labels)
    return f"{len(rows)} inputs x {rows.shape[1] - 1} targets to {out}" + (f" and {per_image}/" if per_image else "")


def _check_apart_from_inputs(out: Path | None, input_path: Path | None, what: str) -> None:
    """An output on, inside or around --input would overwrite the images it translates (or be read as one later)."""
    if out is None or input_path is None:
        return
    written, read = Path(out).resolve(), Path(input_path).resolve()
    if written == read or read in written.parents or written in read.parents:
        raise ConfigError(f"{what} {out}: overlaps --input {input_path}, whose images it would overwrite; "
                          "write it apart from the inputs")
