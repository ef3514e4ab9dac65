"""Coverage per class (mode coverage on a labelled dataset): the coverage of Naeem et al. (2020) measured within
each class of the reference. A reference item of class c is covered when at least one sample lies inside its
k-NN ball, the radius taken among the items of class c alone; class c's coverage is the share of its items
covered. A generator that drops a class scores ~0 on it however well it covers the rest, which the pooled
coverage (and FD) averages away. Classes come from the domain classifier's labels of the reference items."""
from __future__ import annotations

import numpy as np
import torch

from gankit.metrics.prdc import _as_tensor, _inside_any, knn_radii


def class_coverage(real_features, real_labels, fake_features, k: int = 5) -> np.ndarray:
    """(K,) coverage of each class 0..K-1 present in `real_labels` by all of `fake_features` (NaN for an absent class)."""
    real, fake = _as_tensor(real_features), _as_tensor(fake_features)
    labels = torch.as_tensor(np.asarray(real_labels))
    scores = np.full(int(labels.max()) + 1, np.nan)
    for c in labels.unique().tolist():
        members = real[labels == c]
        if len(members) <= k:
            raise ValueError(f"class {c} has {len(members)} reference items; per-class coverage with k={k} needs more than {k}")
        holds = _inside_any(fake, members, knn_radii(members, k))[2]
        scores[c] = float(holds.double().mean())
    return scores
