"""How fast a preset's convolutions run on their own: the ceiling of "% of peak" for a whole training step.

    python benchmarks/conv_ceiling.py wgan_gp_cifar10 [--set KEY=VALUE ...] [--repeats 5]

Records the input shape of every Conv2d / ConvTranspose2d of G and D in one forward pass at the preset's batch
size, then times each layer alone: forward, and forward + backward (input and weight gradients), best of
`--repeats`. FLOPs: 2 x multiply-adds forward, 3 x that with the backward pass (one product for the input
gradient, one for the weight gradient; G's first layer needs no input gradient, counted anyway). The summed
GFLOP/s of the layers, against the same peak `gankit bench` uses, bounds what a whole step can reach with these
kernels: a step also runs the norms, activations, losses, the penalty's double backward and Adam.
"""
from __future__ import annotations

import argparse

import torch
from torch import nn

from gankit.apps.bench import bench_data, best_seconds, matmul_peaks
from gankit.config import load_config
from gankit.families.gan import build_module

CPU = torch.device("cpu")


def layer_shapes(module: nn.Module, x: torch.Tensor, *args) -> list[tuple[nn.Module, torch.Size]]:
    """(layer, input shape) of every convolution, in call order, from one forward pass."""
    seen: list[tuple[nn.Module, torch.Size]] = []
    hooks = [m.register_forward_pre_hook(lambda m, inp: seen.append((m, inp[0].shape)))
             for m in module.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    with torch.no_grad():
        module(x, *args)
    for h in hooks:
        h.remove()
    return seen


def time_layer(layer: nn.Module, shape: torch.Size, repeats: int) -> tuple[float, float, float]:
    """(forward FLOPs, forward seconds, forward + backward seconds)."""
    x = torch.randn(shape, requires_grad=True)
    with torch.no_grad():
        y = layer(x)
    macs = y.numel() * layer.weight[0].numel() if isinstance(layer, nn.Conv2d) else x.numel() * layer.weight[0].numel()
    grad = torch.randn_like(y)

    def forward_backward():
        layer.zero_grad(set_to_none=True)
        x.grad = None
        layer(x).backward(grad)

    with torch.no_grad():
        forward = best_seconds(lambda: layer(x), CPU, repeats)
    return 2.0 * macs, forward, best_seconds(forward_backward, CPU, repeats)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cfg = load_config(args.preset, args.overrides)
    dataset, _ = bench_data(cfg, "auto")
    info = dataset.info
    n = cfg.train.batch_size
    G, D = build_module(cfg, info, "generator"), build_module(cfg, info, "discriminator")
    if cfg.family == "stargan":
        c = torch.zeros(n, info.num_classes)
        shapes = layer_shapes(G, torch.randn(n, *info.shape), c) + layer_shapes(D, torch.randn(n, *info.shape))
    else:
        shapes = layer_shapes(G, torch.randn(n, cfg.model.z_dim)) + layer_shapes(D, torch.randn(n, *info.shape))
    peak = max(matmul_peaks(CPU).values())
    print(f"{args.preset} {' '.join(args.overrides)}: {torch.get_num_threads()} threads, peak {peak:.0f} GFLOP/s\n")
    print("| layer | input | GFLOP/s forward | GFLOP/s forward + backward |")
    print("|---|---|---|---|")
    total_flops = total_fwd = total_fb = 0.0
    for layer, shape in shapes:
        flops, fwd, fb = time_layer(layer, shape, args.repeats)
        total_flops, total_fwd, total_fb = total_flops + flops, total_fwd + fwd, total_fb + fb
        name = f"{type(layer).__name__} {layer.in_channels}->{layer.out_channels} k{layer.kernel_size[0]} s{layer.stride[0]}"
        print(f"| {name} | {tuple(shape)} | {flops / fwd / 1e9:.0f} | {3 * flops / fb / 1e9:.0f} |")
    print(f"\nall convolutions: forward {total_flops / total_fwd / 1e9:.0f} GFLOP/s ({100 * total_flops / total_fwd / 1e9 / peak:.0f} % "
          f"of peak), forward + backward {3 * total_flops / total_fb / 1e9:.0f} GFLOP/s "
          f"({100 * 3 * total_flops / total_fb / 1e9 / peak:.0f} % of peak)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
