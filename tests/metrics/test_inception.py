"""FID Inception-v3: weights layout and strict loading, where the weights come from, the TF1 resize worked by
hand, output shapes, batch-size independence. Random (seeded) weights; the real file is never needed."""
import hashlib

import pytest
import torch
from torch.testing import assert_close

from formats import randomize_inception as randomize
from gankit.errors import ConfigError
from gankit.metrics import inception
from gankit.metrics.inception import (
    WEIGHTS_ENV_VAR,
    WEIGHTS_FILENAME,
    FIDInceptionV3,
    load_inception,
    resize_bilinear_tf1,
    resolve_weights_path,
    sha256_of,
)


def images(n: int, size: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)


@pytest.fixture(scope="module")
def model():
    return randomize(FIDInceptionV3(), seed=0)


@pytest.fixture(scope="module")
def weights_file(model, tmp_path_factory):
    path = tmp_path_factory.mktemp("inception") / WEIGHTS_FILENAME
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def batch_runs(model):
    """Four 32x32 images run as one batch of 4 and as batches of 1 and 3."""
    x = images(4, 32, seed=1)
    return model(x), model(x[:1]), model(x[1:])


@pytest.fixture
def no_weights_anywhere(monkeypatch, tmp_path):
    monkeypatch.delenv(WEIGHTS_ENV_VAR, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path / "hub" / "checkpoints" / WEIGHTS_FILENAME


def test_state_dict_layout_is_torch_fidelitys(model):
    state = model.state_dict()
    units = [m for m in model.modules() if isinstance(m, inception.ConvBN)]
    assert len(units) == 94
    assert len(state) == 94 * 6 + 2  # conv.weight + bn.{weight,bias,running_mean,running_var,num_batches_tracked}
    assert state["Conv2d_1a_3x3.conv.weight"].shape == (32, 3, 3, 3)
    assert state["Conv2d_1a_3x3.bn.running_mean"].shape == (32,)
    assert state["Mixed_6b.branch7x7_2.conv.weight"].shape == (128, 128, 1, 7)
    assert state["Mixed_7a.branch7x7x3_4.conv.weight"].shape == (192, 192, 3, 3)
    assert state["Mixed_7c.branch3x3dbl_3b.conv.weight"].shape == (384, 384, 3, 1)
    assert state["Mixed_7c.branch_pool.conv.weight"].shape == (192, 2048, 1, 1)
    assert state["fc.weight"].shape == (1008, 2048) and state["fc.bias"].shape == (1008,)
    assert sum(p.numel() for p in model.parameters()) == 23_850_960  # same count as torch-fidelity's module
    assert {unit.bn.eps for unit in units} == {0.001}
    assert not any(unit.conv.bias is not None for unit in units)
    assert [block.max_pool for block in (model.Mixed_7b, model.Mixed_7c)] == [False, True]


def test_round_trip_through_load_inception(model, weights_file, batch_runs):
    loaded = load_inception(weights_file)
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert loaded.weights_sha256 == hashlib.sha256(weights_file.read_bytes()).hexdigest()
    out = loaded(images(4, 32, seed=1)[:1])
    for key, expected in batch_runs[1].items():
        assert torch.equal(out[key], expected), key


def test_converted_file_without_batchnorm_counters_loads(model, tmp_path):
    # torch-fidelity's TF converter writes gamma/beta/moving stats only, no `num_batches_tracked`.
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, tmp_path / "converted.pth")
    loaded = load_inception(tmp_path / "converted.pth")
    assert torch.equal(loaded.Mixed_7c.branch_pool.bn.running_var, model.Mixed_7c.branch_pool.bn.running_var)


def test_strict_loading_names_renamed_key(model, tmp_path):
    state = dict(model.state_dict())
    state["Mixed_5b.branch5x5_2.conv.kernel"] = state.pop("Mixed_5b.branch5x5_2.conv.weight")
    torch.save(state, tmp_path / "renamed.pth")
    with pytest.raises(ConfigError) as error:
        load_inception(tmp_path / "renamed.pth")
    message = str(error.value)
    assert "renamed.pth" in message and "\n" not in message
    assert "missing key(s), first 'Mixed_5b.branch5x5_2.conv.weight'" in message
    assert "unexpected key(s), first 'Mixed_5b.branch5x5_2.conv.kernel'" in message


def test_strict_loading_names_wrong_shape(model, tmp_path):
    state = dict(model.state_dict())
    state["fc.weight"] = torch.zeros(1000, 2048)  # torchvision's 1000-class head is not the FID graph's
    torch.save(state, tmp_path / "wrong_shape.pth")
    with pytest.raises(ConfigError, match=r"wrong_shape\.pth.*'fc\.weight' is \[1000, 2048\], expected \[1008, 2048\]"):
        load_inception(tmp_path / "wrong_shape.pth")


@pytest.mark.parametrize("kind", ["junk", "truncated"])
def test_unreadable_file_is_a_config_error(tmp_path, kind):
    path = tmp_path / f"{kind}.pth"
    if kind == "junk":
        path.write_bytes(b"not a checkpoint")
    else:
        torch.save({"fc.bias": torch.zeros(1008)}, path)
        path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ConfigError, match=rf"Inception weights .*{kind}\.pth is not a PyTorch weights file"):
        load_inception(path)


def test_missing_weights_message_says_what_and_where(no_weights_anywhere):
    with pytest.raises(ConfigError) as error:
        resolve_weights_path()
    message = str(error.value)
    assert "\n" not in message
    for needed in (WEIGHTS_FILENAME, "--inception-weights", WEIGHTS_ENV_VAR, str(no_weights_anywhere)):
        assert needed in message


def test_named_but_missing_paths_are_errors(no_weights_anywhere, monkeypatch, tmp_path):
    with pytest.raises(ConfigError, match="nowhere.pth.*--inception-weights"):
        resolve_weights_path(tmp_path / "nowhere.pth")
    monkeypatch.setenv(WEIGHTS_ENV_VAR, str(tmp_path / "elsewhere.pth"))
    with pytest.raises(ConfigError, match=f"elsewhere.pth.*from {WEIGHTS_ENV_VAR}"):
        resolve_weights_path()


def test_resolution_order_path_then_env_then_hub(no_weights_anywhere, monkeypatch, tmp_path):
    explicit, from_env = tmp_path / "explicit.pth", tmp_path / "env.pth"
    for path in (explicit, from_env, no_weights_anywhere):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    assert resolve_weights_path() == no_weights_anywhere
    monkeypatch.setenv(WEIGHTS_ENV_VAR, str(from_env))
    assert resolve_weights_path() == from_env
    assert resolve_weights_path(str(explicit)) == explicit


def test_sha256_of_streams_whole_file(tmp_path):
    data = bytes(range(256)) * 10_000  # > 1 MiB chunk
    (tmp_path / "blob").write_bytes(data)
    assert sha256_of(tmp_path / "blob") == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("size", [32, 299])
def test_output_shapes_and_dtypes(model, size):
    out = model(images(2, size, seed=size))
    assert set(out) >= {"pool3", "logits_unbiased", "logits"}
    assert out["pool3"].shape == (2, 2048)
    assert out["logits_unbiased"].shape == out["logits"].shape == (2, 1008)
    for value in out.values():
        assert value.dtype == torch.float32 and torch.isfinite(value).all()
    assert (out["pool3"] >= 0).all()  # an average of ReLU outputs
    assert_close(out["logits_unbiased"], out["pool3"] @ model.fc.weight.T)
    assert_close(out["logits"], out["logits_unbiased"] + model.fc.bias)


@pytest.mark.parametrize("bad", [torch.zeros(2, 3, 8, 8), torch.zeros(3, 8, 8, dtype=torch.uint8),
                                 torch.zeros(2, 1, 8, 8, dtype=torch.uint8), torch.zeros(2, 8, 8, 3, dtype=torch.uint8)])
def test_rejects_other_dtypes_and_shapes(model, bad):
    with pytest.raises(ValueError, match=r"uint8 images of shape \(N, 3, H, W\)"):
        model(bad)


def test_forward_is_batch_size_independent(batch_runs):
    whole, first, rest = batch_runs
    for key in whole:
        assert_close(whole[key], torch.cat([first[key], rest[key]]), atol=1e-5, rtol=1e-5, msg=key)


def test_resize_2x2_to_4x4_by_hand():
    # TF1, align_corners=False: src = dst * (2 / 4) = 0, 0.5, 1, 1.5; lower = 0, 0, 1, 1; upper = 1, 1, 1, 1
    # (clamped); weight of upper = 0, 0.5, 0, 0.5. So a row [a, b] becomes [a, (a + b) / 2, b, b].
    x = torch.tensor([[0.0, 10.0], [20.0, 30.0]])[None, None]
    expected = torch.tensor([[0.0, 5.0, 10.0, 10.0],
                             [10.0, 15.0, 20.0, 20.0],
                             [20.0, 25.0, 30.0, 30.0],
                             [20.0, 25.0, 30.0, 30.0]])
    assert_close(resize_bilinear_tf1(x, (4, 4))[0, 0], expected)


def test_resize_4x4_to_3x3_by_hand():
    # src = dst * (4 / 3) = 0, 4/3, 8/3; lower = 0, 1, 2; weight of upper = 0, 1/3, 2/3.
    # Input 10 * r[i] + c[j] with r = [0, 1, 4, 9], c = [0, 3, 9, 27]: lerps of a sum are sums of lerps,
    # r -> [0, 1 + 3/3, 4 + 5 * 2/3] = [0, 2, 22/3] and c -> [0, 3 + 6/3, 9 + 18 * 2/3] = [0, 5, 21].
    r, c = torch.tensor([0.0, 1.0, 4.0, 9.0]), torch.tensor([0.0, 3.0, 9.0, 27.0])
    x = (10 * r[:, None] + c[None, :])[None, None].repeat(2, 3, 1, 1)  # (2, 3, 4, 4)
    expected = torch.tensor([[0.0, 5.0, 21.0],
                             [20.0, 25.0, 41.0],
                             [220 / 3, 220 / 3 + 5, 220 / 3 + 21]])
    out = resize_bilinear_tf1(x, (3, 3))
    assert out.shape == (2, 3, 3, 3)
    assert_close(out, expected.expand(2, 3, 3, 3))


def test_resize_is_identity_when_size_matches():
    x = torch.rand(2, 3, 7, 5, generator=torch.Generator().manual_seed(0)) * 255
    assert torch.equal(resize_bilinear_tf1(x, (7, 5)), x)


def test_resize_is_not_pytorchs_half_pixel_bilinear():
    # PyTorch's align_corners=False samples at (dst + 0.5) * scale - 0.5; TF1 (and the FID graph) does not.
    x = torch.tensor([[0.0, 10.0], [20.0, 30.0]])[None, None]
    torch_style = torch.nn.functional.interpolate(x, size=(4, 4), mode="bilinear", align_corners=False)
    assert not torch.allclose(resize_bilinear_tf1(x, (4, 4)), torch_style)


def test_inference_form_gives_the_same_features(model, batch_runs):
    """Batch norm folded into the convolutions and NHWC: the outputs of the file's network to float rounding."""
    import copy

    fast = inception.for_inference(copy.deepcopy(model))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    out = fast(images(4, 32, seed=1))
    for key, expected in batch_runs[0].items():
        assert_close(out[key], expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())
