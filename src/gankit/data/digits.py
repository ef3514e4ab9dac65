"""scikit-learn's bundled handwritten digits (1,797 images, 8x8, values 0-16): the embedded default.

There is no official test split; a seeded `data.test_fraction` of the images is held out.
"""
from __future__ import annotations

import torch

from gankit.data.base import DATASETS, DataInfo, TensorDataset, holdout_split
from gankit.data.transforms import convert_channels, resize


@DATASETS.register("digits")
def load_digits(cfg, split) -> TensorDataset:
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    index = holdout_split(len(bunch.images), split, cfg.seed, cfg.test_fraction, cfg.test_count)
    # 0..16 -> 0..255 in float, resized before rounding so upsampling keeps the grey levels.
    x = torch.from_numpy(bunch.images[index]).float().mul(255.0 / 16.0)[:, None]  # (N, 1, 8, 8)
    x = convert_channels(resize(x, cfg.size), cfg.channels).round().clamp(0, 255).to(torch.uint8)
    y = torch.from_numpy(bunch.target[index]).long()
    info = DataInfo(kind="image", shape=tuple(x.shape[1:]), num_classes=10,
                    label_names=tuple(str(d) for d in range(10)), labels="class")
    return TensorDataset(x, info, y)
