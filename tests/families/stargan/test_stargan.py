"""StarGAN and AttrDigits: the exact renderer, the dataset's splits, target domains, the networks' shapes,
the losses by hand, the learning-rate decay, and a few training steps through the loop."""
import math

import numpy as np
import pytest
import torch

from gankit.config import load_config
from gankit.data import load_dataset
from gankit.data.attr_digits import ATTRIBUTES, info_for, render
from gankit.errors import ConfigError
from gankit.families.stargan import attribute_bce
from gankit.families.stargan.networks import StarDiscriminator, StarGenerator, TransformGate
from gankit.families.stargan.translation import target_domains, translation_rows

TINY = ["model.g_dim=8", "model.d_dim=8", "model.g_layers=1", "data.size=16", "data.variants=1", "train.batch_size=8",
        "train.n_critic=2", "train.log_every=1", "train.sample_every=100", "train.checkpoint_every=100",
        "stargan.grid_rows=3", "optim.decay_steps=2"]


def attrs(*names):
    return torch.tensor([[float(a in names) for a in ATTRIBUTES]])


def test_render_draws_each_attribute_exactly():
    stroke = torch.zeros(1, 1, 8, 8)
    stroke[..., 1:7, 2:6] = 1.0  # a 6 x 4 bar
    red = render(stroke, attrs("red"), 8)[0]
    assert red[:, 3, 3].tolist() == [255, 0, 0] and red[:, 0, 0].tolist() == [0, 0, 0]
    inverted = render(stroke, attrs("green", "inverted"), 8)[0]
    assert inverted[:, 3, 3].tolist() == [0, 255, 0] and inverted[:, 0, 0].tolist() == [255, 255, 255]
    plain, rotated = render(stroke, attrs("blue"), 8), render(stroke, attrs("blue", "rotated"), 8)
    assert torch.equal(rotated, torch.rot90(plain, 1, (2, 3)))
    thick, thin = render(stroke, attrs("blue", "thick"), 8), plain
    assert (thick >= thin).all() and thick.sum() > thin.sum()
    assert (thin[0, 2] > 0).sum() == 4 * 2 and (thick[0, 2] > 0).sum() == 8 * 6  # 3x3 erosion / dilation of 6 x 4


def test_attr_digits_splits_hold_different_digits_and_render_consistently():
    cfg = load_config("stargan_attrdigits", ["data.size=16", "data.variants=2"]).data
    train, test = load_dataset(cfg, "train"), load_dataset(cfg, "test")
    assert train.info == info_for(16) and train.info.exclusive == ((0, 1, 2),)
    assert len(train) == 2 * 1617 and len(test) == 2 * 180
    assert torch.equal(train.x, render(train.extra["stroke"], train.y, 16))  # every image is the exact render
    assert (train.y[:, :3].sum(1) == 1).all()  # exactly one ink colour
    seen = {s.numpy().tobytes() for s in train.extra["stroke"]}
    assert not any(s.numpy().tobytes() in seen for s in test.extra["stroke"])  # no test digit is trained on
    rates = train.y.mean(0)
    assert all(abs(r - 0.5) < 0.05 for r in rates[3:].tolist()) and all(abs(r - 1 / 3) < 0.05 for r in rates[:3].tolist())
    batch = train.get(torch.arange(4))
    assert set(batch) == {"x", "y", "digit", "stroke"} and batch["digit"].dtype == torch.int64


def test_target_domains_honour_the_exclusive_group():
    c = torch.tensor([[1.0, 0, 0, 1, 0, 1]])
    targets = torch.cat(target_domains(c, info_for(8)))
    assert targets.tolist() == [[1, 0, 0, 1, 0, 1], [0, 1, 0, 1, 0, 1], [0, 0, 1, 1, 0, 1],
                                [1, 0, 0, 0, 0, 1], [1, 0, 0, 1, 1, 1], [1, 0, 0, 1, 0, 0]]


def test_networks_follow_the_card_layout():
    D = StarDiscriminator(3, 128, 5, dim=4)
    src, cls = D(torch.randn(2, 3, 128, 128))
    assert src.shape == (2, 1, 2, 2) and cls.shape == (2, 5) and D.cls.kernel_size == (2, 2)  # 128 / 64
    assert [m.out_channels for m in D.main if isinstance(m, torch.nn.Conv2d)] == [4, 8, 16, 32, 64, 128]
    G = StarGenerator(3, 5, dim=4, repeat=2)
    assert G(torch.randn(2, 3, 32, 32), torch.ones(2, 5)).shape == (2, 3, 32, 32)
    assert G.net[0].in_channels == 3 + 5 and all(m.bias is None for m in G.modules() if isinstance(m, torch.nn.Conv2d))


# the card's D at 16 px (3 stride-2 layers): these names are in every checkpoint saved before model.d_norm was wired
CARD_D_NAMES = ["main.0.weight", "main.0.bias", "main.2.weight", "main.2.bias", "main.4.weight", "main.4.bias", "src.weight",
                "cls.weight"]


@pytest.mark.parametrize("norm", ["none", "layer", "instance", "spectral", "weight"])
def test_every_d_norm_reaches_the_patchgan_d(norm):
    from torch.nn.utils import parametrize

    from gankit.families.gan import build_module

    D = build_module(load_config("stargan_attrdigits", TINY + [f"model.d_norm={norm}"]), info_for(16), "discriminator")
    layers = list(D.main)
    convs = [i for i, m in enumerate(layers) if isinstance(m, torch.nn.Conv2d)]
    feature_norms = [m for m in layers if isinstance(m, torch.nn.GroupNorm)]
    if norm == "none":
        assert list(D.state_dict()) == CARD_D_NAMES and not feature_norms
    if norm in ("layer", "instance"):
        # after every strided conv but the first, before its LeakyReLU: conv, [norm,] LeakyReLU
        kinds = {torch.nn.Conv2d: "conv", torch.nn.GroupNorm: "norm", torch.nn.LeakyReLU: "relu"}
        order = [next(name for kind, name in kinds.items() if isinstance(m, kind)) for m in layers]
        assert order == ["conv", "relu", "conv", "norm", "relu", "conv", "norm", "relu"]
        groups = [1, 1] if norm == "layer" else [16, 32]  # layer: over (C, H, W); instance: each channel over (H, W)
        assert [(m.num_groups, m.num_channels) for m in feature_norms] == list(zip(groups, [16, 32]))
    if norm in ("spectral", "weight"):
        kind = "_SpectralNorm" if norm == "spectral" else "_WeightNorm"
        weighted = [layers[i] for i in convs] + [D.src, D.cls]
        assert all(type(m.parametrizations.weight[0]).__name__ == kind for m in weighted) and not feature_norms
        assert not any(type(m).__name__ == "TapCroppedConv2d" for m in weighted)  # the norm sees the whole kernel
    else:
        assert not any(parametrize.is_parametrized(m) for m in D.modules())
    src, cls = D(torch.randn(4, 3, 16, 16))
    assert src.shape == (4, 1, 2, 2) and cls.shape == (4, 6) and torch.isfinite(src).all()
    src.sum().backward()


def test_default_d_loads_a_checkpoint_of_the_card_d():
    old = StarDiscriminator(3, 16, 6, dim=8)  # as built before model.d_norm was read
    D = StarDiscriminator(3, 16, 6, dim=8, norm="none")
    D.load_state_dict(old.state_dict())  # strict: the same names and shapes
    x = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(D(x), old(x))


@pytest.mark.parametrize("norm, message", [
    ("batch", "model.d_norm 'batch' is not supported by the stargan discriminator: it scores real and fake images as one "
              "batch, whose statistics would mix them, and batch statistics couple the images of a gradient penalty "
              "(loss.penalty); valid: none, layer, instance, spectral, weight"),
    ("group", "model.d_norm 'group' is not supported by the stargan discriminator; valid: none, layer, instance, spectral, weight"),
])
def test_unsupported_d_norms_are_one_line_config_errors(norm, message):
    from gankit.families.gan import build_module

    with pytest.raises(ConfigError) as err:
        build_module(load_config("stargan_attrdigits", TINY + [f"model.d_norm={norm}"]), info_for(16), "discriminator")
    assert str(err.value) == f"model.arch 'stargan' (discriminator): {message}"


def test_instance_norm_on_a_1x1_map_is_refused():
    from gankit.families.gan import build_module

    with pytest.raises(ConfigError, match=r"model.d_norm 'instance' normalizes each channel over its map, and D's last map is 1x1"):
        build_module(load_config("stargan_attrdigits", TINY + ["model.d_norm=instance", "model.d_layers=4"]), info_for(16),
                     "discriminator")
    # layer norm at 1x1 normalizes over the channels: allowed
    build_module(load_config("stargan_attrdigits", TINY + ["model.d_norm=layer", "model.d_layers=4"]), info_for(16), "discriminator")


@pytest.mark.parametrize("kind,count", [("quarter_turns", 4), ("dihedral", 8)])
def test_transform_gate_turns_its_input_exactly(kind, count):
    gate = TransformGate(3, 6, kind)
    x, c = torch.rand(2, 3, 8, 8), torch.zeros(2, 6)
    candidates = gate.candidates(x)
    assert candidates.shape == (2, count, 3, 8, 8)
    # 90 deg counter-clockwise: x's right-hand column becomes the top row, read from top to bottom
    assert torch.equal(candidates[:, 1, :, 0, :], x[:, :, :, 7]) and torch.equal(candidates[:, 1, :, 2, :], x[:, :, :, 5])
    assert torch.equal(candidates[:, 2], x.flip(2, 3))
    if kind == "dihedral":
        assert torch.equal(candidates[:, 4], x.flip(3))
    # the last layer starts at zero: an even mix of the candidates
    assert torch.allclose(gate.weights(x, c), torch.full((2, count), 1 / count))
    assert torch.allclose(gate(x, c), candidates.mean(1), atol=1e-6)
    with torch.no_grad():  # a confident gate is the chosen isometry
        gate.logits.bias.copy_(torch.nn.functional.one_hot(torch.tensor(3), count) * 40.0)
    assert torch.allclose(gate(x, c), torch.rot90(x, 3, (2, 3)), atol=1e-6)
    assert [torch.equal(gate.candidates(gate.candidates(x)[:, k])[:, gate.inverse[k]], x) for k in range(count)] == [True] * count
    G = StarGenerator(3, 6, dim=4, repeat=1, transforms=kind, gate_only=(5,))
    assert G(x, torch.ones(2, 6)).shape == x.shape
    with pytest.raises(ValueError, match="square"):
        G(torch.rand(1, 3, 8, 16), torch.ones(1, 6))


def test_gate_attributes_reach_only_the_gate():
    G = StarGenerator(3, 6, dim=4, repeat=1, transforms="quarter_turns", gate_only=(5,))
    assert G.net[0].in_channels == 3 + 5
    x, c = torch.rand(2, 3, 8, 8), torch.zeros(2, 6)
    c_rot = c.clone()
    c_rot[:, 5] = 1
    with torch.no_grad():  # a gate that always keeps the input: the body alone cannot tell the two targets apart
        G.gate.logits.bias.copy_(torch.tensor([40.0, 0, 0, 0]))
        assert torch.allclose(G(x, c), G(x, c_rot), atol=1e-6)
    # a gate that turns when the target is rotated (its logits read [1, c] times the image features): G(x, rotated) =
    # body(rot90 x) -- the body sees only the turned image
    G.gate.features = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 64, 1))
    G.gate.logits = torch.nn.Linear(1 + 6, 4)
    with torch.no_grad():
        G.gate.features[1].weight.zero_()
        G.gate.features[1].bias.fill_(1.0)  # f = 1 for every image
        G.gate.logits.weight.zero_()
        G.gate.logits.bias.copy_(torch.tensor([20.0, 0, 0, 0]))
        G.gate.logits.weight[1, 1 + 5] = 40.0
        assert torch.allclose(G(x, c_rot), G(torch.rot90(x, 1, (2, 3)), c), atol=1e-5)
    with pytest.raises(ValueError, match="go together"):
        StarGenerator(3, 6, dim=4, repeat=1, gate_only=(5,))
    with pytest.raises(ValueError, match="go together"):
        StarGenerator(3, 6, dim=4, repeat=1, transforms="dihedral")


def test_attribute_bce_by_hand():
    logits, target = torch.tensor([[0.0, 2.0], [1.0, -1.0]]), torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    sp = lambda v: math.log1p(math.exp(v))  # noqa: E731  softplus
    by_hand = (sp(-0.0) + sp(2.0) + sp(-1.0) + sp(1.0)) / 2
    torch.testing.assert_close(attribute_bce(logits, target), torch.tensor(by_hand))


def test_identity_loss_adds_the_l1_of_an_unchanged_domain():
    """lambda_id (not in the card, 0 there) adds lambda_id * |x - G(x, c_org)|, nothing else changes."""
    from gankit.families.stargan import StarGAN

    data = load_dataset(load_config("stargan_attrdigits", TINY).data, "train")
    batch = data.get(torch.arange(8))
    losses, logs = [], []
    for weight in (0.0, 2.5):
        torch.manual_seed(0)
        family = StarGAN(load_config("stargan_attrdigits", TINY + [f"stargan.lambda_id={weight}"]), data.info, torch.device("cpu"))
        torch.manual_seed(1)
        loss, log = family.g_step(batch)
        losses.append(loss.item())
        logs.append(log)
    by_hand = (batch["x"] - family.G(batch["x"], batch["y"])).abs().mean().item()
    assert "g_id" not in logs[0] and logs[1]["g_id"].item() == pytest.approx(by_hand, rel=1e-5)
    assert losses[1] - losses[0] == pytest.approx(2.5 * by_hand, rel=1e-4)
    assert load_config("stargan_celeba").stargan.lambda_id == 0  # the card's config has no identity loss


def test_gate_is_taught_the_turn_that_d_reads_as_the_target():
    """gate_targets: the candidate whose D attribute logits on the gate's attributes best match the target, ties
    broken by D's critic; gate_loss: the cross-entropy towards it (ln K for the zero-initialised gate)."""
    from gankit.families.stargan import StarGAN

    cfg = load_config("stargan_attrdigits", TINY + ["model.g_transforms=quarter_turns", "model.g_gate_attributes=[rotated]"])
    family = StarGAN(cfg, info_for(16), torch.device("cpu"))
    x = -torch.ones(5, 3, 16, 16)
    x[:4, :, 0, :] = 1  # a bar along the top: a quarter turn counter-clockwise puts it on the left
    x[4, :, :, 0] = 1  # the last image is the turned one: a bar on the left

    def stub_d(images):  # "rotated" iff the bar is on the left; the critic prefers a bar on top
        cls = torch.full((len(images), 6), -10.0)  # every other attribute is the same for all candidates
        cls[:, 5] = torch.where(images[:, 0, :, 0].mean(1) > 0.5, 10.0, -10.0)
        return images[:, :1, :1, :].mean((2, 3), keepdim=True).expand(-1, 1, 2, 2), cls

    family.D = stub_d
    c_org, c_trg = torch.zeros(5, 6), torch.zeros(5, 6)
    c_org[4, 5] = 1
    c_trg[:2, 5] = 1  # the first two are asked to turn, the next two not, the last to turn back
    # the turn and its inverse (270 = -90) for the change back; keep where the rotation stays
    assert family.gate_targets(x, c_org, c_trg).tolist() == [1, 1, 0, 0, 3]
    assert family.gate_loss(x, c_org, c_trg).item() == pytest.approx(math.log(4), rel=1e-6)
    # the critic breaks the tie between the turns that D's classifier reads alike: here it prefers the bar at the
    # bottom, which a turn of 90° gives the turned image and 270° does not
    family.D = lambda images: (images[:, :1, -1:, :].mean((2, 3), keepdim=True).expand(-1, 1, 2, 2) * 5, stub_d(images)[1])
    assert family.gate_targets(x[4:], c_org[4:], c_trg[4:]).tolist() == [1]


def test_joint_d_batch_gives_the_two_pass_loss_and_gradients():
    """Real and fake through D as one batch (the fast path) = two passes: D has no batch statistics."""
    from gankit.families.stargan import StarGAN

    data = load_dataset(load_config("stargan_attrdigits", TINY).data, "train")
    batch = data.get(torch.arange(8))
    results = []
    for joint in (True, False):
        torch.manual_seed(0)
        family = StarGAN(load_config("stargan_attrdigits", TINY), data.info, torch.device("cpu"))
        family.joint_d_batch = joint
        torch.manual_seed(1)
        loss, logs = family.d_step(batch)
        loss.backward()
        results.append((loss.item(), logs["d_cls"].item(), [p.grad.clone() for p in family.D.parameters()]))
    (loss_a, cls_a, grads_a), (loss_b, cls_b, grads_b) = results
    assert loss_a == pytest.approx(loss_b, rel=1e-5) and cls_a == pytest.approx(cls_b, rel=1e-5)
    assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-6) for a, b in zip(grads_a, grads_b))
    assert any(g.abs().sum() > 0 for g in grads_a)


def test_sample_grid_rows_are_spread_over_the_training_set():
    """AttrDigits is stored digit by digit: the first rows would all be the same few digits."""
    from gankit.families.stargan import StarGAN

    data = load_dataset(load_config("stargan_attrdigits", TINY).data, "train")
    family = StarGAN(load_config("stargan_attrdigits", TINY + ["stargan.grid_rows=4"]), data.info, torch.device("cpu"))
    grid, per_row = family.sample_grid(family.G, None, data)
    picked = torch.tensor([0, round((len(data) - 1) / 3), round(2 * (len(data) - 1) / 3), len(data) - 1])
    assert per_row == 7 and grid.shape[0] == 4 * 7
    assert torch.equal(grid[::per_row], data.get(picked)["x"])  # each row starts with its input


def test_training_steps_grid_and_linear_lr_decay(tmp_path):
    from gankit.train.loop import Trainer

    trainer = Trainer(load_config("stargan_attrdigits", TINY + ["train.steps=4"]), tmp_path, progress=False)
    seen = []
    original = trainer.iteration

    def record():
        original()
        seen.append([opt.param_groups[0]["lr"] for opt in trainer.optimizers])

    trainer.iteration = record
    summary = trainer.run()
    assert summary["finished"]
    assert seen == [[2e-4, 2e-4], [2e-4, 2e-4], [2e-4, 2e-4], [1e-4, 1e-4]]  # the last 2 of 4: (4 - 3) / 2
    lines = [line for line in (tmp_path / "metrics.jsonl").read_text().splitlines() if "loss_d" in line]
    assert lines and all(math.isfinite(v) for v in map(float, [line.split('"loss_d": ')[1].split(",")[0] for line in lines]))
    from PIL import Image

    grid = np.asarray(Image.open(tmp_path / "samples" / "step-0000004.png"))
    # 3 rows of [input + 6 targets], 16 px images enlarged 4x, 2 px padding: (3 * 18 + 2) * 4 by (7 * 18 + 2) * 4
    assert grid.shape[:2] == ((3 * 18 + 2) * 4, (7 * 18 + 2) * 4)


def test_translation_rows_layout():
    G = lambda x, c: x * 0 + c[:, :1, None, None]  # noqa: E731  a fake translator that paints the first target bit
    x, c = torch.zeros(2, 3, 4, 4), torch.tensor([[1.0, 0, 0, 0, 0, 0], [0, 1.0, 0, 0, 0, 0]])
    rows = translation_rows(G, x, c, info_for(4))
    assert rows.shape == (2 * 7, 3, 4, 4)
    assert rows[:, 0, 0, 0].tolist() == [0, 1, 0, 0, 1, 1, 1] + [0, 1, 0, 0, 0, 0, 0]


def test_stargan_needs_attribute_data_and_its_own_architecture(tmp_path):
    from gankit.train.loop import Trainer

    with pytest.raises(ConfigError, match="needs attribute labels"):
        Trainer(load_config("stargan_attrdigits", TINY + ["data.name=digits", "data.channels=3"]), tmp_path)
    with pytest.raises(ConfigError, match="does not fit family 'stargan'"):
        Trainer(load_config("stargan_attrdigits", TINY + ["model.arch=dcgan"]), tmp_path)


def test_translate_command_rows_targets_and_errors(tmp_path, capsys):
    from PIL import Image
    from test_translation_grid import assert_labelled, split_header

    from gankit.cli import main
    from gankit.data.image_io import make_grid
    from gankit.families.stargan.translation import parse_targets

    assert parse_targets(["red,rotated", ""], ATTRIBUTES).tolist() == [[1, 0, 0, 0, 0, 1], [0] * 6]
    run = tmp_path / "run"
    assert main(["train", "stargan_attrdigits", "--out", str(run), "--steps", "1", "--no-progress",
                 *sum((["--set", o] for o in TINY), [])]) == 0
    assert main(["translate", str(run), "--split", "test", "--num", "3", "--out", str(tmp_path / "grid.png"),
                 "--per-image", str(tmp_path / "rows")]) == 0
    # 3 rows of [input + 6 targets] of 16 px with 2 px padding, enlarged 4x as the training grids, under a header
    header, grid = split_header(np.asarray(Image.open(tmp_path / "grid.png")), 3, 7, 16, 4)
    assert_labelled(header, 7, 16, 4)
    first = load_dataset(load_config("stargan_attrdigits", TINY).data, "test").get(torch.arange(1))["x"]
    assert np.array_equal(grid[8:72, 8:72], make_grid(first, padding=0).repeat(4, axis=0).repeat(4, axis=1))
    assert sorted(p.name for p in (tmp_path / "rows").iterdir()) == ["00000.png", "00001.png", "00002.png"]
    row_header, _ = split_header(np.asarray(Image.open(tmp_path / "rows" / "00001.png")), 1, 7, 16, 4)
    assert np.array_equal(row_header, header)  # the same labels over each row alone
    single = tmp_path / "one.png"
    Image.fromarray(np.full((20, 20, 3), 200, np.uint8)).save(single)
    assert main(["translate", str(run), "--input", str(single), "--targets", "green,thick", "--out", str(tmp_path / "g.png")]) == 0
    header, _ = split_header(np.asarray(Image.open(tmp_path / "g.png")), 1, 2, 16, 4)
    assert_labelled(header, 2, 16, 4)
    capsys.readouterr()
    assert main(["translate", str(run), "--input", str(single), "--targets", "purple", "--out", str(tmp_path / "x.png")]) == 2
    assert "unknown attribute 'purple'; valid: red, green" in capsys.readouterr().err
    assert main(["translate", str(run), "--out", str(tmp_path / "x.png")]) == 2
    # an output on or around the inputs would overwrite them: refused, the input kept
    kept = single.read_bytes()
    for extra in (["--out", str(single)], ["--out", str(tmp_path / "g.png"), "--per-image", str(tmp_path)]):
        capsys.readouterr()
        assert main(["translate", str(run), "--input", str(single), "--targets", "green", *extra]) == 2
        assert "overlaps --input" in capsys.readouterr().err and single.read_bytes() == kept


def test_celeba_attributes_form_the_hair_colour_group(tmp_path):
    from formats import write_celeba

    cfg = load_config("stargan_celeba", [f"data.root={write_celeba(tmp_path / 'celeba', n=12)}", "data.test_count=4",
                                         "data.size=16"]).data
    info = load_dataset(cfg, "train").info
    assert info.num_classes == 5 and info.exclusive == ((0, 1, 2),)
    assert info.label_names == ("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young")


def test_eval_while_training_is_refused_with_a_pointer(tmp_path):
    from gankit.apps.train import make_trainer

    with pytest.raises(ConfigError, match="scored by `gankit eval RUN` after training"):
        make_trainer(load_config("stargan_attrdigits", TINY + ["eval.every=2"]), tmp_path, progress=False)


def test_celeba_eval_is_inception_fid_of_the_test_translations(tmp_path, monkeypatch, capsys):
    """The card's figure: FID of every held-out test image translated to every target domain against the real
    test images; recomputed here by hand from the same generator and Inception."""
    import json

    from formats import randomize_inception, write_celeba
    from gankit.cli import main
    from gankit.metrics.features import make_extractor
    from gankit.metrics.fid import fid_from_features
    from gankit.metrics.inception import FIDInceptionV3
    from gankit.runs.snapshots import load_generator

    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    weights = tmp_path / "inception.pth"
    torch.save(randomize_inception(FIDInceptionV3(), 0).state_dict(), weights)
    root = write_celeba(tmp_path / "celeba", n=12)
    run = tmp_path / "run"
    sets = [f"data.root={root}", "data.test_count=4", "data.size=16", "model.g_dim=8", "model.d_dim=8", "model.g_layers=1",
            "model.d_layers=3", "train.batch_size=4", "train.n_critic=1", "optim.decay_steps=1"]
    assert main(["train", "stargan_celeba", "--out", str(run), "--steps", "1", "--no-progress",
                 *[a for s in sets for a in ("--set", s)]]) == 0
    assert main(["eval", str(run), "--inception-weights", str(weights), "--device", "cpu"]) == 0
    result = json.loads((run / "eval.json").read_text())
    entry = next(iter(result["results"].values()))
    assert entry["scores"]["translations"]["mean"] == 4 * 5
    assert np.isfinite(entry["reference_translators"]["real_train_images"]["fid"])

    G, cfg, _, _ = load_generator(run)
    test = load_dataset(cfg.data, "test")
    batch = test.get(torch.arange(len(test)))
    extractor = make_extractor("inception", "cpu", str(weights))
    with torch.no_grad():
        fakes = torch.cat([G(batch["x"], c) for c in target_domains(batch["y"], test.info)])
    by_hand = fid_from_features(extractor(batch["x"])["features"].double().numpy(), extractor(fakes)["features"].double().numpy())
    assert entry["scores"]["fid"]["mean"] == pytest.approx(by_hand, rel=1e-6)


def test_attr_digits_eval_scores_model_identity_and_exact_render(tmp_path, capsys):
    """`gankit eval` on an AttrDigits run: known values for the two reference translators. Of the 6 targets per
    image, the identity is right on the ink colour for 4 (its own colour and the 3 non-colour targets), on each
    other attribute for 5, and on everything for 1; the exact render has L1 0 and cycle L1 0."""
    import json

    from gankit.cli import main

    run = tmp_path / "run"
    assert main(["train", "stargan_attrdigits", "--out", str(run), "--steps", "1", "--no-progress",
                 *[a for s in TINY + ["data.size=32"] for a in ("--set", s)]]) == 0  # the scorer's size
    assert main(["eval", str(run), "--num-real", "90", "--device", "cpu"]) == 0
    assert "identity:" in capsys.readouterr().out
    entry = next(iter(json.loads((run / "eval.json").read_text())["results"].values()))
    identity, exact = entry["reference_translators"]["identity"], entry["reference_translators"]["exact_render"]
    assert identity["acc_colour"] == pytest.approx(4 / 6, abs=0.03)
    assert identity["acc_inverted"] == pytest.approx(5 / 6, abs=0.03) and identity["acc_rotated"] == pytest.approx(5 / 6, abs=0.03)
    assert identity["all_correct"] == pytest.approx(1 / 6, abs=0.03) and identity["cycle_l1"] == 0
    assert identity["digit_kept"] == pytest.approx(identity["digit_real"]) and identity["digit_real"] >= 0.9
    assert exact["l1_exact"] == 0 and exact["cycle_l1"] == 0 and exact["fd"] == pytest.approx(0, abs=1e-6)
    assert min(v for k, v in exact.items() if k.startswith("acc_")) >= 0.95
    model = entry["scores"]
    assert set(model) >= {"acc_colour", "acc_thick", "all_correct", "digit_kept", "l1_exact", "cycle_l1", "fd"}
    assert 0 <= model["all_correct"]["mean"] <= 1 and model["l1_exact"]["mean"] > 0
    per_target = [model[f"digit_kept_{name}"]["mean"] for name in ATTRIBUTES]  # the overall figure is their mean
    assert model["digit_kept"]["mean"] == pytest.approx(sum(per_target) / len(per_target))


def test_translate_an_empty_test_split_is_an_error_not_an_empty_grid(tmp_path, capsys):
    """A CelebA folder whose list_eval_partition.txt names no test image: translate used to write a grid of headers
    only and exit 0."""
    from formats import write_celeba
    from gankit.cli import main

    root = write_celeba(tmp_path / "celeba", partition=True)
    partition = root / "list_eval_partition.txt"
    partition.write_text(partition.read_text().replace(" 2\n", " 0\n"))
    run = tmp_path / "run"
    assert main(["train", "stargan_celeba", "--steps", "2", "--out", str(run), "--no-progress", "--set", f"data.root={root}",
                 "--set", "data.size=16", "--set", "model.g_dim=8", "--set", "model.d_dim=8", "--set", "model.g_layers=1",
                 "--set", "model.d_layers=3", "--set", "train.batch_size=4", "--set", "train.n_critic=1",
                 "--set", "train.report=false", "--set", "stargan.grid_rows=2"]) == 0
    capsys.readouterr()
    assert main(["translate", str(run), "--split", "test", "--num", "2", "--out", str(tmp_path / "t.png")]) == 2
    err = capsys.readouterr().err
    assert "--split test: the celeba test split" in err and "is empty" in err and err.count("\n") == 1
    assert not (tmp_path / "t.png").exists()
