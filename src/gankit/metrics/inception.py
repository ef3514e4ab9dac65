"""The FID Inception-v3 network: TensorFlow's "inception-2015-12-05" graph (`classify_image_graph_def.pb`,
Szegedy et al. 2016, "Rethinking the Inception Architecture", as used by Heusel et al. 2017 for FID and by
Salimans et al. 2016 for the Inception Score), re-implemented in PyTorch.

What matches torch-fidelity (`feature_extractor_inceptionv3.py`, itself a port of pytorch-fid's
FIDInceptionA/C/E blocks):
- the state-dict layout, so torch-fidelity's `weights-inception-2015-12-05-6726825d.pth` loads strictly
  (pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` carries the same hash tag and key names): conv without
  bias + BatchNorm(eps=0.001) + ReLU per unit, `fc` 2048->1008;
- the TF graph's pooling quirks: 3x3 average pools that ignore padding (`count_include_pad=False`) in the
  A, C and first E blocks, a 3x3 *max* pool in the pool branch of the last E block (Mixed_7c);
- preprocessing: uint8 -> float32, TF1 `resize_bilinear` (align_corners=False, no half-pixel offset) to
  299x299, then (x - 128) / 128;
- outputs: "pool3" (torch-fidelity's "2048", the FID/KID/PRC feature), "logits_unbiased" (fc without bias,
  torch-fidelity's Inception Score input) and "logits" (with bias).
Weights are never downloaded: `resolve_weights_path` says where to put the file.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import re
import struct
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.errors import ConfigError

WEIGHTS_FILENAME = "weights-inception-2015-12-05-6726825d.pth"
WEIGHTS_ENV_VAR = "GANKIT_INCEPTION_WEIGHTS"
INPUT_SIZE = 299


def resize_bilinear_tf1(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resize of (N, C, H, W) floats to `size` = (h, w) as TF1's `tf.image.resize_bilinear` with
    align_corners=False: source coordinate = dst * (in / out) in float32, no half-pixel offset, the upper
    neighbour clamped to the last row/column. Same arithmetic order as TF1 (and torch-fidelity's 'slow'
    path): horizontal lerps first, then vertical."""
    if x.dim() != 4 or not torch.is_floating_point(x):
        raise ValueError(f"expected a floating (N, C, H, W) tensor, got {x.dtype} of shape {tuple(x.shape)}")
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"expected size (height, width) of positive ints, got {size}")
    out_h, out_w = int(size[0]), int(size[1])
    lo_y, hi_y, frac_y = _source_grid(x.shape[2], out_h, x.device)
    lo_x, hi_x, frac_x = _source_grid(x.shape[3], out_w, x.device)
    frac_x, frac_y = frac_x.to(x.dtype), frac_y.to(x.dtype)
    left, right = x.index_select(3, lo_x), x.index_select(3, hi_x)  # (N, C, H, w)
    rows = left + (right - left) * frac_x  # (N, C, H, w)
    top, bottom = rows.index_select(2, lo_y), rows.index_select(2, hi_y)  # (N, C, h, w)
    return top + (bottom - top) * frac_y[:, None]  # (N, C, h, w)


def _source_grid(in_size: int, out_size: int, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    # TF1 computes the scale and the source coordinates in float32; truncation = floor for coords >= 0.
    scale = torch.tensor(in_size / out_size, dtype=torch.float32, device=device)
    source = torch.arange(out_size, dtype=torch.float32, device=device) * scale
    lower = source.long()
    upper = (lower + 1).clamp_max(in_size - 1)
    return lower, upper, source - lower.float()


class ConvBN(nn.Module):
    """conv (no bias) -> BatchNorm(eps=1e-3, TF's epsilon) -> ReLU: the graph's unit, named as the weights."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


def _avg_pool_3x3(x: Tensor) -> Tensor:
    # TF's SAME average pool divides by the number of real (non-padding) pixels in the window.
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class MixedA(nn.Module):
    """35x35 block (Mixed_5b..5d): 1x1 | 1x1->5x5 | 1x1->3x3->3x3 | avgpool->1x1."""

    def __init__(self, in_channels: int, pool_features: int):
        super().__init__()
        self.branch1x1 = ConvBN(in_channels, 64, 1)
        self.branch5x5_1 = ConvBN(in_channels, 48, 1)
        self.branch5x5_2 = ConvBN(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = ConvBN(in_channels, 64, 1)
        self.branch3x3dbl_2 = ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBN(96, 96, 3, padding=1)
        self.branch_pool = ConvBN(in_channels, pool_features, 1)

    def forward(self, x: Tensor) -> Tensor:  # (N, C, 35, 35) -> (N, 224 + pool_features, 35, 35)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        pool = self.branch_pool(_avg_pool_3x3(x))
        return torch.cat([self.branch1x1(x), b5, b3, pool], dim=1)


class MixedB(nn.Module):
    """Grid reduction 35 -> 17 (Mixed_6a): 3x3/2 | 1x1->3x3->3x3/2 | maxpool/2."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.branch3x3 = ConvBN(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = ConvBN(in_channels, 64, 1)
        self.branch3x3dbl_2 = ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBN(96, 96, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:  # (N, 288, 35, 35) -> (N, 768, 17, 17)
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        pool = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([self.branch3x3(x), b3, pool], dim=1)


class MixedC(nn.Module):
    """17x17 block with factorised 7x7 convolutions (Mixed_6b..6e)."""

    def __init__(self, in_channels: int, channels_7x7: int):
        super().__init__()
        c = channels_7x7
        self.branch1x1 = ConvBN(in_channels, 192, 1)
        self.branch7x7_1 = ConvBN(in_channels, c, 1)
        self.branch7x7_2 = ConvBN(c, c, (1, 7), padding=(0, 3))
        self.branch7x7_3 = ConvBN(c, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = ConvBN(in_channels, c, 1)
        self.branch7x7dbl_2 = ConvBN(c, c, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = ConvBN(c, c, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = ConvBN(c, c, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = ConvBN(c, 192, (1, 7), padding=(0, 3))
        self.branch_pool = ConvBN(in_channels, 192, 1)

    def forward(self, x: Tensor) -> Tensor:  # (N, 768, 17, 17) -> (N, 768, 17, 17)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        b7dbl = x
        for unit in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                     self.branch7x7dbl_5):
            b7dbl = unit(b7dbl)
        pool = self.branch_pool(_avg_pool_3x3(x))
        return torch.cat([self.branch1x1(x), b7, b7dbl, pool], dim=1)


class MixedD(nn.Module):
    """Grid reduction 17 -> 8 (Mixed_7a): 1x1->3x3/2 | 1x1->1x7->7x1->3x3/2 | maxpool/2."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.branch3x3_1 = ConvBN(in_channels, 192, 1)
        self.branch3x3_2 = ConvBN(192, 320, 3, stride=2)
        self.branch7x7x3_1 = ConvBN(in_channels, 192, 1)
        self.branch7x7x3_2 = ConvBN(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = ConvBN(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = ConvBN(192, 192, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:  # (N, 768, 17, 17) -> (N, 1280, 8, 8)
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        pool = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([b3, b7, pool], dim=1)


class MixedE(nn.Module):
    """8x8 block with split 1x3/3x1 heads (Mixed_7b, Mixed_7c). The TF graph pools with a padding-excluding
    average in Mixed_7b but with a max pool in Mixed_7c (`max_pool=True`), unlike the paper."""

    def __init__(self, in_channels: int, max_pool: bool):
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = ConvBN(in_channels, 320, 1)
        self.branch3x3_1 = ConvBN(in_channels, 384, 1)
        self.branch3x3_2a = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = ConvBN(in_channels, 448, 1)
        self.branch3x3dbl_2 = ConvBN(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = ConvBN(in_channels, 192, 1)

    def forward(self, x: Tensor) -> Tensor:  # (N, C, 8, 8) -> (N, 2048, 8, 8)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], dim=1)  # (N, 768, 8, 8)
        b3dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        b3dbl = torch.cat([self.branch3x3dbl_3a(b3dbl), self.branch3x3dbl_3b(b3dbl)], dim=1)  # (N, 768, 8, 8)
        if self.max_pool:
            pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        else:
            pooled = _avg_pool_3x3(x)
        return torch.cat([self.branch1x1(x), b3, b3dbl, self.branch_pool(pooled)], dim=1)


class FIDInceptionV3(nn.Module):
    """uint8 images (N, 3, H, W) -> {"pool3": (N, 2048), "logits_unbiased": (N, 1008), "logits": (N, 1008)}.

    Built with PyTorch's default (random) initialisation; use `load_inception` for the real weights.
    """

    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = ConvBN(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = ConvBN(32, 32, 3)
        self.Conv2d_2b_3x3 = ConvBN(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = ConvBN(64, 80, 1)
        self.Conv2d_4a_3x3 = ConvBN(80, 192, 3)
        self.Mixed_5b = MixedA(192, pool_features=32)
        self.Mixed_5c = MixedA(256, pool_features=64)
        self.Mixed_5d = MixedA(288, pool_features=64)
        self.Mixed_6a = MixedB(288)
        self.Mixed_6b = MixedC(768, channels_7x7=128)
        self.Mixed_6c = MixedC(768, channels_7x7=160)
        self.Mixed_6d = MixedC(768, channels_7x7=160)
        self.Mixed_6e = MixedC(768, channels_7x7=192)
        self.Mixed_7a = MixedD(768)
        self.Mixed_7b = MixedE(1280, max_pool=False)
        self.Mixed_7c = MixedE(2048, max_pool=True)
        self.fc = nn.Linear(2048, 1008)  # the graph's softmax layer has 1008 outputs, not 1000
        self.weights_sha256: str | None = None  # set by load_inception; part of every score's protocol

    @torch.no_grad()  # uint8 input: nothing here is ever differentiated
    def forward(self, images: Tensor) -> dict[str, Tensor]:
        if not (isinstance(images, Tensor) and images.dtype == torch.uint8 and images.dim() == 4
                and images.shape[1] == 3 and images.shape[2] > 0 and images.shape[3] > 0):
            got = f"{images.dtype} tensor of shape {tuple(images.shape)}" if isinstance(images, Tensor) \
                else type(images).__name__
            raise ValueError(f"FIDInceptionV3 expects uint8 images of shape (N, 3, H, W) in [0, 255], got {got}")
        x = images.to(device=self.fc.weight.device, dtype=torch.float32)  # (N, 3, H, W)
        x = resize_bilinear_tf1(x, (INPUT_SIZE, INPUT_SIZE))  # (N, 3, 299, 299)
        x = (x - 128) / 128  # the graph multiplies by 1/128 = 0.0078125, bit-identical to this division
        x = self.Conv2d_1a_3x3(x)  # (N, 32, 149, 149)
        x = self.Conv2d_2a_3x3(x)  # (N, 32, 147, 147)
        x = self.Conv2d_2b_3x3(x)  # (N, 64, 147, 147)
        x = F.max_pool2d(x, kernel_size=3, stride=2)  # (N, 64, 73, 73)
        x = self.Conv2d_3b_1x1(x)  # (N, 80, 73, 73)
        x = self.Conv2d_4a_3x3(x)  # (N, 192, 71, 71)
        x = F.max_pool2d(x, kernel_size=3, stride=2)  # (N, 192, 35, 35)
        x = self.Mixed_5d(self.Mixed_5c(self.Mixed_5b(x)))  # (N, 288, 35, 35)
        x = self.Mixed_6a(x)  # (N, 768, 17, 17)
        x = self.Mixed_6e(self.Mixed_6d(self.Mixed_6c(self.Mixed_6b(x))))  # (N, 768, 17, 17)
        x = self.Mixed_7a(x)  # (N, 1280, 8, 8)
        x = self.Mixed_7c(self.Mixed_7b(x))  # (N, 2048, 8, 8)
        pool3 = F.adaptive_avg_pool2d(x, 1).flatten(1)  # (N, 2048); same reduction as torch-fidelity's
        # torch-fidelity computes the unbiased logits with a plain matmul and adds the bias afterwards.
        logits_unbiased = pool3.mm(self.fc.weight.T)  # (N, 1008)
        logits = logits_unbiased + self.fc.bias.unsqueeze(0)  # (N, 1008)
        return {"pool3": pool3, "logits_unbiased": logits_unbiased, "logits": logits}


def hub_weights_path() -> Path:
    """Where torch.hub (and so torch-fidelity) caches the weights: <hub dir>/checkpoints/<file>."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILENAME


def resolve_weights_path(path: str | os.PathLike | None = None) -> Path:
    """The weights file to use: `path` if given, else $GANKIT_INCEPTION_WEIGHTS if set, else the torch hub
    cache file. A path that was named but does not exist is an error, never silently skipped."""
    need = (f"needs {WEIGHTS_FILENAME} (the torch-fidelity/pytorch-fid FID Inception-v3 weights): pass "
            f"--inception-weights PATH, set {WEIGHTS_ENV_VAR}, or put it at {hub_weights_path()}; "
            f"gankit never downloads it")
    if path is not None:
        named, origin = Path(path).expanduser(), "--inception-weights"
    elif os.environ.get(WEIGHTS_ENV_VAR):
        named, origin = Path(os.environ[WEIGHTS_ENV_VAR]).expanduser(), WEIGHTS_ENV_VAR
    else:
        cached = hub_weights_path()
        if cached.is_file():
            return cached
        raise ConfigError(f"Inception weights not found: FID/IS/KID {need}")
    if not named.is_file():
        raise ConfigError(f"Inception weights {named} (from {origin}) is not a file; FID/IS/KID {need}")
    return named


def sha256_of(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_inception(path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> FIDInceptionV3:
    """FIDInceptionV3 with the weights from `resolve_weights_path(path)`: strict key and shape check,
    eval mode, no gradients, `weights_sha256` set."""
    file = resolve_weights_path(path)
    state = _read_weights(file)
    model = FIDInceptionV3()
    model.load_state_dict(_checked_state(model, state, file), strict=True)
    model.weights_sha256 = sha256_of(file)
    model.requires_grad_(False)
    return model.eval().to(device)


# torch.save writes a zip archive; before PyTorch 1.6 it wrote pickles that start with this magic number.
_ZIP_MAGIC = b"PK\x03\x04"
_LEGACY_MAGIC = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)[:-1]  # torch.serialization.MAGIC_NUMBER


def _not_weights(file: Path, reason: str) -> ConfigError:
    return ConfigError(f"Inception weights {file} is not a PyTorch weights file ({reason}); expected "
                       f"{WEIGHTS_FILENAME}, a state dict of tensors")


def _read_weights(file: Path) -> dict:
    """The state dict in `file`. Anything else is named for what it is, in one line: torch's own messages for
    junk are a paragraph about weights_only, or a bare KeyError."""
    with open(file, "rb") as fh:
        head = fh.read(len(_LEGACY_MAGIC))
    if not head:
        raise _not_weights(file, "the file is empty")
    if not (head.startswith(_ZIP_MAGIC) or head == _LEGACY_MAGIC):
        raise _not_weights(file, "neither torch.save's zip archive nor its older pickle format")
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:  # torch's weights-only unpickler: a paragraph with the reason inside
        refused = re.search(r"(?:Unsupported global: |unsupported )GLOBAL ([\w.]+)", str(error))
        reason = f"it holds Python objects ({refused[1]}) that a weights file does not" if refused else \
            f"torch's weights-only loader refused it: {_weights_only_reason(error)}"
        raise _not_weights(file, reason) from None
    except (OSError, EOFError, RuntimeError, ValueError, KeyError, IndexError, TypeError, AttributeError, struct.error) as error:
        raise _not_weights(file, f"a damaged or foreign file: {_first_sentence(error)}") from None
    if not isinstance(state, dict):
        raise _not_weights(file, f"it holds a {type(state).__name__}, not a state dict")
    if not any(isinstance(value, Tensor) for value in state.values()):
        raise _not_weights(file, f"it holds a dict of {_type_names(state.values()) or 'nothing'}, no tensors")
    return state


def _weights_only_reason(error: BaseException) -> str:
    parts = [" ".join(part.split()) for part in str(error).split("\n\n")]
    reasons = [part for part in parts if part and not part.startswith(("Weights only load failed", "Check the documentation"))]
    return reasons[0][:160] if reasons else type(error).__name__


def _first_sentence(error: BaseException) -> str:
    """torch's loader messages run to a paragraph; its C++ ones start with an '[enforce fail at file:line]' tag."""
    text = re.sub(r"^\[enforce fail at [^\]]*\][\s.]*", "", " ".join(str(error).split()))
    text = re.split(r"(?<=\.) ", text)[0][:160].rstrip(".")
    return text if " " in text else f"{type(error).__name__} {text}".strip()  # a bare KeyError says only '101'


def _type_names(values) -> str:
    return "/".join(sorted({type(value).__name__ for value in values}))


@torch.no_grad()
def for_inference(model: FIDInceptionV3) -> FIDInceptionV3:
    """The same network made faster for feature extraction, in place: each BatchNorm folded into its convolution
    (w * g / sqrt(v + eps), bias b - m * g / sqrt(v + eps)) and the NHWC layout the CPU's oneDNN kernels prefer.
    Features move by float rounding only (~1e-6 relative); the state dict no longer has the file's layout."""
    for unit in model.modules():
        if isinstance(unit, ConvBN) and isinstance(unit.bn, nn.BatchNorm2d):
            conv, bn = unit.conv, unit.bn
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            folded = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                               bias=True).to(conv.weight.device)
            folded.weight.copy_(conv.weight * scale[:, None, None, None])
            folded.bias.copy_(bn.bias - bn.running_mean * scale)
            unit.conv, unit.bn = folded, nn.Identity()
    model.requires_grad_(False)
    return model.to(memory_format=torch.channels_last)


def _checked_state(model: nn.Module, state: dict, file: Path) -> dict:
    expected = model.state_dict()
    # BatchNorm's step counter is unused in eval and absent from converted files; keep ours where missing.
    optional = {key for key in expected if key.endswith("num_batches_tracked")}
    missing = [key for key in expected if key not in state and key not in optional]
    unexpected = [key for key in state if key not in expected]
    misshaped = [key for key in expected if key in state
                 and (not isinstance(state[key], Tensor) or state[key].shape != expected[key].shape)]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s), first '{missing[0]}'")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s), first '{unexpected[0]}'")
    if misshaped:
        key, value = misshaped[0], state[misshaped[0]]
        got = list(value.shape) if isinstance(value, Tensor) else type(value).__name__
        problems.append(f"{len(misshaped)} mis-shaped key(s), first '{key}' is {got}, "
                        f"expected {list(expected[key].shape)}")
    if problems:
        raise ConfigError(f"Inception weights {file} do not fit FIDInceptionV3 ({WEIGHTS_FILENAME} layout): "
                          + "; ".join(problems))
    return {**{key: expected[key] for key in optional}, **state}
