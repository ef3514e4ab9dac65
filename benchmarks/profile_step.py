"""Where a preset's D and G steps spend their time: torch.profiler over a few steps of each, top operators by
self CPU (or CUDA) time, with the FLOP rate of the ones torch counts.

    python benchmarks/profile_step.py stargan_celeba --set data.size=64 [--steps 2] [--top 15] [--device cpu]
"""
from __future__ import annotations

import argparse
import sys
import tempfile

from torch.profiler import ProfilerActivity, profile


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--steps", type=int, default=2, help="profiled steps of each kind")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args()

    from gankit.apps.bench import bench_data
    from gankit.config import load_config, replace
    from gankit.train.loop import Trainer

    cfg = replace(load_config(args.preset, args.overrides + [f"train.device={args.device}"]),
                  {"eval.every": 0, "eval.schedule": "train"})  # as gankit bench: no evaluator, no Inception weights
    dataset, _ = bench_data(cfg, "auto")
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, tmp, progress=False, data=dataset)
    trainer.iteration()  # warm-up
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if args.device == "cuda" else [])
    sort = "self_cuda_time_total" if args.device == "cuda" else "self_cpu_time_total"
    for spec, opt in zip(trainer.train_steps, trainer.optimizers):
        trainer.select(spec)
        with profile(activities=activities, with_flops=True, record_shapes=True) as prof:
            for _ in range(args.steps):
                trainer.train_step(spec, opt)
        print(f"\n=== {spec.name} step x {args.steps} ({cfg.name} {' '.join(args.overrides)})")
        print(prof.key_averages(group_by_input_shape=True).table(sort_by=sort, row_limit=args.top, max_name_column_width=40,
                                                                  max_shapes_column_width=60))
    return 0


if __name__ == "__main__":
    sys.exit(main())
