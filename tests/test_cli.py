import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from formats import write_celeba, write_cifar_python, write_mnist
from gankit.cli import main
from gankit.config import load_config, preset_names

TINY = ["--set", "data.size=8", "--set", "model.g_dim=8", "--set", "model.d_dim=8", "--set", "train.batch_size=16",
        "--set", "train.n_critic=2", "--no-progress"]


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    assert main(["train", "wgan_gp_digits", "--out", str(out), "--steps", "2", *TINY]) == 0
    return out


def test_every_subcommand_has_help(capsys):
    for command in ([], ["presets"], ["train"], ["resume"], ["sample"], ["eval"], ["metrics"], ["study"]):
        code, out, _ = run(capsys, *command, "--help")
        assert code == 0 and "Usage: gankit" in out


def test_presets_lists_names_and_descriptions(capsys):
    code, out, _ = run(capsys, "presets")
    assert code == 0
    for name in preset_names():
        line = next(line for line in out.splitlines() if line.startswith(name + " "))
        assert load_config(name).description in line


def test_readme_presets_table_names_every_preset():
    table = (Path(__file__).resolve().parents[1] / "README.md").read_text().split("### Presets", 1)[1].split("###", 1)[0]
    assert [name for name in preset_names() if f"`{name}`" not in table] == []


def test_dry_run_prints_the_resolved_config(capsys):
    code, out, _ = run(capsys, "train", "wgan_gp_cifar10", "--dry-run", "--seed", "7", "--set", "train.batch_size=32")
    assert code == 0
    import yaml

    printed = yaml.safe_load(out)
    assert printed["train"]["seed"] == 7 and printed["train"]["batch_size"] == 32 and printed["model"]["g_dim"] == 128


@pytest.mark.parametrize("args, fragment", [
    (["train", "nope"], "unknown preset 'nope'; valid:"),
    (["train", "wgan_gp_digits", "--set", "train.stpes=1", "--dry-run"], "unknown config key 'train.stpes'; valid keys at train:"),
    (["train", "wgan_gp_digits", "--set", "train.steps=many", "--dry-run"], "config key 'train.steps': Input should be a valid integer"),
    (["train", "wgan_gp_cifar10", "--steps", "1", "--set", "data.root=/nonexistent/cifar"], "/nonexistent/cifar: no CIFAR-10 files"),
    (["train", "wgan_gp_digits", "--set", "model.arch=resnet"],
     "unknown architecture 'resnet'; valid: dcgan, resnet_cifar, sndcgan, ssl_cnn, ssl_conv, ssl_mlp, stargan, toy_mlp"),
    (["train", "wgan_gp_digits", "--set", "data.size=28"],
     "model.arch 'dcgan' (generator): dcgan needs an image size that is a power of two"),
    (["resume", "/nonexistent/run"], "/nonexistent/run: no such run directory"),
    (["sample", "/nonexistent/run", "--num", "2", "--out", "x.png"], "no such run directory"),
    (["train", "wgan_gp_digits", "--steps", "0"], "Invalid value for '--steps'"),
    (["train", "wgan_gp_digits", "--set", "train.device=cuda"], "train.device is 'cuda' but no CUDA device is available"),
    (["train"], "Missing argument 'PRESET'"),
])
def test_user_errors_exit_2_with_one_line(capsys, tmp_path, args, fragment):
    if "train.device=cuda" in args:
        import torch

        if torch.cuda.is_available():
            pytest.skip("a CUDA device is available here")
    args = [a.replace("x.png", str(tmp_path / "x.png")) for a in args]
    if args[0] == "train" and "--dry-run" not in args and len(args) > 1:
        args = args[:2] + ["--out", str(tmp_path / "run"), *TINY] + args[2:]  # the test's own --set wins
    code, out, err = run(capsys, *args)
    assert code == 2
    assert fragment in err
    assert "Traceback" not in err
    assert err.strip().count("\n") == 0 and err.startswith("gankit: error: ")
    assert not (tmp_path / "run").exists()  # nothing created on a user error


def test_existing_run_needs_overwrite(capsys, digits_run, tmp_path):
    code, _, err = run(capsys, "train", "wgan_gp_digits", "--out", str(digits_run), "--steps", "1", *TINY)
    assert code == 2 and "already holds a run; continue it with `gankit resume" in err
    other = tmp_path / "notarun"
    other.mkdir()
    (other / "precious.txt").write_text("keep me")
    code, _, err = run(capsys, "train", "wgan_gp_digits", "--out", str(other), "--steps", "1", "--overwrite", *TINY)
    assert code == 2 and "is not a gankit run" in err and (other / "precious.txt").exists()


def test_not_a_run_directory(capsys, tmp_path):
    code, _, err = run(capsys, "resume", str(tmp_path))
    assert code == 2 and "not a gankit run directory (no config.yaml)" in err


def test_sample_to_grid_npz_and_folder(capsys, digits_run, tmp_path):
    code, out, _ = run(capsys, "sample", str(digits_run), "--num", "10", "--out", str(tmp_path / "grid.png"))
    assert code == 0 and "grid of 10" in out
    assert Image.open(tmp_path / "grid.png").size[0] > 8 * 3
    code, _, _ = run(capsys, "sample", str(digits_run), "--num", "10", "--out", str(tmp_path / "s.npz"), "--seed", "3")
    images = np.load(tmp_path / "s.npz")["images"]
    assert code == 0 and images.shape == (10, 8, 8, 1) and images.dtype == np.uint8
    run(capsys, "sample", str(digits_run), "--num", "10", "--out", str(tmp_path / "again.npz"), "--seed", "3")
    assert np.array_equal(images, np.load(tmp_path / "again.npz")["images"])  # same seed, same samples
    code, _, _ = run(capsys, "sample", str(digits_run), "--num", "3", "--out", str(tmp_path / "folder"))
    files = sorted(p.name for p in (tmp_path / "folder").iterdir())
    assert code == 0 and files == ["00000.png", "00001.png", "00002.png"]
    # The folder's PNGs are the npz's images for the same seed.
    run(capsys, "sample", str(digits_run), "--num", "3", "--out", str(tmp_path / "three.npz"))
    first = np.asarray(Image.open(tmp_path / "folder" / "00000.png"))
    assert np.array_equal(first, np.load(tmp_path / "three.npz")["images"][0, :, :, 0])
    # a second sample into that folder would mix with the first (gankit metrics reads them all); a .jpg is no folder
    code, _, err = run(capsys, "sample", str(digits_run), "--num", "2", "--out", str(tmp_path / "folder"))
    assert code == 2 and "already holds numbered PNGs of an earlier sample" in err
    code, _, err = run(capsys, "sample", str(digits_run), "--num", "2", "--out", str(tmp_path / "x.jpg"))
    assert code == 2 and "not .jpg" in err and not (tmp_path / "x.jpg").exists()


def test_sample_refuses_counts_and_seeds_it_cannot_serve(capsys, digits_run, tmp_path, monkeypatch):
    # a seed past 64 bits was a bare OverflowError from torch.Generator.manual_seed
    code, _, err = run(capsys, "sample", str(digits_run), "--num", "2", "--seed", str(2**80), "--out", str(tmp_path / "a.npz"))
    assert code == 2 and "--seed" in err and "Traceback" not in err
    code, _, err = run(capsys, "sample", str(digits_run), "--num", "10001", "--out", str(tmp_path / "g.png"))
    assert code == 2 and "at most 10,000" in err and not (tmp_path / "g.png").exists()
    # every sample is held as float32, twice, before writing: a count past the free memory is refused before generating
    import gankit.apps.generate as generate
    monkeypatch.setattr(generate, "available_memory", lambda: 1000 * 8 * 8 * 4 * 2)
    code, _, err = run(capsys, "sample", str(digits_run), "--num", "1001", "--out", str(tmp_path / "m.npz"))
    assert code == 2 and "need" in err and "GiB is free" in err and not (tmp_path / "m.npz").exists()
    code, _, err = run(capsys, "sample", str(digits_run), "--num", "2", "--out", str(tmp_path / ".npz"))
    assert code == 2 and "name the file" in err and not (tmp_path / ".npz").exists()
    code, _, _ = run(capsys, "sample", str(digits_run), "--num", "1000", "--out", str(tmp_path / "m.npz"))
    assert code == 0 and np.load(tmp_path / "m.npz")["images"].shape[0] == 1000
    # a folder is written batch by batch: any count that fits the disk, and the same images as the .npz
    code, _, err = run(capsys, "sample", str(digits_run), "--num", "1001", "--out", str(tmp_path / "f"))
    assert code == 0, err
    files = sorted((tmp_path / "f").glob("*.png"))
    assert len(files) == 1001 and files[0].name == "00000.png" and files[-1].name == "01000.png"
    image, saved = np.asarray(Image.open(files[999])), np.load(tmp_path / "m.npz")["images"][999]
    assert np.array_equal(image.reshape(saved.shape), saved)


def test_toy_run_samples_points(capsys, tmp_path):
    out = tmp_path / "toy"
    code, _, err = run(capsys, "train", "wgan_gp_toy_8gaussians", "--out", str(out), "--steps", "2", "--no-progress",
                       "--set", "data.num_train=1000", "--set", "model.g_dim=16", "--set", "model.d_dim=16")
    assert code == 0, err
    run(capsys, "sample", str(out), "--num", "50", "--out", str(tmp_path / "p.npz"))
    assert np.load(tmp_path / "p.npz")["points"].shape == (50, 2)
    code, _, err = run(capsys, "sample", str(out), "--num", "5", "--out", str(tmp_path / "dir"))
    assert code == 2 and "use .npz or .png" in err


@pytest.mark.parametrize("preset", preset_names())
def test_one_training_step_for_every_preset(capsys, tmp_path, preset):
    """Each preset as shipped (card architecture and losses), with a smaller batch and fixture data."""
    cfg = load_config(preset)
    extra = ["--set", "train.batch_size=4", "--set", "eval.schedule=train"]
    if cfg.data.name == "cifar10":
        extra += ["--set", f"data.root={write_cifar_python(tmp_path / 'cifar')}"]
    if cfg.data.name == "toy2d":
        extra += ["--set", "data.num_train=64"]
    if cfg.data.name == "celeba":  # CelebA-format fixture; a small grid keeps the 128 px card quick
        extra += ["--set", f"data.root={write_celeba(tmp_path / 'celeba', n=12)}", "--set", "data.test_count=4",
                  "--set", "stargan.grid_rows=2"]
    if cfg.data.name == "mnist":  # MNIST-format fixture: 12 items per class, enough for 10 labels each
        extra += ["--set", f"data.root={write_mnist(tmp_path / 'mnist', n_train=120)}"]
    code, out, err = run(capsys, "train", preset, "--out", str(tmp_path / "run"), "--steps", "1", "--no-progress", *extra)
    assert code == 0, err
    assert "run at step 1" in out and (tmp_path / "run" / "generator.safetensors").exists()


def test_console_entry_point_and_module(tmp_path):
    exe = [sys.executable, "-m", "gankit"]
    done = subprocess.run(exe + ["train", "nope"], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.strip().startswith("gankit: error: unknown preset 'nope'")


def test_eval_after_train_scores_every_kept_checkpoint(capsys, tmp_path):
    code, out, err = run(capsys, "train", "compare_gan_resnet_digits", "--out", str(tmp_path / "run"), "--steps", "4",
                         "--no-progress", "--set", "data.size=8", "--set", "model.g_dim=8", "--set", "model.d_dim=8",
                         "--set", "train.checkpoint_every=2", "--set", "eval.num_samples=100", "--set", "train.batch_size=8")
    assert code == 0, err
    results = json.loads((tmp_path / "run" / "eval.json").read_text())["results"]
    assert sorted(results, key=int) == ["2", "4"] and "fd" in results["4"]["scores"]

    # stopped during that evaluation (step 2 scored, step 4 not): resume scores what is missing, trains nothing
    data = json.loads((tmp_path / "run" / "eval.json").read_text())
    del data["results"]["4"]
    (tmp_path / "run" / "eval.json").write_text(json.dumps(data))
    code, out, err = run(capsys, "resume", str(tmp_path / "run"), "--no-progress")
    assert code == 0, err
    assert "eval_after_train did not score steps [4]: scoring them now" in out and "step 2: kept from eval.json" in out
    results = json.loads((tmp_path / "run" / "eval.json").read_text())["results"]
    assert sorted(results, key=int) == ["2", "4"] and results["2"] == data["results"]["2"]
    code, out, err = run(capsys, "resume", str(tmp_path / "run"), "--no-progress")
    assert code == 0 and "already finished at step 4" in out, err


def test_eval_after_train_without_inception_weights_fails_before_training(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-hub"))
    monkeypatch.delenv("GANKIT_INCEPTION_WEIGHTS", raising=False)
    root = write_cifar_python(tmp_path / "cifar")
    code, _, err = run(capsys, "train", "compare_gan_resnet_cifar10", "--out", str(tmp_path / "run"), "--steps", "1",
                       "--set", f"data.root={root}", "--set", "train.batch_size=4")
    assert code == 2 and "Inception weights not found" in err and not (tmp_path / "run").exists()
