"""What is trained: each family wires models and losses into discriminator/generator steps for the one
training loop (`gankit.train.loop`)."""
from gankit.families import adagan, gan, improved_gan, stargan  # noqa: F401  (registration)
from gankit.families.base import FAMILIES, Family, FamilyHooks, TrainStep

__all__ = ["FAMILIES", "Family", "FamilyHooks", "TrainStep"]
