"""Improved-GAN: losses against hand-computed values, the layers' defining properties, the labelled-subset
protocol, and the family trained, resumed and scored through the real run directory."""
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from formats import write_celeba, write_mnist
from gankit.config import load_config
from gankit.data import load_dataset
from gankit.data.base import holdout_split
from gankit.data.labels import labelled_subset
from gankit.errors import ConfigError, DataError
from gankit.families.improved_gan import ImprovedGAN, card_line
from gankit.families.improved_gan.losses import (
    conditional_entropy,
    d_supervised,
    d_unsupervised,
    g_feature_matching,
    g_ssl_non_saturating,
    historical_average,
    virtual_adversarial,
)
from gankit.families.improved_gan.networks import conv_stages
from gankit.metrics.accuracy import classification_scores
from gankit.models import build_network
from gankit.nn.layers import MinibatchDiscrimination, VirtualBatchGenerator, VirtualBatchNorm
from gankit.nn.norms import parametrize_name

TINY = ["model.z_dim=8", "model.g_dim=16", "model.d_dim=8", "train.batch_size=20", "train.log_every=2",
        "train.sample_every=100", "train.checkpoint_every=3", "train.grid_size=16", "eval.metrics=[accuracy]",
        "eval.every=0", "ssl.labels_per_class=3"]


def tiny_cfg(*extra):
    return load_config("improved_gan_digits", TINY + list(extra))


# --- losses --------------------------------------------------------------------------------------

def test_supervised_loss_is_cross_entropy_by_hand():
    logits, y = torch.tensor([[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]]), torch.tensor([2, 0])
    by_hand = ((math.log(math.exp(1) + math.exp(2) + math.exp(3)) - 3)
               + (math.log(math.exp(0.5) + math.exp(-1) + 1) - 0.5)) / 2
    torch.testing.assert_close(d_supervised(logits, y), torch.tensor(by_hand))


def test_unsupervised_loss_by_hand_with_and_without_smoothing():
    real, fake = torch.tensor([[0.0, 0.0]]), torch.tensor([[0.0, math.log(2.0)]])
    d_real, d_fake = 2 / 3, 3 / 4  # D = Z / (Z + 1): Z = 2 and Z = 1 + 2
    expected = -0.5 * (math.log(d_real) + math.log(1 - d_fake))
    torch.testing.assert_close(d_unsupervised(real, fake), torch.tensor(expected))
    s = 0.1
    smoothed = -0.5 * ((1 - s) * math.log(d_real) + s * math.log(1 - d_real) + math.log(1 - d_fake))
    torch.testing.assert_close(d_unsupervised(real, fake, s), torch.tensor(smoothed))


def test_implicit_fake_logit_matches_an_explicit_k_plus_1_softmax():
    torch.manual_seed(0)
    real, fake = torch.randn(16, 10) * 3, torch.randn(16, 10) * 3

    def explicit(logits):  # softmax over K + 1 classes, the fake class last with logit 0
        return F.softmax(torch.cat([logits, torch.zeros(len(logits), 1)], 1), 1)

    p_real, p_fake = explicit(real)[:, :10].sum(1), explicit(fake)[:, 10]
    expected = -0.5 * (p_real.log().mean() + p_fake.log().mean())
    torch.testing.assert_close(d_unsupervised(real, fake), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(g_ssl_non_saturating(fake), -explicit(fake)[:, :10].sum(1).log().mean(), rtol=1e-5, atol=1e-5)


def test_feature_matching_and_historical_average_by_hand():
    fake = torch.tensor([[1.0, 2.0], [1.0, 2.0]])
    real = torch.tensor([[1.0, -1.0], [-1.0, 1.0]])
    torch.testing.assert_close(g_feature_matching(fake, real), torch.tensor((1 + 4) / 2))
    params, averages = [torch.tensor([1.0, 2.0]), torch.tensor([[3.0]])], [torch.zeros(2), torch.ones(1, 1)]
    torch.testing.assert_close(historical_average(params, averages), torch.tensor(1 + 4 + 4.0))


def test_conditional_entropy_by_hand():
    torch.testing.assert_close(conditional_entropy(torch.zeros(3, 4)), torch.tensor(math.log(4)))  # uniform: log K
    p = torch.tensor([0.5, 0.25, 0.25])
    expected = -(p * p.log()).sum()
    torch.testing.assert_close(conditional_entropy(torch.stack([p.log(), (p * 7).log()])), expected)  # shift-invariant
    assert conditional_entropy(torch.tensor([[30.0, 0.0, 0.0]])) < 1e-10  # one class certain


def test_entropy_weight_adds_the_unlabelled_entropy_to_d_loss():
    data = load_dataset(tiny_cfg().data, "train")
    losses = {}
    for weight in (0.0, 0.5):
        torch.manual_seed(0)
        family = ImprovedGAN(tiny_cfg(f"ssl.entropy_weight={weight}"), data.info, torch.device("cpu"))
        family.attach_data(data)
        torch.manual_seed(1)
        batch = data.get(torch.arange(20))
        losses[weight] = family.d_step(batch)
    (plain, plain_logs), (with_entropy, logs) = losses[0.0], losses[0.5]
    assert "entropy_unl" not in plain_logs and 0 < logs["entropy_unl"] <= math.log(10) + 1e-6
    torch.testing.assert_close(with_entropy, plain + 0.5 * logs["entropy_unl"])


def test_virtual_adversarial_finds_the_one_direction_a_linear_classifier_sees():
    torch.manual_seed(0)
    a = torch.tensor([3.0, -4.0, 0.0, 0.0])  # two classes, logits (a.x, 0): only a's direction moves the posterior
    seen = []

    def classify(x):
        seen.append(x.detach().clone())
        return torch.stack([x @ a, torch.zeros(len(x))], 1)

    x, eps = torch.randn(64, 4), 0.5
    loss = virtual_adversarial(classify, x, eps)
    r = seen[-1] - x  # the last call is at x + r_adv
    torch.testing.assert_close(r.norm(dim=1), torch.full((64,), eps))
    torch.testing.assert_close((r @ a).abs() / a.norm(), torch.full((64,), eps), rtol=1e-4, atol=1e-4)  # parallel to a

    def kl(p, q):
        return p * (p / q).log() + (1 - p) * ((1 - p) / (1 - q)).log()

    p, q = torch.sigmoid(x @ a), torch.sigmoid((x + r) @ a)
    torch.testing.assert_close(loss, kl(p, q).mean(), rtol=1e-4, atol=1e-6)
    assert virtual_adversarial(lambda x: 0 * x[:, :3], x, eps) == 0  # a classifier blind to x: nothing to smooth


def test_vat_weight_adds_the_unlabelled_vat_to_d_loss_and_leaves_d_training():
    data = load_dataset(tiny_cfg().data, "train")
    losses = {}
    for weight in (0.0, 2.0):
        torch.manual_seed(0)
        family = ImprovedGAN(tiny_cfg(f"ssl.vat_weight={weight}"), data.info, torch.device("cpu"))
        family.attach_data(data)
        torch.manual_seed(1)
        losses[weight] = family.d_step(data.get(torch.arange(20)))
        assert family.D.training
    (plain, plain_logs), (with_vat, logs) = losses[0.0], losses[2.0]
    assert "vat_unl" not in plain_logs and logs["vat_unl"] > 0
    torch.testing.assert_close(with_vat, plain + 2.0 * logs["vat_unl"])
    # every pass sees the same draw of D's noise (0.3 on the input, 0.5 hidden): at a tiny eps nothing is left of it
    family.ssl = family.ssl.model_copy(update={"vat_eps": 1e-4})
    x = data.get(torch.arange(20))["x"]
    assert family._vat(x) < 1e-6 < F.kl_div(F.log_softmax(family.D(x), 1), F.log_softmax(family.D(x), 1), log_target=True,
                                            reduction="batchmean")


def test_classification_scores():
    logits = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    assert classification_scores(logits, np.array([1, 0, 0, 0])) == {"accuracy": 0.75, "errors": 1.0}


# --- layers --------------------------------------------------------------------------------------

def test_minibatch_discrimination_tells_identical_from_diverse_batches():
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(6, kernels=4, dims=3, init_std=1.0)
    same = torch.randn(1, 6).repeat(8, 1)
    out = layer(same)
    assert out.shape == (8, 10)
    torch.testing.assert_close(out[:, :6], same)  # the features pass through
    torch.testing.assert_close(out[:, 6:], torch.full((8, 4), 7.0))  # N - 1: everyone is identical
    diverse = torch.randn(8, 6) * 10
    assert layer(diverse)[:, 6:].max() < 0.5
    perm = torch.randperm(8)
    torch.testing.assert_close(layer(diverse[perm]), layer(diverse)[perm])  # permutation equivariant


def test_virtual_batch_norm_makes_each_example_independent_of_its_batch():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 6), VirtualBatchNorm(6), torch.nn.ReLU(), torch.nn.Linear(6, 3))
    G = VirtualBatchGenerator(net, torch.randn(10, 4))
    z = torch.randn(5, 4)
    alone = torch.cat([G(z[i:i + 1]) for i in range(5)])
    torch.testing.assert_close(G(z), alone)  # no batch statistics of the examples themselves
    changed = z.clone()
    changed[1:] = torch.randn(4, 4) * 5
    torch.testing.assert_close(G(changed)[0], G(z)[0])
    norm = VirtualBatchNorm(6)
    norm.reference_size = 10
    h = torch.randn(12, 6) * 3 + 2
    ref = norm(h)[:10]
    torch.testing.assert_close(ref.mean(0), torch.zeros(6), atol=1e-5, rtol=0)  # the reference rows: its own moments
    torch.testing.assert_close(ref.var(0, unbiased=False), torch.ones(6), atol=1e-3, rtol=0)


def test_ssl_networks_shapes_and_hidden_features():
    for arch, size, hidden in (("ssl_mlp", 28, 5), ("ssl_conv", 28, 2), ("ssl_conv", 32, 3)):
        cfg = load_config("improved_gan_digits", [f"model.arch={arch}", f"data.size={size}", "model.minibatch_kernels=7"])
        info = load_dataset(cfg.data, "test").info
        G, D = build_network(cfg.model, info, "generator"), build_network(cfg.model, info, "discriminator")
        x = G(torch.rand(4, cfg.model.z_dim))
        assert x.shape == (4, 1, size, size) and x.abs().max() <= 1
        logits, features = D(x, features=True)
        assert logits.shape == (4, 10) and len(features) == hidden, arch
    assert [conv_stages(s) for s in (8, 16, 28, 32, 128)] == [1, 2, 2, 3, 5]


@pytest.mark.parametrize("arch", ["ssl_mlp", "ssl_conv", "ssl_cnn"])
def test_every_classifier_takes_dropout_while_training_only(arch):
    base = [f"model.arch={arch}", "data.size=28", "model.d_dim=8", "model.d_input_noise=0", "model.d_hidden_noise=0"]
    info = load_dataset(load_config("improved_gan_digits", base).data, "test").info
    x = torch.rand(6, 1, 28, 28) * 2 - 1
    for sets, random in ((base, False), (base + ["model.d_dropout=0.5"], True), (base + ["model.d_input_dropout=0.3"], True)):
        D = build_network(load_config("improved_gan_digits", sets).model, info, "discriminator")
        assert torch.equal(D(x), D(x)) != random, sets
        D.eval()
        assert torch.equal(D(x), D(x))


def test_ssl_cnn_is_the_paper_codes_cifar_classifier_narrowed():
    cfg = load_config("improved_gan_digits", ["model.arch=ssl_cnn", "data.size=28", "model.d_dim=8", "model.d_norm=weight",
                                              "model.d_input_dropout=0.2", "model.d_dropout=0.5", "model.d_input_noise=0"])
    info = load_dataset(cfg.data, "test").info
    D = build_network(cfg.model, info, "discriminator")
    convs = [m for m in D.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size[0], c.stride[0], c.padding[0]) for c in convs] == (
        [(8, 3, 1, 1)] * 2 + [(8, 3, 2, 1)] + [(16, 3, 1, 1)] * 2 + [(16, 3, 2, 1)] + [(16, 3, 1, 0)] + [(16, 1, 1, 0)] * 2)
    assert all(parametrize_name(m) == "weight_norm" for m in convs)
    sizes = []
    D.blocks[-1][0].register_forward_hook(lambda m, i, o: sizes.append(tuple(o.shape[2:])))
    x = torch.rand(6, 1, 28, 28) * 2 - 1
    logits, features = D(x, features=True)
    assert logits.shape == (6, 10) and [f.shape for f in features] == [(6, 8), (6, 16), (6, 16)]
    assert sizes == [(5, 5)]  # 28 -> 14 -> 7 -> unpadded 3x3 -> 5
    assert not torch.equal(D(x), D(x))  # dropout while training
    D.eval()
    assert torch.equal(D(x), D(x))
    cfg = load_config("improved_gan_digits", ["model.arch=ssl_cnn"])  # the digits' 8 px
    with pytest.raises(ConfigError, match="model.arch 'ssl_cnn' needs images of at least 12 px, got 8x8"):
        build_network(cfg.model, load_dataset(cfg.data, "test").info, "discriminator")


# --- the labelled-subset protocol ----------------------------------------------------------------

def test_labelled_subset_is_reproducible_balanced_and_seeded():
    labels = torch.from_numpy(np.random.default_rng(1).integers(0, 10, 1000))
    a, b, c = labelled_subset(labels, 7, seed=3), labelled_subset(labels, 7, seed=3), labelled_subset(labels, 7, seed=4)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert len(a) == 70 and len(set(a.tolist())) == 70
    assert torch.bincount(labels[a], minlength=10).tolist() == [7] * 10
    assert torch.equal(labelled_subset(labels, None, 0), torch.arange(1000))
    with pytest.raises(DataError, match="class 3 has only"):
        labelled_subset(labels[labels != 3].clone().index_put_((torch.tensor([0]),), torch.tensor(3)), 2, 0)


def test_labelled_items_never_come_from_the_test_split():
    cfg = tiny_cfg()
    family = ImprovedGAN(cfg, load_dataset(cfg.data, "train").info, torch.device("cpu"))
    family.attach_data(load_dataset(cfg.data, "train"))
    train_rows = holdout_split(1797, "train", cfg.data.seed, cfg.data.test_fraction, None)
    test_rows = holdout_split(1797, "test", cfg.data.seed, cfg.data.test_fraction, None)
    chosen = set(train_rows[family.labelled.numpy()].tolist())  # positions in the 1,797 digits
    assert len(chosen) == 30 and not chosen & set(test_rows.tolist())


def test_training_reads_no_test_files(tmp_path):
    """MNIST with only the train IDX files present: the semi-supervised run trains (the test split is untouched)."""
    write_mnist(tmp_path / "mnist", n_train=60)
    for path in (tmp_path / "mnist").glob("t10k-*"):
        path.unlink()
    from gankit.apps.train import train

    cfg = load_config("improved_gan_mnist", TINY + [f"data.root={tmp_path / 'mnist'}", "train.epochs=null", "train.steps=2",
                                                    "model.g_dim=8"])
    summary = train(cfg, tmp_path / "run", progress=False)
    assert summary["finished"]
    assert "per class: 0=3 1=3" in (tmp_path / "run" / "log.txt").read_text()


# --- the family ----------------------------------------------------------------------------------

def _family(*extra):
    cfg = tiny_cfg(*extra)
    data = load_dataset(cfg.data, "train")
    torch.manual_seed(0)
    family = ImprovedGAN(cfg, data.info, torch.device("cpu"))
    family.attach_data(data)
    return family, data


def test_unlabelled_batches_labels_are_never_read():
    family, data = _family()
    batch = data.get(torch.arange(20))
    torch.manual_seed(1)
    state = family.labelled_sampler.state_dict()
    loss, _ = family.d_step(batch)
    torch.manual_seed(1)
    family.labelled_sampler.load_state_dict(state)
    scrambled, _ = family.d_step({"x": batch["x"], "y": torch.full_like(batch["y"], 7)})
    assert loss.item() == scrambled.item()


def test_labelled_batches_are_augmented_as_the_unlabelled_ones():
    """data.shift / data.hflip reach the labelled batch too, so the supervised-only baseline trains on the same
    augmented images as the semi-supervised run; labels stay with their images."""
    plain, _ = _family()
    shifted, _ = _family("data.shift=2", "data.hflip=true")
    torch.manual_seed(5)
    x0, y0 = plain.labelled_batch()
    torch.manual_seed(5)
    x1, y1 = shifted.labelled_batch()
    assert torch.equal(y0, y1) and x0.shape == x1.shape and not torch.equal(x0, x1)
    # a shift or mirror only moves the ink: each image keeps at least the inked pixels inside its 2-px border
    inner = (x0[..., 2:-2, 2:-2] > 0).sum((1, 2, 3))
    assert ((x1 > 0).sum((1, 2, 3)) >= inner).all()


def test_supervised_only_trains_the_classifier_alone(tmp_path):
    from gankit.train.loop import Trainer

    trainer = Trainer(tiny_cfg("ssl.supervised_only=true", "train.steps=4"), tmp_path, progress=False)
    G0 = [p.detach().clone() for p in trainer.family.G.parameters()]
    D0 = [p.detach().clone() for p in trainer.family.D.parameters()]
    trainer.run()
    assert all(torch.equal(a, b) for a, b in zip(G0, trainer.family.G.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(D0, trainer.family.D.parameters()))
    assert [s.name for s in trainer.train_steps] == ["D"]


def test_bad_configurations_are_one_line_errors(tmp_path):
    from gankit.train.loop import Trainer

    celeba = write_celeba(tmp_path / "celeba")
    with pytest.raises(ConfigError, match="needs class labels; data 'celeba' gives attributes"):
        Trainer(tiny_cfg("data.name=celeba", f"data.root={celeba}", "data.attributes=[Male]"), tmp_path / "run")
    with pytest.raises(ConfigError, match="does not fit family 'improved_gan'"):
        Trainer(tiny_cfg("model.arch=dcgan"), tmp_path)
    with pytest.raises(ConfigError, match="does not fit family 'gan'"):
        Trainer(tiny_cfg("family=gan"), tmp_path)
    with pytest.raises(ConfigError, match="train.compile is not supported"):
        Trainer(tiny_cfg("train.compile=true"), tmp_path)
    family, data = _family("ssl.feature_layer=9")
    with pytest.raises(ConfigError, match="feature_layer 9 is out of range"):
        family.g_step(data.get(torch.arange(20)))


def test_resume_continues_exactly_and_eval_scores_the_classifier(tmp_path):
    from gankit.apps.evaluate import evaluate_run
    from gankit.apps.train import resume, train
    from gankit.runs.snapshots import load_classifier_source

    over = ["train.steps=6", "ssl.historical_averaging=0.01", "model.minibatch_kernels=4", "model.g_norm=virtual_batch",
            "model.vbn_reference_size=8"]
    cfg = tiny_cfg(*over)
    train(cfg, tmp_path / "straight", progress=False)
    train(tiny_cfg(*over, "train.steps=3"), tmp_path / "split", progress=False)
    resume(tmp_path / "split", steps=6, progress=False)
    for name in ("generator", "classifier"):
        from safetensors.torch import load_file

        a, b = load_file(tmp_path / "straight" / f"{name}.safetensors"), load_file(tmp_path / "split" / f"{name}.safetensors")
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name

    result = evaluate_run(tmp_path / "straight", checkpoint="all", log=lambda *_: None)
    scores = json.loads((tmp_path / "straight" / "eval.json").read_text())["results"]["6"]["scores"]
    test = load_dataset(cfg.data, "test")
    net = load_classifier_source(tmp_path / "straight", str(tmp_path / "straight" / "classifier.safetensors"), cfg, test.info)
    with torch.no_grad():
        by_hand = (net(test.get(torch.arange(len(test)))["x"]).argmax(1) == test.y).float().mean().item()
    assert scores["accuracy"]["mean"] == pytest.approx(by_hand)  # the state's EMA equals the snapshot's
    assert scores["errors"]["mean"] == round((1 - by_hand) * len(test))
    assert sorted(result["results"]) == [3, 6]


def test_data_init_normalizes_d_on_unlabelled_items_keeps_the_random_stream_and_resumes_exactly(tmp_path):
    from safetensors.torch import load_file

    from gankit.apps.train import resume, train

    cfg = tiny_cfg("ssl.data_init=64")
    data = load_dataset(cfg.data, "train")
    torch.manual_seed(3)
    family = ImprovedGAN(cfg, data.info, torch.device("cpu"))
    before = torch.get_rng_state()
    notes = family.attach_data(data)
    assert torch.equal(torch.get_rng_state(), before)  # the training stream is the same as without the init
    assert notes[0].startswith("data-dependent init: 7 weight-normed layers on 64 unlabelled items")
    first = family.D.blocks[0]
    layer = next(m for m in first.modules() if isinstance(m, torch.nn.Linear))
    draw = torch.Generator().manual_seed(cfg.train.seed + 104_729)
    x = data.get(torch.randperm(len(data), generator=draw)[:64])["x"]
    with torch.no_grad():  # D's first layer sees the input noise during the init: its units are near mean 0, std 1
        pre = layer((x.flatten(1) + 1) * 0.5 + 0.3 * torch.randn(64, x[0].numel()))
    assert pre.mean(0).abs().mean() < 0.3 and 0.7 < pre.std(0).mean() < 1.3
    assert all(torch.equal(a, b) for a, b in zip(family.ema.module.state_dict().values(), family.D.state_dict().values()))

    over = ["train.steps=6", "ssl.data_init=64"]
    train(tiny_cfg(*over), tmp_path / "straight", progress=False)
    train(tiny_cfg(*over[:-1], "ssl.data_init=64", "train.steps=3"), tmp_path / "split", progress=False)
    resume(tmp_path / "split", steps=6, progress=False)
    a, b = (load_file(tmp_path / run / "classifier.safetensors") for run in ("straight", "split"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = load_file(tmp_path / "straight" / "classifier.safetensors")
    train(tiny_cfg("train.steps=6"), tmp_path / "plain", progress=False)
    d = load_file(tmp_path / "plain" / "classifier.safetensors")
    assert any(not torch.equal(c[k], d[k]) for k in c)  # the init changed the training


def test_card_log_line():
    line = card_line(40, {"loss_sup": 0.5, "loss_d": 1.25, "loss_g": 0.1, "acc_lab": 0.75, "loss_unl": 0.75}, 20.0, 32)
    assert line == ("[train step 40] Supervised loss 0.5000 D loss 1.2500 G loss 0.1000 Accuracy 0.7500 loss_unl 0.7500 "
                    "(0.050 sec/batch, 640.0 instances/sec)")


def test_fixed_hidden_scales_freeze_every_hidden_g_and_train_the_output_layer(tmp_path):
    from safetensors.torch import load_file

    from gankit.apps.train import train

    def classifier(steps: int, *extra: str) -> dict:
        out = tmp_path / f"{steps}{'-'.join(extra)}"
        train(tiny_cfg(f"train.steps={steps}", "ssl.classifier_ema=0", *extra), out, progress=False)
        return load_file(out / "classifier.safetensors")

    fixed2, fixed5 = classifier(2, "ssl.fixed_hidden_scales=true"), classifier(5, "ssl.fixed_hidden_scales=true")
    free2, free5 = classifier(2), classifier(5)
    hidden_g = [k for k in fixed2 if k.startswith("blocks.") and k.endswith("original0")]
    assert len(hidden_g) == 5  # the five hidden layers of the MLP classifier
    assert all(torch.equal(fixed2[k], fixed5[k]) for k in hidden_g)  # three more Adam steps leave them as they were
    assert not any(torch.equal(free2[k], free5[k]) for k in hidden_g)  # without the option every one trains
    for key in ("out.parametrizations.weight.original0", "blocks.0.0.parametrizations.weight.original1"):
        assert not torch.equal(fixed2[key], fixed5[key])  # the output scale and every direction still train
    info = load_dataset(tiny_cfg().data, "train").info
    with pytest.raises(ConfigError, match="fixed_hidden_scales needs model.d_norm: weight"):
        ImprovedGAN(tiny_cfg("ssl.fixed_hidden_scales=true", "model.d_norm=none"), info, torch.device("cpu"))
