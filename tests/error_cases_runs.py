"""Bad inputs around configs, run and study directories (issue 21), in the format of tests/error_cases.py:
(what is wrong, build the input in a temporary folder and return the command's arguments, a fragment of the one-line
message, a context manager around the command or None)."""
from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, n in zip("abcdefgh", "bcdefghi"))
_HELD: list = []  # locks taken by a case's build, released after its command


def _run(tmp: Path) -> Path:
    from error_cases import tiny_run

    return tiny_run(tmp)


def _file(tmp: Path, name: str, data: bytes) -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


def _in_use(tmp: Path) -> list[str]:
    from gankit.files import RunLock

    run = _run(tmp)
    _HELD.append(RunLock(run).acquire())  # held by this process through another open file: a second writer
    return ["resume", str(run), "--steps", "4", "--no-progress"]


@contextlib.contextmanager
def release_held():
    try:
        yield
    finally:
        while _HELD:
            _HELD.pop().release()


def _trainer_gone(tmp: Path) -> list[str]:
    run = _run(tmp)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    status = json.loads((run / "status.json").read_text())
    (run / "status.json").write_text(json.dumps({**status, "state": "running", "pid": int(dead.stdout)}))
    return ["eval", str(run), "--watch", "--poll", "0.1", "--metrics", "fd", "--num-samples", "20", "--num-real", "20"]


def _study(tmp: Path, text: str) -> Path:
    return _file(tmp, "study.yaml", text.encode())


def _blocked_out(tmp: Path) -> list[str]:
    _file(tmp, "a-file", b"x")
    from error_cases import TINY

    return ["train", "wgan_gp_digits", "--out", str(tmp / "a-file" / "run"), *TINY]


CASES_RUNS = [
    ("YAML alias bomb (a few hundred bytes expanding to billions)",
     lambda t: ["train", str(_file(t, "bomb.yaml", BOMB.encode())), "--dry-run"], "alias bomb", None),
    ("YAML alias that contains itself",
     lambda t: ["train", str(_file(t, "cycle.yaml", b"base: wgan_gp_digits\neval:\n  metrics: &m [fd, *m]\n")), "--dry-run"],
     "(a cycle)", None),
    ("config file that is not UTF-8",
     lambda t: ["train", str(_file(t, "exp.yaml", b"base: wgan_gp_digits\ndescription: caf\xe9\n")), "--dry-run"],
     "not a UTF-8 text file", None),
    ("non-finite number in the config", lambda t: ["train", "wgan_gp_digits", "--set", "optim.lr_g=.inf", "--dry-run"],
     "config key 'optim.lr_g': Input should be a finite number", None),
    ("unknown loss name (checked when the config is parsed)",
     lambda t: ["train", "wgan_gp_digits", "--set", "loss.name=hinj", "--dry-run"], "config key 'loss.name': unknown loss", None),
    ("unknown name in a study grid",
     lambda t: ["study", str(_study(t, "base: wgan_gp_digits\ngrid: {loss.penalty: [none, wgan_gp]}\n")), "--dry-run"],
     "trial with loss.penalty=wgan_gp: ", None),
    ("a config section written twice (YAML keeps the last: the first's settings were lost)",
     lambda t: ["train", str(_file(t, "dup.yaml", b"base: wgan_gp_digits\ntrain:\n  steps: 3\ntrain:\n  batch_size: 8\n")),
                "--dry-run"], "invalid YAML at line 4: duplicate key 'train' (first at line 2)", None),
    ("a study grid key written twice",
     lambda t: ["study", str(_study(t, "base: wgan_gp_digits\ngrid:\n  loss.name: [hinge]\n  loss.name: [wasserstein]\n")),
                "--dry-run"], "duplicate key 'loss.name' (first at line 3)", None),
    ("a study's random range that YAML read as text (1.0e30 without a sign)",
     lambda t: ["study", str(_study(t, "base: wgan_gp_digits\nrandom:\n  samples: 2\n  params:\n"
                                        "    train.steps: {int_uniform: [1, 1.0e30]}\n")), "--dry-run"],
     "train.steps.int_uniform: expected two finite numbers [low, high], got [1, '1.0e30']", None),
    ("a study's random range of NaN",
     lambda t: ["study", str(_study(t, "base: wgan_gp_digits\nrandom:\n  samples: 2\n  params:\n"
                                        "    optim.lr_g: {uniform: [.nan, .nan]}\n")), "--dry-run"],
     "optim.lr_g.uniform: expected two finite numbers", None),
    ("a study grid over train.seed (the seeds list would override it: three trials of seed 0)",
     lambda t: ["study", str(_study(t, "base: wgan_gp_digits\ngrid:\n  train.seed: [0, 1, 2]\n")), "--dry-run"],
     "grid.train.seed: a study's seeds are listed under `seeds:`", None),
    ("a study grid value listed twice (the same trial id twice)",
     lambda t: ["study", str(_study(t, "base: wgan_gp_digits\ngrid: {loss.name: [hinge, hinge]}\n")), "--dry-run"],
     "a value is listed twice", None),
    ("a study seed listed twice",
     lambda t: ["study", str(_study(t, "base: wgan_gp_digits\nseeds: [0, 0]\n")), "--dry-run"],
     "a seed is listed twice ([0, 0])", None),
    ("a study key both fixed and swept (one would win silently)",
     lambda t: ["study", str(_study(t, "base: wgan_gp_digits\nset: {loss.name: hinge}\n"
                                        "grid: {loss.name: [hinge, wasserstein]}\n")), "--dry-run"],
     "loss.name: given in both set and grid; keep it in one", None),
    ("a second process on a run in use", _in_use, "is in use by PID", release_held),
    ("--out inside an existing file", _blocked_out, "is a file, not a folder", None),
    ("gankit eval --watch on a run whose training process died", _trainer_gone, "is gone while status.json says running",
     None),
]
