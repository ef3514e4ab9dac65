"""Bench every card preset at the card's batch and image size with `gankit bench` and write a Markdown table.

    python benchmarks/bench_presets.py [--device cpu|cuda] [--out benchmarks/results/bench-cpu.md] [--only NAME ...]
        [--set KEY=VALUE ...]   (applied to every preset, e.g. train.channels_last=true)
        [--precisions fp32 bf16] [--threads 1 2]   (a row per preset, precision and thread count)

Each row is one `gankit bench` (median of 3 timed runs) in its own process, so one preset's memory and threads
do not colour the next. The JSON of every row is kept beside the table.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

# (row name, preset, extra overrides, timed iterations per run): the cards' batch and image sizes.
CARD_PRESETS = [
    ("WGAN-GP CIFAR-10 (DCGAN 128)", "wgan_gp_cifar10", [], 3),
    ("compare_gan ResNet CIFAR-10", "compare_gan_resnet_cifar10", [], 2),
    ("StarGAN CelebA 128 px", "stargan_celeba", [], 1),
    ("StarGAN CelebA 64 px", "stargan_celeba", ["data.size=64"], 1),
    ("Improved-GAN card (conv, 28 px)", "improved_gan_mnist_card", [], 10),
    ("Improved-GAN paper (MLP, MNIST)", "improved_gan_mnist", [], 20),
    ("AdaGAN GMM (one component)", "adagan_gmm10", [], 50),
    ("WGAN-GP toy 8 Gaussians", "wgan_gp_toy_8gaussians", [], 20),
]


def row(name: str, r: dict) -> str:
    ms = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
    return (f"| {name} | {r['precision']} | {r['threads']} | {r['batch_size']} | {'x'.join(map(str, r['shape']))} | "
            f"{r['s_per_iter']:.4f} | "
            f"{ms(r['ms_per_d_step'])} | {ms(r['ms_per_g_step'])} | {r['images_per_s']:.0f} | "
            f"{r['flops_per_iter'] / 1e9:.2f} | {r['gflops_per_s']:.1f} | {100 * r['peak_fraction']:.0f} % | "
            f"{r['peak_memory_mib']:.0f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/bench-cpu.md"))
    parser.add_argument("--only", nargs="*", help="row names or presets to run (default: all)")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every preset's timed iterations")
    parser.add_argument("--precisions", nargs="+", default=[None], help="train.precision values (default: the preset's)")
    parser.add_argument("--threads", nargs="+", type=int, default=[None], help="thread counts (default: the policy's)")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    lines = ["| preset | precision | threads | batch | item | s/iter | ms/D step | ms/G step | images/s | GFLOP/iter | GFLOP/s "
             "| of its precision's peak | peak MiB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    results = []
    matrix = [(p, t) for p in args.precisions for t in args.threads]
    for name, preset, extra, steps in CARD_PRESETS:
        if args.only and name not in args.only and preset not in args.only:
            continue
        for precision, threads in matrix:
            tag = "".join(f"-{v}" for v in (precision, threads and f"t{threads}") if v)
            json_path = args.out.with_suffix("") / f"{name.replace(' ', '_').replace('/', '-')}{tag}.json"
            sets = [a for o in extra + args.overrides + ([f"train.precision={precision}"] if precision else [])
                    for a in ("--set", o)]
            cmd = [sys.executable, "-m", "gankit", "bench", preset, "--device", args.device, "--steps",
                   str(max(1, round(steps * args.scale))), "--warmup", "1", "--json", str(json_path), *sets,
                   *(["--threads", str(threads)] if threads else [])]
            print("$", " ".join(cmd[2:]), flush=True)
            done = subprocess.run(cmd, text=True, capture_output=True)
            print(done.stdout + done.stderr, flush=True)
            if done.returncode != 0:
                why = (done.stderr.strip().splitlines() or ['?'])[-1][:120]
                lines.append(f"| {name} | {precision or '-'} | {threads or '-'} | failed: {why} |" + " |" * 10)
                continue
            r = json.loads(json_path.read_text())
            results.append({"name": name, **r})
            lines.append(row(name, r))
    if results:
        r = results[0]
        peaks = "; ".join(f"{x['peaks']['fp32']:.0f} / {x['peaks']['bf16']:.0f}" for x in results)
        kernels = r.get("kernels", {})
        settings = f" Settings: {' '.join(args.overrides)}." if args.overrides else ""
        lines += ["", f"{r['device_name']}, torch {r['torch']}, {r['date']}; bf16 units: {r.get('bf16_units') or 'none'}"
                      + (f" (oneDNN: {kernels.get('isa')}; conv kernels {kernels.get('fp32')} / {kernels.get('bf16')})"
                         if kernels else "")
                      + "; peak = the fastest dense product in the same process, best of 5 each: torch.matmul and, on "
                      f"CPU, oneDNN's 1x1 (NCHW, NHWC) and 3x3 (NHWC) convolutions (`gankit.apps.bench.matmul_peaks`; "
                      f"fp32 / bf16 per row: {peaks} GFLOP/s).{settings}"]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
