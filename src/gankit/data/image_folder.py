"""Any tree of PNG/JPEG images. If every image sits in a sub-folder of the root, the first-level
sub-folders are the classes (sorted names -> 0..K-1); otherwise there are no labels. A seeded
`data.test_fraction` (or `data.test_count`) of the images is held out as the test split.
"""
from __future__ import annotations

from pathlib import Path

import torch

from gankit.data.base import DATASETS, holdout_split, images_dataset
from gankit.data.image_io import IMAGE_SUFFIXES
from gankit.errors import DataError


@DATASETS.register("image_folder")
def load_image_folder(cfg, split):
    if not cfg.root:
        raise DataError("data.root: image_folder needs the folder holding the images")
    root = Path(cfg.root)
    if not root.is_dir():
        raise DataError(f"{root}: no such image folder")
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not paths:
        raise DataError(f"{root}: no PNG/JPEG images found")
    relative = [p.relative_to(root) for p in paths]
    labelled = all(len(r.parts) > 1 for r in relative)
    classes = sorted({r.parts[0] for r in relative}) if labelled else []
    index = holdout_split(len(paths), split, cfg.seed, cfg.test_fraction, cfg.test_count)
    chosen = [paths[i] for i in index]
    labels = torch.tensor([classes.index(relative[i].parts[0]) for i in index]) if labelled else None
    info = dict(num_classes=len(classes), label_names=tuple(classes), labels="class" if labelled else "none",
                source=f"{root}: {len(chosen)} of {len(paths)} images ({split} split)")
    return images_dataset(chosen, labels, cfg, info)
