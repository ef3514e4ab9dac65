"""Sampling from a run's generator snapshot, to a grid PNG, an .npz array or a folder of PNGs."""
from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch

from gankit.data.image_io import save_png, to_uint8
from gankit.errors import ConfigError, RunDirError
from gankit.families import FAMILIES
from gankit.files import atomic_write, check_output_path, os_error_reason
from gankit.memory import available_memory
from gankit.runs.directory import check_out_beside_run
from gankit.runs.snapshots import load_generator
from gankit.viz import save_samples


@torch.no_grad()
def sample_batches(G, cfg, num: int, seed: int, device: str, batch_size: int = 256) -> Iterator[torch.Tensor]:
    """`num` samples of a loaded generator, batch by batch on the CPU; the same samples for any batch_size."""
    family = FAMILIES.get(cfg.family)
    generator = torch.Generator().manual_seed(seed)
    for start in range(0, num, batch_size):
        yield family.generate(G, cfg, min(batch_size, num - start), device, generator).cpu()


def generate(run_dir: Path, num: int, seed: int = 0, device: str = "cpu", batch_size: int = 256) -> torch.Tensor:
    """Every sample in one tensor (a grid or an .npz needs them all): refused when it would not fit in memory."""
    G, cfg, info, _ = load_generator(run_dir, device)
    check_fits_memory(num, info.shape)
    return torch.cat(list(sample_batches(G, cfg, num, seed, device, batch_size)))


def sample_to(out: Path, run_dir: Path, num: int, seed: int = 0, device: str = "cpu", batch_size: int = 256) -> str:
    """`gankit sample`: x.png / x.npz from every sample at once; a folder of PNGs written batch by batch, so its
    size is bounded by the disk, not the memory. Returns a description of what was written."""
    out = Path(out)
    if out.suffix.lower() in (".png", ".npz"):
        return write_samples(generate(run_dir, num, seed, device, batch_size), out)
    G, cfg, _, _ = load_generator(run_dir, device)
    return _write_pngs(sample_batches(G, cfg, num, seed, device, batch_size), out, num)


GRID_MAX = 10_000  # a grid PNG of more images is no longer looked at, only paged through: .npz or a folder for those


def check_fits_memory(num: int, shape: tuple[int, ...]) -> None:
    """A grid or an .npz holds every sample as float32 twice (the batches and their concatenation) before writing: refuse a
    count that would not fit the memory free now, before hours of generating end in the OOM killer."""
    need, free = num * math.prod(shape) * 4 * 2, available_memory()
    if free is not None and need > free:
        raise ConfigError(f"--num {num}: {num:,} samples of shape {tuple(shape)} need {need / 2**30:.1f} GiB in memory, "
                          f"{free / 2**30:.1f} GiB is free; ask for fewer and run again with another --seed")


def check_samples_out(out: Path, run_dir: Path, num: int = 1) -> Path:
    """`sample --out`, checked before anything is generated: x.png (a grid of at most GRID_MAX), x.npz or a folder
    that holds no earlier sample (`gankit metrics` would read both), never one of the run's own files."""
    out = Path(out)
    if out.suffix.lower() == ".png" and num > GRID_MAX:
        raise ConfigError(f"--out {out}: a grid PNG holds at most {GRID_MAX:,} samples (asked for {num:,}); "
                          "write x.npz or a folder of PNGs for more")
    if out.name.lower() in (".png", ".npz"):  # Path(".npz").suffix is "": it would become a hidden folder
        raise ConfigError(f"--out {out}: name the file, as in samples{out.name.lower()}")
    if out.suffix.lower() in (".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"):
        raise ConfigError(f"--out {out}: samples are written as x.png (a grid), x.npz or a folder of PNGs, "
                          f"not {out.suffix}")
    out = check_output_path(out, "file" if out.suffix.lower() in (".png", ".npz") else "folder", replaces=(".png", ".npz"))
    check_out_beside_run(out, run_dir)
    if out.is_dir() and next(out.glob("[0-9][0-9]*.png"), None) is not None:
        raise ConfigError(f"--out {out}: the folder already holds numbered PNGs of an earlier sample; give an empty "
                          "or new folder")
    return out


def write_samples(samples: torch.Tensor, out: Path) -> str:
    """`.png` -> one grid; `.npz` -> uint8 (N, H, W, C) under `images` (float `points` for 2-D data);
    anything else -> a folder of PNGs. Returns a description of what was written."""
    out = Path(out)
    if out.suffix.lower() == ".png":
        save_samples(samples, out)
        return f"grid of {len(samples)} to {out}"
    if out.suffix.lower() == ".npz":
        arrays = {"images": to_uint8(samples).permute(0, 2, 3, 1).numpy()} if samples.dim() == 4 else \
            {"points": samples.numpy().astype(np.float32)}
        atomic_write(out, lambda tmp: _savez(tmp, arrays))
        return f"{len(samples)} samples to {out}"
    return _write_pngs([samples], out, len(samples))


def _write_pngs(batches: Iterable[torch.Tensor], out: Path, num: int) -> str:
    """Numbered PNGs (00000.png, ...) into the folder `out`, one batch in memory at a time."""
    width, index = max(len(str(num - 1)), 5), 0
    for batch in batches:
        if batch.dim() != 4:
            raise RunDirError(f"{out}: a folder of PNGs needs image samples; use .npz or .png for 2-D points")
        if index == 0:
            try:
                out.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise RunDirError(f"{out}: could not create the folder ({os_error_reason(err)})") from None
        for image in to_uint8(batch).permute(0, 2, 3, 1).numpy():
            save_png(image, out / f"{index:0{width}d}.png", durable=False)
            index += 1
    return f"{index} PNGs to {out}/"


def _savez(path: Path, arrays: dict) -> None:
    with open(path, "wb") as fh:  # a file object: np.savez would add ".npz" to a temporary name
        np.savez_compressed(fh, **arrays)
