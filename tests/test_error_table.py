"""Every bad input of docs/errors.md: exit code 2, one line naming the thing, no traceback, nothing run or lost."""
import pytest

from error_cases import CASES, run_case


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_one_line_and_exit_2(tmp_path, case):
    code, _, err = run_case(tmp_path, case)
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("gankit: error: "), err
    assert case[2] in lines[0]
    assert not (tmp_path / "PWNED").exists()  # a pickle that runs code was refused, not run
    assert not (tmp_path / "out").exists()  # a user error before training leaves no run directory


def test_debug_shows_the_traceback(tmp_path, capsys):
    from gankit.cli import main

    assert main(["--debug", "resume", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and err.strip().endswith("no such run directory")


def test_docs_table_lists_every_case():
    from pathlib import Path

    table = (Path(__file__).parents[1] / "docs" / "errors.md").read_text()
    for what, *_ in CASES:
        assert f"| {what} |" in table, f"docs/errors.md lacks '{what}': run scripts/error_table.py"
