"""Layers of "Improved Techniques for Training GANs" (Salimans et al. 2016), usable by any network:
Gaussian noise, minibatch discrimination (section 3.2) and virtual batch normalization (section 3.4)."""
from __future__ import annotations

import torch
from torch import Tensor, nn


class GaussianNoise(nn.Module):
    """x + N(0, std^2) while training; the identity in eval mode (the paper code's D: 0.3 on the input,
    0.5 on hidden layers)."""

    def __init__(self, std: float):
        super().__init__()
        self.std = std

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.std == 0:
            return x
        return x + self.std * torch.randn_like(x)

    def extra_repr(self) -> str:
        return f"std={self.std}"


class MinibatchDiscrimination(nn.Module):
    """Appends to each sample's features how close it is to the rest of its batch (paper eq. in 3.2).

    f (N, A) -> M = f T reshaped (N, B, C) for B kernels of C dimensions; c_b(i, j) = exp(-||M_ib - M_jb||_1);
    o(i)_b = sum over j != i of c_b(i, j); output [f, o] (N, A + B). A batch of identical samples gives
    o = N - 1 for every kernel, a batch of spread-out samples values near 0, which lets D see a collapse.
    """

    def __init__(self, in_features: int, kernels: int = 100, dims: int = 5, init_std: float = 0.05):
        super().__init__()
        self.kernels, self.dims = kernels, dims
        self.T = nn.Parameter(torch.randn(in_features, kernels * dims) * init_std)
        self.out_features = in_features + kernels

    def forward(self, f: Tensor) -> Tensor:
        m = (f @ self.T).view(-1, self.kernels, self.dims)  # (N, B, C)
        l1 = (m[:, None] - m[None]).abs().sum(-1)  # (N, N, B)
        closeness = torch.exp(-l1).sum(1) - 1.0  # (N, B): drop the j = i term, exp(0) = 1
        return torch.cat([f, closeness], dim=1)


class VirtualBatchNorm(nn.Module):
    """Batch norm whose statistics come from a fixed reference batch plus the example itself (section 3.4).

    The network is run on [reference rows; examples] (see `VirtualBatchGenerator`); the first
    `reference_size` rows give the reference moments, and example i is normalized with the moments of the
    reference batch and x_i together, weight 1/(R+1) for x_i. An example's output therefore depends on the
    reference and on itself, never on the other examples of its batch; train and eval behave the same.
    With `reference_size` 0 (called outside the wrapper) it normalizes by the batch's own moments.
    """

    def __init__(self, features: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.reference_size = 0
        self.weight = nn.Parameter(torch.ones(features))
        self.bias = nn.Parameter(torch.zeros(features))

    def forward(self, x: Tensor) -> Tensor:
        dims = [0] + list(range(2, x.dim()))  # all but the feature axis
        r = self.reference_size
        shape = [1, -1] + [1] * (x.dim() - 2)
        if r == 0:
            mean, meansq = x.mean(dims, keepdim=True), x.pow(2).mean(dims, keepdim=True)
        else:
            ref = x[:r]
            ref_mean, ref_meansq = ref.mean(dims, keepdim=True), ref.pow(2).mean(dims, keepdim=True)
            own = [d for d in dims if d != 0]  # each example's own moments over its spatial positions
            x_mean = x.mean(own, keepdim=True) if own else x
            x_meansq = x.pow(2).mean(own, keepdim=True) if own else x.pow(2)
            w = 1.0 / (r + 1)
            mean = (1 - w) * ref_mean + w * x_mean  # (N, F, 1, ...)
            meansq = (1 - w) * ref_meansq + w * x_meansq
            mean = torch.cat([ref_mean.expand_as(mean[:r]), mean[r:]])  # reference rows: reference moments
            meansq = torch.cat([ref_meansq.expand_as(meansq[:r]), meansq[r:]])
        var = (meansq - mean.pow(2)).clamp_min(0)
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight.view(shape) + self.bias.view(shape)


class VirtualBatchGenerator(nn.Module):
    """Runs `net` on [reference latents; z] with every VirtualBatchNorm told the reference size, and returns
    the rows of z. The reference latents are a fixed buffer, saved with the weights."""

    def __init__(self, net: nn.Module, reference_z: Tensor):
        super().__init__()
        self.net = net
        self.register_buffer("reference_z", reference_z)
        self._norms = [m for m in net.modules() if isinstance(m, VirtualBatchNorm)]

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        r = len(self.reference_z)
        for norm in self._norms:
            norm.reference_size = r
        try:
            out = self.net(torch.cat([self.reference_z.to(z.dtype), z]))
        finally:
            for norm in self._norms:
                norm.reference_size = 0
        return out[r:]


class MatmulConv2d(nn.Conv2d):
    """nn.Conv2d (same parameters, same numbers) computed as one matrix product over unfolded patches when the
    output has few positions: the batch's output positions (N x H_out x W_out) are the product's rows, so when
    they are few, e.g. StarGAN D's last layers (2,048 channels at 1x1 or 2x2 output), CPU convolution kernels run
    at 6-20 GFLOP/s where the matmul reaches several times that (`benchmarks/profile_step.py`). Everywhere else,
    and for grouped or non-zero-padded convolutions, it is the convolution."""

    max_rows = 256  # N x H_out x W_out up to which the matmul is used (measured: 256 wins, 1,024 loses)

    def forward(self, x: Tensor) -> Tensor:
        n, _, h, w = x.shape
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = self.kernel_size, self.stride, self.padding, self.dilation
        oh, ow = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        if (n * oh * ow > self.max_rows or self.groups != 1 or self.padding_mode != "zeros" or self.out_channels < 16
                or isinstance(self.padding, str)):
            return super().forward(x)
        if (oh, ow) == (1, 1) and (ph, pw) == (0, 0) and (h, w) == (kh, kw):
            rows = x.flatten(1)  # the kernel covers the whole map: no unfolding needed
        else:
            cols = torch.nn.functional.unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)
            rows = cols.transpose(1, 2).reshape(n * oh * ow, -1)
        out = torch.nn.functional.linear(rows, self.weight.flatten(1), self.bias)  # (N * L, O)
        return out.view(n, oh * ow, -1).transpose(1, 2).reshape(n, -1, oh, ow)


class WholeMapConv2d(MatmulConv2d):
    """StarGAN's attribute head: a kernel covering its whole input (1x1 output), always as the matmul."""

    max_rows = 1 << 62


def live_taps(size: int, kernel: int, stride: int, padding: int) -> tuple[int, int]:
    """First and last kernel tap (along one axis) that reads a real input pixel for some output position of a
    convolution over `size` inputs; the taps outside only ever multiply zero padding."""
    out = (size + 2 * padding - kernel) // stride + 1
    return max(0, padding - (out - 1) * stride), min(kernel - 1, size - 1 + padding)


class TapCroppedConv2d(MatmulConv2d):
    """A square convolution built for one input size with the kernel taps that only read zero padding cut away:
    on that size it computes what the full convolution computes, from a quarter of the weights when a 4x4
    stride-2 kernel meets a 2x2 map (StarGAN D's last layer at 64 px: 8.4 M weights instead of 33.5 M). The kept
    taps start as the full layer's initialization would have them (same fan-in, same random draws), and a state
    dict holding the full kernel loads by taking its live taps."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, padding: int, size: int,
                 bias: bool = True):
        first, last = live_taps(size, kernel, stride, padding)
        super().__init__(in_channels, out_channels, last - first + 1, stride, padding - first, bias=bias)
        self.full_kernel, self.first_tap = kernel, first
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if not hasattr(self, "full_kernel"):  # nn.Conv2d.__init__'s call, before the full kernel is known
            return
        out_channels, in_channels, k, _ = self.weight.shape
        full = nn.Conv2d(in_channels, out_channels, self.full_kernel, bias=self.bias is not None)  # its draws
        t = self.first_tap
        with torch.no_grad():
            self.weight.copy_(full.weight[:, :, t:t + k, t:t + k])
            if self.bias is not None:
                self.bias.copy_(full.bias)

    @staticmethod
    def crops(size: int, kernel: int, stride: int, padding: int) -> bool:
        """Whether cutting the dead taps leaves a convolution with symmetric padding and the same output size."""
        first, last = live_taps(size, kernel, stride, padding)
        k, pad = last - first + 1, padding - first
        out = (size + 2 * padding - kernel) // stride + 1
        return k < kernel and (size + 2 * pad - k) // stride + 1 == out

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        weight = state_dict.get(prefix + "weight")
        k = self.kernel_size[0]
        if weight is not None and weight.dim() == 4 and weight.shape[-1] == self.full_kernel != k:
            state_dict[prefix + "weight"] = weight[:, :, self.first_tap:self.first_tap + k,
                                                   self.first_tap:self.first_tap + k]
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def conv_for_size(in_channels: int, out_channels: int, kernel: int, stride: int, padding: int, size: int,
                  bias: bool = True, crop: bool = True) -> MatmulConv2d:
    """MatmulConv2d(in, out, kernel, stride, padding) for `size` x `size` inputs: with `crop`, a TapCroppedConv2d
    where some taps only read padding, else the layer itself."""
    if crop and TapCroppedConv2d.crops(size, kernel, stride, padding):
        return TapCroppedConv2d(in_channels, out_channels, kernel, stride, padding, size, bias)
    return MatmulConv2d(in_channels, out_channels, kernel, stride, padding, bias=bias)
