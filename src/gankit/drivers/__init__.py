"""Procedures over ordinary runs of the one loop, for families trained that way (`Family.driver` names one).

A driver is a `Driver`: `run(cfg, run_dir, progress, resume=False) -> summary dict` (steps, seconds, final_step,
it_per_s) owns the run directory it is given (already created, holding config.yaml, under the run's lock);
`check(cfg, run_dir, resume=False)` raises a user error (device, data, models; on resume a step total the run has
already passed) before anything in the run directory is written or removed, so a bad config never costs the run it
would replace or resumes."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gankit.drivers import boosting
from gankit.registry import Registry


@dataclass(frozen=True)
class Driver:
    run: Callable[..., dict]
    check: Callable[..., None]


DRIVERS: Registry = Registry("driver")
DRIVERS.register("boosting")(Driver(run=boosting.run_boosting, check=boosting.check_boosting))

__all__ = ["DRIVERS", "Driver"]
