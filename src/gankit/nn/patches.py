"""Convolutions over few output positions as one matrix product over their patches (im2col), on the CPU.

A 5x5 stride-2 convolution from 8x8 to 4x4 maps (DCGAN's last critic layer, its generator's first transposed
layer) leaves oneDNN's CPU kernels little to tile: on an AMX CPU in bf16 the critic's [128, 256, 8, 8] ->
[128, 512, 4, 4] layer ran forward at 420 GFLOP/s and its weight gradient at 115, where the same multiply-adds as
one (2048 x 6400) x (6400 x 512) matrix product run at ~1,000 (`BENCHMARKS.md`, issue 24). Here the patches are
gathered channels-last (one copy), multiplied once, and scattered back (col2im) by k x k strided adds. Im2col and
Col2im are each other's adjoints and each backward is the other's forward, so gradients of any order (the gradient
penalty's double backward) stay matrix products. Same parameters and state-dict keys as nn.Conv2d /
nn.ConvTranspose2d and the same function (equal to 1e-10 in float64; other rounding in fp32 / bf16, since the sums
run in another order: `tests/nn/test_patches.py`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

MAX_POSITIONS = 16  # output positions per image (4x4) up to which the matrix product is used; measured in BENCHMARKS
MIN_MACS = 250_000_000  # and multiply-adds per call from which it is: below, the k x k adds of col2im cost more
# than they save (the demo's 16-px critic, 0.1 G per call: 0.034 s/iteration against 0.024 with the convolutions)


class Im2col(torch.autograd.Function):
    """(N, Hp, Wp, C) padded channels-last maps -> (N, oh, ow, k, k, C): the k x k patch of each output position."""

    @staticmethod
    def forward(xp: Tensor, k: int, s: int, oh: int, ow: int) -> Tensor:
        return xp.unfold(1, k, s).unfold(2, k, s)[:, :oh, :ow].permute(0, 1, 2, 4, 5, 3).contiguous()

    @staticmethod
    def setup_context(ctx, inputs, output):  # separate from forward: torch.func (the penalties' vjp) needs it so
        xp, k, s, _, _ = inputs
        ctx.meta = (tuple(xp.shape), k, s)

    @staticmethod
    def backward(ctx, grad: Tensor):
        shape, k, s = ctx.meta
        return Col2im.apply(grad, shape, k, s), None, None, None, None


class Col2im(torch.autograd.Function):
    """(N, oh, ow, k, k, C) patches -> (N, *shape[1:]) maps, each patch added back where Im2col took it from."""

    @staticmethod
    def forward(cols: Tensor, shape: tuple[int, ...], k: int, s: int) -> Tensor:
        oh, ow = cols.shape[1:3]
        out = cols.new_zeros(shape)
        for i in range(k):
            for j in range(k):
                out[:, i:i + s * (oh - 1) + 1:s, j:j + s * (ow - 1) + 1:s] += cols[:, :, :, i, j]
        return out

    @staticmethod
    def setup_context(ctx, inputs, output):
        cols, _, k, s = inputs
        ctx.meta = (k, s, *cols.shape[1:3])

    @staticmethod
    def backward(ctx, grad: Tensor):
        k, s, oh, ow = ctx.meta
        return Im2col.apply(grad, k, s, oh, ow), None, None, None


def _autocast(t: Tensor | None) -> Tensor | None:
    """t in the autocast dtype when autocast is on (matmul would cast it anyway; the patches are then half the size)."""
    if t is not None and torch.is_autocast_enabled(t.device.type):
        return t.to(torch.get_autocast_dtype(t.device.type))
    return t


def _tracing() -> bool:
    """Exporting or compiling (ONNX via torch.export, TorchScript tracing, torch.compile): the graph keeps the plain
    convolution, which every backend knows; the patch product is an eager-mode speed-up."""
    exporting = getattr(torch.compiler, "is_exporting", lambda: False)
    return torch.jit.is_tracing() or torch.compiler.is_compiling() or exporting()


def _square(conv: nn.Module) -> bool:
    """The layer is one this module computes: square kernel, stride and padding, zero padding, no groups/dilation."""
    return (conv.groups == 1 and conv.padding_mode == "zeros" and not isinstance(conv.padding, str)
            and len({*conv.kernel_size}) == len({*conv.stride}) == len({*conv.padding}) == 1
            and conv.dilation == (1, 1))


class PatchConv2d(nn.Conv2d):
    """nn.Conv2d computed as patches x weights on the CPU when the output has at most `max_positions` per image;
    elsewhere (larger maps, CUDA, other padding) the convolution itself. `self.weight` is read once per call, so a
    spectral norm's power iteration runs once per forward pass, as on nn.Conv2d."""

    max_positions = MAX_POSITIONS  # 0: always the convolution

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        k, s, p = self.kernel_size[0], self.stride[0], self.padding[0]
        oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        if (_tracing() or x.device.type != "cpu" or oh * ow > self.max_positions  # tracing first: no guard on n
                or n * oh * ow * self.in_channels * self.out_channels * k * k < MIN_MACS or not _square(self)):
            return super().forward(x)
        x, weight, bias = _autocast(x), _autocast(self.weight), _autocast(self.bias)
        xp = F.pad(x.permute(0, 2, 3, 1), (0, 0, p, (ow - 1) * s + k - w - p, p, (oh - 1) * s + k - h - p))
        rows = Im2col.apply(xp, k, s, oh, ow).view(n * oh * ow, k * k * c)
        out = F.linear(rows, weight.permute(0, 2, 3, 1).reshape(self.out_channels, -1), bias)
        return out.view(n, oh, ow, -1).permute(0, 3, 1, 2)  # NCHW with channels-last strides


class PatchConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d computed as inputs x weights, then col2im, on the CPU when the input has at most
    `max_positions` per image; elsewhere the transposed convolution itself."""

    max_positions = MAX_POSITIONS

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
        n, c, h, w = x.shape
        k, s, p = self.kernel_size[0], self.stride[0], self.padding[0]
        op = self.output_padding[0]
        oh, ow = (h - 1) * s - 2 * p + k + op, (w - 1) * s - 2 * p + k + op
        full = ((h - 1) * s + k, (w - 1) * s + k)  # every position a patch reaches, before the padding is cut
        if (_tracing() or x.device.type != "cpu" or h * w > self.max_positions
                or n * h * w * self.in_channels * self.out_channels * k * k < MIN_MACS or output_size is not None
                or not _square(self)
                or len({*self.output_padding}) != 1 or p + oh > full[0] or p + ow > full[1]):
            return super().forward(x, output_size)
        x, weight, bias = _autocast(x), _autocast(self.weight), _autocast(self.bias)
        cols = x.permute(0, 2, 3, 1).reshape(n * h * w, c) @ weight.permute(0, 2, 3, 1).reshape(c, -1)
        maps = Col2im.apply(cols.view(n, h, w, k, k, self.out_channels), (n, *full, self.out_channels), k, s)
        out = maps[:, p:p + oh, p:p + ow]
        if bias is not None:
            out = out + bias
        return out.permute(0, 3, 1, 2)  # NCHW with channels-last strides
