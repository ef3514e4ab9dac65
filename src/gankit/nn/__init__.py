"""Layers shared across families."""
from gankit.nn.norms import NORMS_1D, NORMS_2D

__all__ = ["NORMS_1D", "NORMS_2D"]
