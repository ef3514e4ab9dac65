"""Procedures over ordinary runs of the one loop, for families trained that way (`Family.driver` names one).

A driver is `driver(cfg, run_dir, progress, resume=False) -> summary dict` (steps, seconds, final_step, it_per_s):
it owns the run directory it is given (already created, holding config.yaml, under the run's lock)."""
from gankit.drivers import boosting
from gankit.registry import Registry

DRIVERS: Registry = Registry("driver")
DRIVERS.register("boosting")(boosting.run_boosting)

__all__ = ["DRIVERS"]
