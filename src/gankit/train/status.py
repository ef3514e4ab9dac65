"""`status.json` in a run directory: running, finished, interrupted or failed, with the step (so that a
continuous evaluator knows when a run is over)."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path


def write_status(run_dir: Path, state: str, step: int) -> None:
    path = Path(run_dir) / "status.json"
    tmp = path.with_name(".status.json.tmp")
    tmp.write_text(json.dumps({"state": state, "step": step, "updated": time.time()}))
    os.replace(tmp, path)


def run_status(run_dir: Path) -> str | None:
    path = Path(run_dir) / "status.json"
    try:
        return json.loads(path.read_text()).get("state")
    except (OSError, ValueError):
        return None
