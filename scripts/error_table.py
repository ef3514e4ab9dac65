"""Write docs/errors.md: every bad input of tests/error_cases.py, the command that met it and the message it got
(run for real here; temporary paths shown as <tmp>, process ids as <pid>).

    python scripts/error_table.py [--out docs/errors.md]
"""
from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from error_cases import CASES, run_case  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/errors.md"))
    args = parser.parse_args()
    rows = []
    for case in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            code, _, err = run_case(Path(tmp), case)
            message = re.sub(r"PID \d+", "PID <pid>", err.strip().replace(tmp, "<tmp>")).replace("|", "\\|")
        print(f"{code}  {case[0]}: {message}", flush=True)
        rows.append(f"| {case[0]} | {code} | `{message}` |")
    text = ["# Bad inputs and what gankit says", "",
            "Every user-facing failure prints one line naming the file, key or value and what was expected, exits",
            "with code 2 and leaves what was already saved untouched; `gankit --debug ...` also prints the traceback.",
            "The table is written by `python scripts/error_table.py`, which runs each case for real;",
            "`tests/test_error_table.py` runs the same cases in CI.", "",
            "| bad input | exit | message |", "|---|---|---|", *rows, ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(text))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
