"""Bad inputs a user can give gankit, each with the command that meets it and a fragment of the one-line message it
must get. `tests/test_error_table.py` runs every case; `scripts/error_table.py` writes docs/errors.md from them."""
from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import io
import os
import pickle
import shutil
from pathlib import Path

from formats import write_cifar_python, write_image_folder, write_mnist

TINY = ["--set", "data.size=8", "--set", "model.g_dim=8", "--set", "model.d_dim=8", "--set", "model.z_dim=8",
        "--set", "train.batch_size=16", "--set", "train.n_critic=1", "--set", "train.checkpoint_every=2",
        "--set", "train.report=false", "--no-progress"]


class Pwn:
    """Unpickling this runs a shell command that creates a file: a load that runs code leaves the proof behind."""

    def __init__(self, proof: Path):
        self.proof = proof

    def __reduce__(self):
        return (os.system, (f"touch {self.proof}",))


def tiny_run(tmp: Path, steps: int = 2) -> Path:
    from gankit.cli import main

    run = tmp / "run"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["train", "wgan_gp_digits", "--out", str(run), "--steps", str(steps), *TINY]) == 0
    return run


def _yaml(tmp: Path, text: str) -> Path:
    path = tmp / "exp.yaml"
    path.write_text(text)
    return path


def _mnist(tmp: Path, damage) -> list[str]:
    root = write_mnist(tmp / "mnist", 12, 6)
    damage(root / "train-images-idx3-ubyte.gz")
    return ["train", "wgan_gp_digits", "--out", str(tmp / "out"), "--set", "data.name=mnist", "--set",
            f"data.root={root}", *TINY, "--steps", "1"]


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def _bad_magic(path: Path) -> None:
    data = bytearray(gzip.decompress(path.read_bytes()))
    data[2] = 0x0D  # type code 0x0D = float32, not MNIST's unsigned bytes
    path.write_bytes(gzip.compress(bytes(data)))


def _cifar_pwn(tmp: Path) -> list[str]:
    root = write_cifar_python(tmp / "cifar", 2)
    (root / "cifar-10-batches-py" / "data_batch_2").write_bytes(pickle.dumps(Pwn(tmp / "PWNED"), protocol=2))
    return ["train", "wgan_gp_digits", "--out", str(tmp / "out"), "--set", "data.name=cifar10", "--set",
            f"data.root={root}", *TINY, "--steps", "1"]


def _corrupt_image(tmp: Path) -> list[str]:
    root = write_image_folder(tmp / "folder", per_class=2)
    (root / "dogs" / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"junk" * 10)
    return ["train", "wgan_gp_digits", "--out", str(tmp / "out"), "--set", "data.name=image_folder", "--set",
            f"data.root={root}", "--set", "data.in_memory=true", *TINY, "--steps", "1"]


def _incompatible(tmp: Path) -> list[str]:
    run = tiny_run(tmp)
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("g_dim: 8", "g_dim: 16"))
    return ["resume", str(run), "--steps", "4", "--no-progress"]


def _all_corrupt(tmp: Path) -> list[str]:
    run = tiny_run(tmp)
    for path in (run / "checkpoints").glob("state-*.pt"):
        path.write_bytes(path.read_bytes()[:-10])
    return ["resume", str(run), "--steps", "4", "--no-progress"]


def _pwn_checkpoint(tmp: Path) -> list[str]:
    import torch

    run = tiny_run(tmp)
    from gankit.train.checkpoint import FOOTER

    for path in (run / "checkpoints").glob("state-*.pt"):  # behind a valid checksum: anyone can compute one
        torch.save({"step": Pwn(tmp / "PWNED")}, path)
        payload = path.read_bytes()
        path.write_bytes(payload + FOOTER + hashlib.sha256(payload).digest())
    return ["resume", str(run), "--steps", "4", "--no-progress"]


def _empty_run_dir(tmp: Path) -> list[str]:
    (tmp / "notarun").mkdir()
    return ["eval", str(tmp / "notarun")]


def _inception(tmp: Path) -> list[str]:
    root = write_image_folder(tmp / "imgs", classes=("a",), per_class=2)
    return ["metrics", "--input1", str(root / "a"), "--input2", str(root / "a"), "--fid",
            "--inception-weights", str(tmp / "pt_inception.pth")]


@contextlib.contextmanager
def full_disk():
    """Every temporary file a save writes gets 100 bytes, then the disk is full."""
    real = Path.write_bytes

    def write_bytes(self, data):
        if self.name.endswith(".tmp") and self.name.startswith(".state-"):  # the checkpoint's temporary file
            real(self, data[:100])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    Path.write_bytes = write_bytes
    try:
        yield
    finally:
        Path.write_bytes = real


def _disk_full(tmp: Path) -> list[str]:
    run = tiny_run(tmp)
    return ["resume", str(run), "--steps", "4", "--no-progress"]


# (what is wrong, build the input and return the command's arguments, a fragment of the message, context manager)
CASES = [
    ("YAML that does not parse", lambda t: ["train", str(_yaml(t, "train: [1, 2\n")), "--dry-run"], "invalid YAML", None),
    ("a number of over 4,300 digits in a YAML file",
     lambda t: ["train", str(_yaml(t, "base: wgan_gp_digits\ntrain:\n  steps: " + "1" * 5000 + "\n")), "--dry-run"],
     "a number too long to read", None),
    ("a number of over 4,300 digits in --set", lambda t: ["train", "wgan_gp_digits", "--set", "train.steps=" + "1" * 5000,
                                                          "--dry-run"], "(got '1111", None),
    ("YAML that is not a mapping", lambda t: ["train", str(_yaml(t, "- 1\n- 2\n")), "--dry-run"], "expected a mapping", None),
    ("unknown config key", lambda t: ["train", "wgan_gp_digits", "--set", "train.stpes=3", "--dry-run"],
     "unknown config key 'train.stpes'", None),
    ("unknown key in a YAML file", lambda t: ["train", str(_yaml(t, "base: wgan_gp_digits\nmodel:\n  widht: 3\n")),
                                             "--dry-run"], "unknown config key 'model.widht'", None),
    ("a key the family never reads", lambda t: ["train", "improved_gan_digits", "--set", "loss.name=hinge", "--dry-run"],
     "config key 'loss.name' is never read by family 'improved_gan'", None),
    ("wrong type", lambda t: ["train", "wgan_gp_digits", "--set", "train.steps=many", "--dry-run"],
     "config key 'train.steps': Input should be a valid integer", None),
    ("value out of range", lambda t: ["train", "wgan_gp_digits", "--set", "train.batch_size=0", "--dry-run"],
     "config key 'train.batch_size'", None),
    ("an image augmentation on 2-D points", lambda t: ["train", "wgan_gp_toy_25gaussians", "--out", str(t / "out"),
                                                       "--set", "data.shift=2", "--no-progress"],
     "data 'toy2d' gives points", None),
    ("an attribute the data does not have", lambda t: ["train", "stargan_attrdigits", "--out", str(t / "out"), "--set",
                                                        "model.g_gate_attributes=[rotatd]", "--no-progress"],
     "model.g_gate_attributes: rotatd not among the data's attributes", None),
    ("a loss the family cannot train (caught by --dry-run)",
     lambda t: ["train", "stargan_attrdigits", "--set", "loss.name=relativistic_average", "--dry-run"],
     "stargan_attrdigits: config key 'loss.name': 'relativistic_average' compares fakes with a real batch", None),
    ("unknown preset", lambda t: ["train", "wgan_gp_digitz"], "unknown preset 'wgan_gp_digitz'", None),
    ("bad command-line value", lambda t: ["train", "wgan_gp_digits", "--device", "tpu"], "Invalid value for '--device'", None),
    ("MNIST files missing", lambda t: ["train", "wgan_gp_digits", "--out", str(t / "out"), "--set", "data.name=mnist",
                                       "--set", f"data.root={t}", *TINY], "missing train-images-idx3-ubyte[.gz]", None),
    ("MNIST file truncated", lambda t: _mnist(t, _truncate), "train-images-idx3-ubyte.gz", None),
    ("MNIST file mis-formatted (IDX type code)", lambda t: _mnist(t, _bad_magic), "train-images-idx3-ubyte.gz", None),
    ("CIFAR-10 pickle that would run code", _cifar_pwn, "refusing to load 'posix.system'", None),
    ("corrupt image in an image folder", _corrupt_image, "unreadable image", None),
    ("missing Inception weights", _inception, "FID/IS/KID needs weights-inception-2015-12-05", None),
    ("a run directory that is not one", _empty_run_dir, "not a gankit run directory (no config.yaml)", None),
    ("a run directory that does not exist", lambda t: ["resume", str(t / "nope")], "no such run directory", None),
    ("incompatible checkpoint (config changed)", _incompatible, "does not match this run's configuration", None),
    ("every checkpoint truncated", _all_corrupt, "no usable checkpoint left", None),
    ("checkpoint that would run code", _pwn_checkpoint, "refused, it holds objects that would run code", None),
    ("full disk while saving a checkpoint", _disk_full, "could not be written (disk full)", full_disk),
]

from error_cases_inputs import CASES_INPUTS  # noqa: E402  (adversarial data files: they build on tiny_run above)
from error_cases_runs import CASES_RUNS  # noqa: E402  (configs, runs, studies)

CASES += CASES_INPUTS + CASES_RUNS


def run_case(tmp: Path, case) -> tuple[int, str, str]:
    """Build the case in `tmp`, run gankit on it in-process: (exit code, stdout, stderr)."""
    from gankit.cli import main

    _, build, _, context = case
    args = build(tmp)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), (context() if context else contextlib.nullcontext()):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


def clean(tmp: Path) -> None:
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
