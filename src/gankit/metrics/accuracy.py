"""Classification accuracy of a semi-supervised classifier on held-out labelled data."""
from __future__ import annotations

import numpy as np


def classification_scores(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Top-1 accuracy and the error count of (N, K) logits against (N,) integer labels."""
    if len(logits) != len(labels) or len(labels) == 0:
        raise ValueError(f"need as many logits as labels (> 0), got {len(logits)} and {len(labels)}")
    correct = int((np.asarray(logits).argmax(1) == np.asarray(labels)).sum())
    return {"accuracy": correct / len(labels), "errors": float(len(labels) - correct)}
