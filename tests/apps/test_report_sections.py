"""report.html on hand-written run directories: the config sections a family reads, the evaluation protocol as a
table, and the resumes of a run."""
import html
import json
import re
import time

import pytest

from gankit.apps.report import flatten, train_series, used_sections, write_report

SECTIONS = ["data", "model", "loss", "optim", "train", "eval", "boost", "ssl", "stargan"]
RESUME = {"event": "resume", "step": 2000, "from": "checkpoints/state-0002000.pt", "time": 1764000000.0}


def config_dict(family: str) -> dict:
    return {"name": "handmade", "description": "", "family": family} | {section: {"x": 1} for section in SECTIONS}


@pytest.mark.parametrize("family, expected", [
    ("gan", ["data", "model", "loss", "optim", "train", "eval"]),
    ("adagan", ["data", "model", "loss", "optim", "train", "eval", "boost"]),
    ("improved_gan", ["data", "model", "optim", "train", "eval", "ssl"]),
    ("stargan", ["data", "model", "loss", "optim", "train", "eval", "stargan"]),
    ("someday_gan", SECTIONS),
])
def test_used_sections(family, expected):
    assert used_sections(config_dict(family)) == expected


def write_run(folder, family: str, records: list[dict], eval_json: dict | None = None):
    folder.mkdir()
    (folder / "config.yaml").write_text(f"name: handmade\nfamily: {family}\n")
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (folder / "status.json").write_text(json.dumps({"state": "finished", "step": 4000, "updated": 1764003600.0}))
    if eval_json is not None:
        (folder / "eval.json").write_text(json.dumps(eval_json))
    return folder


def config_text(page: str) -> str:
    return html.unescape(re.search(r"<h2>Resolved config</h2>(.*?)</pre>", page, re.S).group(1))


def test_the_config_shows_the_sections_the_family_reads(tmp_path):
    page = write_report(write_run(tmp_path / "ssl", "improved_gan", [])).read_text()
    shown = config_text(page)
    assert "\nssl:\n" in shown and "\nmodel:\n" in shown and "family: improved_gan" in shown
    assert not re.search(r"^(loss|boost|stargan):", shown, re.M)
    assert "left out: loss, boost, stargan" in shown

    shown = config_text(write_report(write_run(tmp_path / "star", "stargan", [])).read_text())
    assert re.findall(r"^(\w+):$", shown, re.M) == ["data", "model", "loss", "optim", "train", "eval", "stargan"]


def protocol_rows(page: str) -> list[list[tuple[str, str]]]:
    tables = re.findall(r"<table class='protocol'>(.*?)</table>", page, re.S)
    return [[(html.unescape(k), html.unescape(v)) for k, v in re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td></tr>", t)]
            for t in tables]


def test_the_protocol_is_a_table_per_entry_or_the_run_s(tmp_path):
    top = {"metrics": ["fd", "kid"], "num_samples": 64, "extractors": {"fd": {"name": "digits-cnn", "sha256": "ab12"}}}
    own = {"scorer": "attr_digits-cnn", "reference_data": {"name": "attr_digits", "size": 16}, "empty": {}}
    scores = {"fd": {"mean": 12.5, "std": 0.0, "values": [12.5]}}
    eval_json = {"results": {"1000": {"scores": scores}, "2000": {"scores": scores}, "3000": {"scores": scores, "protocol": own}},
                 "protocol": top, "written": "2025-11-24T16:00:00"}
    page = write_report(write_run(tmp_path / "run", "gan", [], eval_json)).read_text()
    assert "protocol: {" not in page  # no JSON dump
    assert protocol_rows(page) == [
        [("metrics", "fd, kid"), ("num_samples", "64"), ("extractors.fd.name", "digits-cnn"), ("extractors.fd.sha256", "ab12")],
        [("scorer", "attr_digits-cnn"), ("reference_data.name", "attr_digits"), ("reference_data.size", "16"), ("empty", "{}")]]
    assert "<caption>protocol of step 1000, step 2000</caption>" in page and "<caption>protocol of step 3000</caption>" in page

    del eval_json["results"]["3000"]  # one protocol for every entry: one table
    page = write_report(write_run(tmp_path / "one", "gan", [], eval_json)).read_text()
    assert len(protocol_rows(page)) == 1 and "<caption>protocol</caption>" in page and "written: 2025-11-24T16:00:00" in page


def test_flatten_dots_nested_keys():
    assert flatten({"a": {"b": 1, "c": {"d": None}}, "e": [1, 2], "f": {}}) == {"a.b": 1, "a.c.d": None, "e": [1, 2], "f": {}}


def test_a_resumed_run_says_so_and_its_curves_skip_the_events(tmp_path):
    records = [{"step": 1000, "time": 1763990000.0, "loss_d": 1.0, "loss_g": 2.0},
               {"step": 2000, "time": 1763995000.0, "loss_d": 0.5, "loss_g": 1.5},
               RESUME | {"lost_seconds": 35.5},  # an event's own numbers are no training curve
               {"step": 3000, "time": 1764001000.0, "loss_d": 0.25, "loss_g": 1.0},
               {"event": "resume", "step": 3000, "from": "checkpoints/state-0003000.pt", "time": 1764002000.0},
               {"step": 4000, "time": 1764003000.0, "loss_d": 0.125, "loss_g": 0.5}]
    series = train_series(records)
    assert list(series) == ["loss_d", "loss_g"] and series["loss_d"][0] == [1000, 2000, 3000, 4000]
    page = write_report(write_run(tmp_path / "run", "gan", records)).read_text()
    when = [time.strftime("%Y-%m-%d %H:%M", time.localtime(t)) for t in (1764000000.0, 1764002000.0)]
    assert (f"<li>resumed at step 2000 ({when[0]}) from checkpoints/state-0002000.pt</li>"
            f"<li>resumed at step 3000 ({when[1]}) from checkpoints/state-0003000.pt</li>") in page
    assert "<h2>Training curves</h2>" in page

    page = write_report(write_run(tmp_path / "fresh", "gan", records[:2])).read_text()
    assert "resumed at" not in page
