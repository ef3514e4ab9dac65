"""Scores of an attribute translation (StarGAN): pure functions of a scorer's outputs and the targets."""
from __future__ import annotations

import numpy as np


def group_name(names: tuple[str, ...]) -> str:
    """A readable name for an exclusive group: 'colour' for ink colours, 'hair' for CelebA's hair colours."""
    if set(names) <= {"red", "green", "blue"}:
        return "colour"
    if all(n.endswith("_Hair") for n in names):
        return "hair"
    return "+".join(names)


def attribute_scores(logits: np.ndarray, target: np.ndarray, names: tuple[str, ...],
                     exclusive: tuple[tuple[int, ...], ...] = ()) -> dict[str, float]:
    """Per-attribute accuracy of (N, A) attribute logits against (N, A) 0/1 targets, and the share of items with
    every attribute right. An exclusive group counts as one attribute, right when its arg-max is the target's."""
    logits, target = np.asarray(logits), np.asarray(target) > 0.5
    right, scores = [], {}
    grouped = {i for group in exclusive for i in group}
    for group in exclusive:
        ok = logits[:, list(group)].argmax(1) == target[:, list(group)].argmax(1)
        scores[f"acc_{group_name(tuple(names[i] for i in group))}"] = float(ok.mean())
        right.append(ok)
    for i, name in enumerate(names):
        if i not in grouped:
            ok = (logits[:, i] > 0) == target[:, i]
            scores[f"acc_{name}"] = float(ok.mean())
            right.append(ok)
    scores["all_correct"] = float(np.logical_and.reduce(right).mean())
    return scores
