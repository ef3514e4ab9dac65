"""Each fast path's effect on one preset's training iteration, measured with `gankit bench` in a fresh process
per variant (so a patched function cannot leak into the next).

    python benchmarks/optimizations.py PRESET [--set KEY=VALUE ...] [--steps N] [--variants a,b] [--out FILE.md]

Variants: `shipped` (as gankit trains), and one change each — `adam_foreach` (torch's multi-tensor Adam instead of
the fused one), `sync_each_step` (read every loss back to the host after every step, as `.item()` logging does),
`cls_as_conv` (StarGAN's 1x1-output attribute head as the convolution instead of a matmul), `channels_last`,
`bf16` (autocast), `compile` (train.compile; its compile time is the first iteration's), `conv_not_matmul`
(StarGAN D's few-row convolutions as convolutions, not matmuls over patches), `d_separate` (StarGAN D runs real and
fake batches in two passes), `jemalloc` (the process under jemalloc with page purging off, via LD_PRELOAD: no page
faults for large tensors freed and allocated again every step), `full_kernel` (StarGAN D keeps the kernel taps that
only ever read zero padding, e.g. 12 of 16 in the last layer at 64 px), `instance_norm` (torch's InstanceNorm2d
instead of gankit's GroupNorm with one group per channel).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

SETTINGS = {"channels_last": ["train.channels_last=true"], "bf16": ["train.precision=bf16"],
            "compile": ["train.compile=true"]}
VARIANTS = ["shipped", "adam_foreach", "sync_each_step", "cls_as_conv", "conv_not_matmul", "d_separate", "full_kernel",
            "instance_norm", "jemalloc", "channels_last", "bf16", "compile"]
JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"  # Debian's libjemalloc2
ENV = {"jemalloc": {"LD_PRELOAD": JEMALLOC, "MALLOC_CONF": "dirty_decay_ms:-1,muzzy_decay_ms:-1"}}


def patch(variant: str) -> None:
    import torch
    from torch import nn

    if variant == "adam_foreach":
        adam = torch.optim.Adam

        def foreach_adam(params, **kwargs):
            return adam(params, **{**kwargs, "fused": False, "foreach": True})

        torch.optim.Adam = foreach_adam
    elif variant == "sync_each_step":
        from gankit.train.logger import LossMeter

        add = LossMeter.add

        def syncing(self, logs):
            add(self, {k: torch.tensor(v.item()) for k, v in logs.items()})

        LossMeter.add = syncing
    elif variant == "cls_as_conv":
        from gankit.nn.layers import WholeMapConv2d

        WholeMapConv2d.forward = nn.Conv2d.forward
    elif variant == "conv_not_matmul":
        from gankit.nn.layers import MatmulConv2d

        MatmulConv2d.max_rows = 0
    elif variant == "instance_norm":
        from gankit.nn.norms import NORMS_2D

        NORMS_2D._items["instance"] = lambda channels: nn.InstanceNorm2d(channels, affine=True)
    elif variant == "full_kernel":
        from gankit.nn.layers import TapCroppedConv2d

        TapCroppedConv2d.crops = staticmethod(lambda *args: False)
    elif variant == "d_separate":
        from gankit.families.stargan import StarGAN

        StarGAN.joint_d_batch = False


def run_variant(args) -> None:
    from gankit.apps.bench import bench
    from gankit.config import load_config

    patch(args.variant)
    cfg = load_config(args.preset, args.overrides + SETTINGS.get(args.variant, []) + [f"train.device={args.device}"])
    print(json.dumps(bench(cfg, args.steps, args.warmup, args.repeats, "auto")))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--variant", help=argparse.SUPPRESS)  # internal: run one variant in this process
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.variant:
        run_variant(args)
        return 0
    rows = ["| variant | s/iter | vs shipped | ms/D step | ms/G step | GFLOP/s | of peak |", "|---|---|---|---|---|---|---|"]
    base = None
    for variant in args.variants.split(","):
        cmd = [sys.executable, __file__, args.preset, "--variant", variant, "--steps", str(args.steps), "--warmup",
               str(args.warmup), "--repeats", str(args.repeats), "--device", args.device,
               *[a for o in args.overrides for a in ("--set", o)]]
        if variant == "jemalloc" and not Path(JEMALLOC).is_file():
            rows.append(f"| {variant} | skipped: {JEMALLOC} missing (apt-get install libjemalloc2) |")
            continue
        done = subprocess.run(cmd, text=True, capture_output=True, env={**os.environ, **ENV.get(variant, {})})
        if done.returncode != 0:
            rows.append(f"| {variant} | failed: {(done.stderr.strip().splitlines() or ['?'])[-1][:100]} |")
            print(rows[-1], flush=True)
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        base = base or r["s_per_iter"]
        ms = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
        extra = f" (first iteration {r['first_iteration_s']:.1f} s)" if variant == "compile" else ""
        rows.append(f"| {variant}{extra} | {r['s_per_iter']:.4f} | {base / r['s_per_iter']:.2f}x | {ms(r['ms_per_d_step'])} | "
                    f"{ms(r['ms_per_g_step'])} | {r['gflops_per_s']:.1f} | {100 * r['peak_fraction']:.0f} % |")
        print(rows[-1], flush=True)
    head = f"{args.preset} {' '.join(args.overrides)} on {args.device}, median of {args.repeats} x {args.steps} iterations"
    text = head + "\n\n" + "\n".join(rows) + "\n"
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
