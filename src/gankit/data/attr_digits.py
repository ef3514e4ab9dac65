"""AttrDigits: scikit-learn's digits rendered under six attributes, a multi-domain translation task whose
every target is known exactly (StarGAN without downloads; `../shared/reference/datasets.md`).

Attributes (in this order): `red`, `green`, `blue` — the ink colour, exactly one holds (an exclusive group,
as CelebA's hair colours); `inverted` — a white background with the ink dark in the other two channels;
`thick` — the stroke dilated (else eroded) by a 3x3 grey-scale morphology; `rotated` — turned 90 degrees
counter-clockwise. The digit (0-9) is the content a translation must keep.

`render(strokes, attributes, size)` draws any stroke under any attributes, so a translation can be scored
against the exact target. Each digit of a split is drawn `data.variants` times under independently drawn
attributes (colour uniform, the others with probability 1/2); the test split holds digits the train split
never shows (a seeded hold-out of `data.test_fraction` of the 1,797, before variants are drawn).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from gankit.data.base import DATASETS, DataInfo, TensorDataset, holdout_split
from gankit.data.transforms import resize

ATTRIBUTES = ("red", "green", "blue", "inverted", "thick", "rotated")
INK = (0, 1, 2)


def _morphology(ink: torch.Tensor, dilate: torch.Tensor) -> torch.Tensor:
    """Per image: 3x3 grey dilation where `dilate`, else 3x3 grey erosion. ink (N, 1, S, S) in [0, 1]."""
    dilated = F.max_pool2d(ink, 3, stride=1, padding=1)
    eroded = -F.max_pool2d(-ink, 3, stride=1, padding=1)
    return torch.where(dilate.view(-1, 1, 1, 1), dilated, eroded)


def render(strokes: torch.Tensor, attributes: torch.Tensor, size: int) -> torch.Tensor:
    """strokes (N, 1, 8, 8) in [0, 1], attributes (N, 6) in {0, 1} -> uint8 RGB images (N, 3, size, size)."""
    attributes = attributes.to(strokes.device).bool()
    ink = resize(strokes.float(), size).clamp(0, 1)  # (N, 1, S, S)
    ink = _morphology(ink, attributes[:, 4])
    ink = torch.where(attributes[:, 5].view(-1, 1, 1, 1), torch.rot90(ink, 1, (2, 3)), ink)
    colour = attributes[:, :3].float().view(-1, 3, 1, 1)  # one-hot ink colour
    plain = ink * colour  # coloured ink on black
    inverted = 1 - ink * (1 - colour)  # white paper, the ink keeps only its own channel
    image = torch.where(attributes[:, 3].view(-1, 1, 1, 1), inverted, plain)
    return (image * 255).round().clamp(0, 255).to(torch.uint8)


def random_attributes(n: int, generator: np.random.Generator) -> torch.Tensor:
    """(n, 6) float: a uniform ink colour and fair coins for inverted, thick and rotated."""
    values = np.zeros((n, len(ATTRIBUTES)), dtype=np.float32)
    values[np.arange(n), generator.integers(0, 3, n)] = 1
    values[:, 3:] = generator.integers(0, 2, (n, 3))
    return torch.from_numpy(values)


def info_for(size: int) -> DataInfo:
    return DataInfo(kind="image", shape=(3, size, size), num_classes=len(ATTRIBUTES), label_names=ATTRIBUTES,
                    labels="attributes", exclusive=(INK,))


@DATASETS.register("attr_digits")
def load_attr_digits(cfg, split) -> TensorDataset:
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    index = holdout_split(len(bunch.images), split, cfg.seed, cfg.test_fraction, cfg.test_count)
    index = np.repeat(index, cfg.variants)
    strokes = torch.from_numpy(bunch.images[index] / 16.0).float()[:, None]  # (N, 1, 8, 8) in [0, 1]
    generator = np.random.default_rng([cfg.seed, 0 if split == "train" else 1])
    attributes = random_attributes(len(index), generator)
    x = render(strokes, attributes, cfg.size)
    digit = torch.from_numpy(bunch.target[index]).long()
    return TensorDataset(x, info_for(cfg.size), attributes, {"digit": digit, "stroke": strokes})
