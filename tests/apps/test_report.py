import base64
import io
import json
import math
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from gankit.apps.report import REPORT_NAME, eval_series, train_series, write_report
from gankit.cli import main

TINY = ["--set", "data.size=8", "--set", "model.g_dim=8", "--set", "model.d_dim=8", "--set", "train.batch_size=16",
        "--set", "train.n_critic=2", "--set", "train.log_every=2", "--set", "train.sample_every=2", "--no-progress"]
IMG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def images_of(page: str) -> list[Image.Image]:
    return [Image.open(io.BytesIO(base64.b64decode(data))) for data in IMG.findall(page)]


@pytest.fixture(scope="module")
def run_with_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "run"
    assert main(["train", "wgan_gp_digits", "--out", str(out), "--steps", "12", *TINY]) == 0
    return out


def test_training_writes_a_self_contained_report(run_with_report):
    page = (run_with_report / REPORT_NAME).read_text()
    # offline: no scripts, no remote or relative resources; every picture is an inlined PNG that decodes
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert not re.search(r'src="(?!data:)', page)
    images = images_of(page)
    grids = sorted((run_with_report / "samples").glob("step-*.png"))
    assert len(grids) == 7  # steps 0, 2, ..., 12
    # a curves plot, every sample grid (7 <= MAX_GRIDS), then the real images shown alike, each the same picture as on disk
    assert len(images) == 1 + len(grids) + 1
    for image, grid in zip(images[1:], [*grids, run_with_report / "samples" / "real.png"]):
        assert np.array_equal(np.asarray(image.convert("RGB")), np.asarray(Image.open(grid).convert("RGB")))
    for section in ("Evaluation", "Training curves", "Samples over training", "Resolved config"):
        assert f"<h2>{section}</h2>" in page
    assert "not evaluated yet" in page and "name: wgan_gp_digits" in page


def test_eval_refreshes_the_report_with_its_table_and_protocol(run_with_report, capsys, monkeypatch):
    assert main(["eval", str(run_with_report), "--num-samples", "64", "--num-real", "64", "--metrics", "fd"]) == 0
    out = capsys.readouterr().out
    assert f"report: {run_with_report / REPORT_NAME}" in out
    page = (run_with_report / REPORT_NAME).read_text()
    fd = json.loads((run_with_report / "eval.json").read_text())["results"]["12"]["scores"]["fd"]["mean"]
    assert f"<td>{fd:.4g}</td>" in page and "not evaluated yet" not in page
    # the protocol as a key | value table, nested keys dotted
    assert "<table class='protocol'>" in page and "<tr><td>metrics</td><td>fd</td></tr>" in page
    assert "<tr><td>fake_items_per_run</td><td>64</td></tr>" in page and "<td>reference_data.name</td>" in page
    assert "<h2>Metric curves</h2>" not in page  # one scored checkpoint: a table row, no curve


def test_series_keep_finite_numbers_and_prefer_eval_json():
    records = [{"step": 2, "epoch": 1, "time": 5.0, "loss_d": 1.5, "loss_g": "nan", "it_per_s": 3.0},
               {"step": 4, "epoch": 1, "time": 6.0, "loss_d": -0.5, "loss_g": 2.0, "flag": True},
               {"step": 4, "time": 7.0, "eval": {"fd": 30.0, "accuracy": 0.5}},
               {"step": 8, "time": 9.0, "eval": {"fd": 20.0}}]
    series = train_series(records)
    assert list(series) == ["loss_d", "loss_g", "it_per_s"]  # losses first, speed last; no step/epoch/time/bool
    assert series["loss_d"] == ([2, 4], [1.5, -0.5]) and series["loss_g"] == ([4], [2.0])
    evals = eval_series(records, {"results": {"8": {"scores": {"fd": {"mean": 18.0, "std": 0.0, "values": [18.0]},
                                                               "class_ratio_min_class": {"mean": 3}}},  # no curve
                                              "12": {"scores": {"fd": {"mean": math.inf}}}}})
    assert evals == {"fd": ([4, 8], [30.0, 18.0]), "accuracy": ([4], [0.5])}


def test_a_crash_cut_log_line_and_missing_files_still_give_a_report(run_with_report, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run_with_report, copy)
    with open(copy / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 14, "loss_d": 0.')  # the process died mid-line
    shutil.rmtree(copy / "samples")
    (copy / "eval.json").unlink()
    page = write_report(copy).read_text()
    assert "<h2>Training curves</h2>" in page and "Samples over training" not in page


def test_a_family_adds_its_own_sections_without_touching_the_report(run_with_report, tmp_path, monkeypatch):
    """The report asks the family (Family.report_samples / report_training_curves / report_parts): a family's own
    section, titles and switches come from the family class alone."""
    from gankit.families.base import ReportPart, SampleGrids
    from gankit.families.gan import GAN

    picture = tmp_path / "extra.png"
    Image.fromarray(np.full((5, 7, 3), 200, np.uint8)).save(picture)
    seen = {}

    def parts(cls, run_dir, series, evals):
        seen.update(run_dir=run_dir, series=set(series))
        return [ReportPart("My family's part", "a note", curves={"x2": ([1, 2], [2, 4])}, curves_title="doubled",
                           images=((picture, "my picture"), (tmp_path / "missing.png", "gone")))]

    monkeypatch.setattr(GAN, "report_parts", classmethod(parts))
    monkeypatch.setattr(GAN, "report_samples", SampleGrids("My grids", "my note", 100))
    monkeypatch.setattr(GAN, "report_training_curves", False)
    page = (write_report(run_with_report, tmp_path / "page.html")).read_text()
    assert "<h2>My family&#x27;s part</h2><p class='meta'>a note</p>" in page and "my picture" in page
    assert "gone" not in page  # a listed picture that is not on disk is left out, not an error
    assert "<h2>My grids</h2><p class='meta'>my note" in page and "<h2>Training curves</h2>" not in page
    assert seen["run_dir"] == run_with_report and "loss_d" in seen["series"]
    assert np.asarray(images_of(page)[-1]).shape == (5, 7, 3)  # the family's picture, last, as on disk


def test_adagan_and_improved_gan_extras(tmp_path):
    out = tmp_path / "ada"
    sets = ["--set", "boost.steps=2", "--set", "train.epochs=1", "--set", "boost.classifier_epochs=1",
            "--set", "data.num_train=1280", "--set", "train.checkpoint_every=10", "--no-progress"]
    assert main(["train", "adagan_gmm10", "--out", str(out), *sets]) == 0
    page = (out / REPORT_NAME).read_text()
    assert "<h2>AdaGAN boosting</h2>" in page and "after boosting step 1<" in page and "after boosting step 2<" in page

    ssl = tmp_path / "ssl"
    sets = ["--steps", "4", "--set", "train.log_every=2", "--set", "train.batch_size=20", "--set", "model.g_dim=16",
            "--set", "model.d_dim=8", "--set", "ssl.labels_per_class=3", "--set", "eval.every=2",
            "--set", "eval.metrics=[accuracy]", "--no-progress"]
    assert main(["train", "improved_gan_digits", "--out", str(ssl), *sets]) == 0
    page = (ssl / REPORT_NAME).read_text()
    assert "<h2>Semi-supervised accuracy</h2>" in page


def test_study_report_links_trials(tmp_path):
    study = tmp_path / "study"
    (study / "trials" / "a-s0").mkdir(parents=True)
    (study / "trials" / "a-s0" / REPORT_NAME).write_text("<html></html>")
    (study / "plan.json").write_text("[]")
    (study / "study.csv").write_text("trial,loss.name,seed,status,seconds,fd\na-s0,hinge,0,finished,3.5,12.3456789\n"
                                     "b-s0,wasserstein,0,failed,1.0,\n")
    Image.fromarray(np.full((20, 30, 3), 200, np.uint8)).save(study / "plot-fd.png")
    (study / "summary.md").write_text("# Study <x>\n")
    page = write_report(study).read_text()
    assert "<a href='trials/a-s0/report.html'>a-s0</a>" in page and "<td>b-s0</td>" in page
    assert "<td>12.35</td>" in page and "# Study &lt;x&gt;" in page and len(images_of(page)) == 1


def test_report_of_something_else_is_a_one_line_error(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"gankit: error: {tmp_path / 'nothing'}: no such run or study directory",
                   f"gankit: error: {tmp_path}: not a gankit run directory (no config.yaml)"]


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not installed (make test installs it)")
def test_report_renders_in_headless_chromium(run_with_report, tmp_path):
    shot = tmp_path / "shot.png"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars", "--window-size=1200,1600",
           f"--screenshot={shot}", (run_with_report / REPORT_NAME).resolve().as_uri()]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape == (1600, 1200, 3)
    # rendered, not a blank page: the curves' blue line and the sample grids' dark background are on screen
    blue = (pixels[..., 2] > 150) & (pixels[..., 0] < 80)
    dark = pixels.max(axis=2) < 40
    assert blue.sum() > 200 and dark.sum() > 5000
