"""The run directory: create it for a new run, read back its config. A run directory holds `config.yaml`
(resolved), `metrics.jsonl`, `log.txt`, `tb/` (TensorBoard), `samples/step-*.png`, `checkpoints/state-*.pt` (training
states, `gankit.train.checkpoint`), `generator.safetensors` (the snapshot, read by `gankit.runs.snapshots`),
`status.json` and, once scored, `eval.json`."""
from __future__ import annotations

import shutil
from pathlib import Path

from gankit.config import Config, config_from_dict, load_yaml
from gankit.errors import ConfigError, RunDirError
from gankit.files import RunLock, atomic_write_text, check_output_path, os_error_reason, read_text
from gankit.train.checkpoint import SNAPSHOT_NAME, snapshot_metadata

CONFIG_NAME = "config.yaml"
LOCK_NAME, EVAL_LOCK_NAME = ".lock", ".eval.lock"  # held by train/resume; by eval while it writes eval.json
LOCK_NAMES = (LOCK_NAME, EVAL_LOCK_NAME)


# what a run (of any family, a study trial, an export beside its snapshot) writes into its directory: --overwrite
# removes only a folder made of these, so a user's own file (or a folder that merely has a config.yaml) is never lost
RUN_NAMES = frozenset({CONFIG_NAME, *LOCK_NAMES, "metrics.jsonl", "log.txt", "tb", "samples", "checkpoints",
                       "generator.safetensors", "status.json", "eval.json", "eval-raw.json", "scores.csv",
                       "scores-raw.csv", "report.html", "trial.json", "boost", "boost.json", "components",
                       "generator.onnx", "generator.onnx.json", "generator.torchscript.pt",
                       "generator.torchscript.pt.json"})


def check_run_dir(out: Path, overwrite: bool = False) -> None:
    """Raise unless `out` is free for a new run (or an old run that `overwrite` may replace)."""
    out = check_output_path(out, "folder")
    if out.is_dir() and any(child.name not in LOCK_NAMES for child in out.iterdir()):
        if not (out / CONFIG_NAME).is_file():
            raise RunDirError(f"{out}: folder is not empty and is not a gankit run; choose another --out")
        if not overwrite:
            raise RunDirError(f"{out}: already holds a run; continue it with `gankit resume {out}`, "
                              "or pass --overwrite to start over")
        _check_replaceable(out)


def _check_replaceable(out: Path) -> None:
    """--overwrite empties `out`: only when its config.yaml is a gankit run's and it holds nothing but a run's files
    (temporary files of a killed writer, `.NAME.PID.RANDOM.tmp`, included)."""
    try:
        data = load_yaml(read_text(out / CONFIG_NAME, "config file"), str(out / CONFIG_NAME))
    except ConfigError as err:
        raise RunDirError(f"{err}; --overwrite replaces only a gankit run: choose another --out") from None
    if not isinstance(data, dict) or not {"family", "train"} <= data.keys():
        raise RunDirError(f"{out / CONFIG_NAME}: not a gankit run's config (no family and train sections); "
                          "--overwrite replaces only a gankit run: choose another --out")
    foreign = sorted(child.name for child in out.iterdir()
                     if child.name not in RUN_NAMES and not (child.name.startswith(".") and child.name.endswith(".tmp")))
    if foreign:
        listed = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise RunDirError(f"{out}: --overwrite would delete what gankit did not write there ({listed}); "
                          "move it out or choose another --out")


def check_out_beside_run(out: Path | None, run_dir: Path, allowed: tuple[str, ...] = (), what: str = "--out") -> None:
    """Refuse an output path that would overwrite what the run owns (its config, snapshot, checkpoints, sample grids,
    scores...) or the run directory itself; `allowed`: the run's own names this command writes (report.html). Any
    other run that `out` lies in is protected the same way, with nothing allowed."""
    if out is None:
        return
    try:
        target, own = Path(out).resolve(), Path(run_dir).resolve()
    except OSError:
        return
    holder = next((parent for parent in target.parents if is_run_dir(parent)), None)
    for owner, names in ((own, allowed), *(((holder, ()),) if holder not in (None, own) else ())):
        try:
            inside = target.relative_to(owner)
        except ValueError:
            continue
        if not inside.parts:
            raise RunDirError(f"{what} {out}: is the run directory itself; give a file or folder outside its own files")
        if inside.parts[0] in RUN_NAMES and inside.parts[0] not in names:
            whose = "the run's own" if owner == own else f"the run {owner}'s"
            raise RunDirError(f"{what} {out}: would overwrite {whose} {inside.parts[0]}; choose another path")


def is_run_dir(folder: Path) -> bool:
    """A gankit run directory: its config.yaml and a trace of training (status, checkpoints or a snapshot)."""
    return (folder / CONFIG_NAME).is_file() and any((folder / name).exists() for name in
                                                    ("status.json", "checkpoints", "generator.safetensors"))


def prepare_run_dir(out: Path, overwrite: bool = False, keep: tuple[str, ...] = ()) -> Path:
    """An empty run directory at `out` (an old run in it removed when `overwrite`), but for the names in `keep`
    (the lock file of the process that prepares it)."""
    out = Path(out)
    check_run_dir(out, overwrite)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for child in out.iterdir():
            if child.name in keep:
                continue
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    except OSError as err:
        raise RunDirError(f"{out}: could not prepare the run directory ({os_error_reason(err)})") from None
    return out


def open_run_dir(out: Path, overwrite: bool, lock: RunLock) -> Path:
    """Create `out`, take its lock, then (checked again under the lock) empty it for a new run."""
    out = Path(out)
    check_run_dir(out, overwrite)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunDirError(f"{out}: could not create the run directory ({os_error_reason(err)})") from None
    lock.acquire()
    if not overwrite:
        return prepare_run_dir(out, overwrite, keep=(lock.path.name,))
    # an evaluator (`gankit eval --watch`) writing eval.json of the run about to be wiped: refuse, and keep its lock
    # file (deleting it would let a second evaluator take a fresh lock beside the first)
    with RunLock(out, EVAL_LOCK_NAME, activity="evaluating it") as evaluating:
        return prepare_run_dir(out, overwrite, keep=(lock.path.name, evaluating.path.name))


def write_config(run_dir: Path, cfg: Config) -> None:
    atomic_write_text(Path(run_dir) / CONFIG_NAME, cfg.to_yaml())


def read_run_config(run_dir: Path) -> Config:
    run_dir = Path(run_dir)
    path = run_dir / CONFIG_NAME
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: " + ("a file, not a run directory" if run_dir.exists() else "no such run directory"))
    if not path.is_file():
        raise RunDirError(f"{run_dir}: not a gankit run directory (no {CONFIG_NAME})")
    try:
        data = load_yaml(read_text(path, "config file"), str(path))
    except ConfigError as err:
        raise RunDirError(str(err)) from None
    _check_complete(path, data, snapshot_metadata(run_dir / SNAPSHOT_NAME).get("config"))
    return config_from_dict(data, str(path))


def _check_complete(path: Path, data, trained) -> None:
    """A run's config.yaml is written whole. A key that the run's snapshot was trained with and the file lacks means
    the file was cut short or hand-edited: a default in its place would silently change the run (and resume would
    write it back). Keys newer than the snapshot are not asked for: older runs stay readable."""
    if not isinstance(trained, dict):
        return
    have = data if isinstance(data, dict) else {}
    missing = [f"{section}.{key}" if isinstance(value, dict) else section
               for section, value in trained.items() for key in (value if isinstance(value, dict) else [None])
               if section not in have or (isinstance(value, dict) and not (isinstance(have[section], dict)
                                                                           and key in have[section]))]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise RunDirError(f"{path}: lacks {missing[0]}{more}, which {SNAPSHOT_NAME} was trained with (cut short or "
                          "edited?); a default would silently change the run: restore them (the snapshot records "
                          "each value); nothing changed")
