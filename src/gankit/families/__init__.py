"""What is trained: each family wires models and losses into discriminator/generator steps for the one
training loop (`gankit.train.loop`)."""
from gankit.families import adagan, gan  # noqa: F401  (registration)
from gankit.families.base import FAMILIES, Family, TrainStep

__all__ = ["FAMILIES", "Family", "TrainStep"]
