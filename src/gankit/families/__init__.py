"""What is trained: one package per family (gan, improved_gan, stargan, adagan), each registered in `FAMILIES`
behind the contract of `gankit.families.base`."""
from gankit.families import adagan, gan, improved_gan, stargan  # noqa: F401  (registration)
from gankit.families.base import FAMILIES, ExportInterface, Family, ScoredGenerator, TrainStep

__all__ = ["FAMILIES", "ExportInterface", "Family", "ScoredGenerator", "TrainStep"]
