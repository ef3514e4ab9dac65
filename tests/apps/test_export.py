"""`gankit export`: every family's generator frozen to ONNX and TorchScript with a dynamic batch, re-run
independently of gankit's own parity check and compared with the PyTorch generator."""
import json

import pytest
import torch

from gankit.apps.export import FORMATS, default_path
from gankit.cli import main
from gankit.runs.snapshots import load_generator

TINY_STAR = ["model.g_dim=8", "model.d_dim=8", "model.g_layers=1", "data.size=16", "data.variants=1"]
RUNS = {  # name: (preset, overrides): one of each generator kind
    "dcgan": ("wgan_gp_digits", []),
    "resnet": ("compare_gan_resnet_digits", []),
    "resnet_nearest": ("compare_gan_resnet_digits", ["model.g_upsample=nearest", "train.channels_last=true"]),
    "ssl_mlp_vbn": ("improved_gan_digits", ["model.g_norm=virtual_batch"]),
    "toy": ("wgan_gp_toy_8gaussians", []),
    "stargan": ("stargan_attrdigits", TINY_STAR),
    "stargan_no_gate": ("stargan_attrdigits", TINY_STAR + ["model.g_transforms=none", "model.g_gate_attributes=[]"]),
    "adagan": ("adagan_gmm10", ["boost.steps=2", "train.epochs=1", "data.num_train=640", "boost.classifier_epochs=1"]),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    for name, (preset, overrides) in RUNS.items():
        sets = [arg for item in overrides for arg in ("--set", item)]
        steps = [] if name == "adagan" else ["--steps", "2"]
        assert main(["train", preset, "--out", str(root / name), "--no-progress", *steps, *sets]) == 0, name
    return root


def _reference_inputs(run_dir, n):
    from gankit.families import FAMILIES

    G, cfg, info, _ = load_generator(run_dir)
    interface = FAMILIES.get(cfg.family).export_interface(G, cfg, info)
    inputs = interface.example(n, torch.Generator().manual_seed(123))
    with torch.no_grad():
        return interface, inputs, interface.module(*inputs)


def _run_onnx(path, names, inputs):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == list(names)
    return torch.from_numpy(session.run(None, {n: t.numpy() for n, t in zip(names, inputs)})[0])


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("name", sorted(RUNS))
def test_export_matches_pytorch_at_another_batch_size(runs, name, fmt, capsys):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
        pytest.importorskip("onnxscript")
    run_dir = runs / name
    assert main(["export", str(run_dir), "--format", fmt]) == 0
    assert "max abs diff" in capsys.readouterr().out
    path = default_path(run_dir, fmt)
    sidecar = json.loads(path.with_name(path.name + ".json").read_text())
    assert sidecar["max_abs_diff"] <= 1e-4 and sidecar["inputs"][next(iter(sidecar["inputs"]))][0] == "batch"
    interface, inputs, expected = _reference_inputs(run_dir, 7)  # neither the traced batch (2) nor the checked ones
    if fmt == "onnx":
        got = _run_onnx(path, interface.inputs, inputs)
    else:
        got = torch.jit.load(str(path))(*inputs)
    assert got.shape == expected.shape and expected.shape[0] == 7
    assert (got - expected).abs().max().item() <= 1e-4
    assert expected.std() > 0  # a real generator output, not a constant both sides agree on


def test_stargan_export_takes_image_and_label(runs):
    path = default_path(runs / "stargan", "torchscript")
    if not path.exists():
        assert main(["export", str(runs / "stargan"), "--format", "torchscript"]) == 0
    sidecar = json.loads(path.with_name(path.name + ".json").read_text())
    assert sidecar["inputs"] == {"image": ["batch", 3, 16, 16], "label": ["batch", 6]}
    assert sidecar["attributes"] == ["red", "green", "blue", "inverted", "thick", "rotated"]
    G = torch.jit.load(str(path))
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    a, b = G(x, torch.tensor([[1.0, 0, 0, 0, 0, 0]] * 2)), G(x, torch.tensor([[0.0, 1, 0, 1, 1, 1]] * 2))
    assert (a - b).abs().max() > 0  # the label reaches the output


def test_adagan_export_selects_the_component(runs):
    interface, (z, _), _ = _reference_inputs(runs / "adagan", 4)
    path = default_path(runs / "adagan", "torchscript")
    if not path.exists():
        assert main(["export", str(runs / "adagan"), "--format", "torchscript"]) == 0
    sidecar = json.loads(path.with_name(path.name + ".json").read_text())
    assert sidecar["mixture_weights"] == pytest.approx([0.5, 0.5])
    exported = torch.jit.load(str(path))
    for k, component in enumerate(interface.module.components):
        with torch.no_grad():
            assert torch.allclose(exported(z, torch.full((4,), k)), component(z), atol=1e-6)


def test_failed_parity_writes_nothing_and_exits_1(runs, capsys, monkeypatch):
    import gankit.apps.export as export_app

    run_dir = runs / "dcgan"
    path = default_path(run_dir, "torchscript")
    assert main(["export", str(run_dir), "--format", "torchscript", "--out", str(path)]) == 0
    before = path.read_bytes(), path.with_name(path.name + ".json").read_bytes()
    # an exported generator that drifts from PyTorch by 0.01 (1e-4 allowed): the export must fail loudly, write
    # nothing and keep the checked one
    exact = export_app._torchscript_runner
    monkeypatch.setattr(export_app, "_torchscript_runner", lambda p: (lambda *inputs: exact(p)(*inputs) + 0.01))
    assert main(["export", str(run_dir), "--format", "torchscript"]) == 1
    err = capsys.readouterr().err
    assert "max abs difference from PyTorch" in err and "not written" in err and "Traceback" not in err
    assert (path.read_bytes(), path.with_name(path.name + ".json").read_bytes()) == before
    assert not list(run_dir.glob(".*.tmp"))


def test_export_errors_are_one_line(tmp_path, runs, capsys, monkeypatch):
    assert main(["export", str(tmp_path / "nope"), "--format", "torchscript"]) == 2
    assert "no such run directory" in capsys.readouterr().err
    monkeypatch.setitem(__import__("sys").modules, "onnxruntime", None)  # as if the extra were not installed
    assert main(["export", str(runs / "dcgan"), "--format", "onnx"]) == 2
    err = capsys.readouterr().err
    assert "pip install -e '.[onnx]'" in err and "Traceback" not in err
