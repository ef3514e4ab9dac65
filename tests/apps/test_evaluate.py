import csv
import hashlib
import json

import numpy as np
import pytest
import torch

from gankit.apps.evaluate import Evaluator, compare_image_sets, eval_config
from gankit.cli import main
from gankit.config import DataConfig
from gankit.data import load_dataset
from gankit.data.image_io import to_uint8
from gankit.errors import ConfigError
from gankit.metrics.classifiers import weights_path
from gankit.metrics.suite import METRICS
from gankit.runs.directory import read_run_config

TINY = ["--set", "data.size=8", "--set", "model.g_dim=8", "--set", "model.d_dim=8", "--set", "train.batch_size=16",
        "--set", "train.n_critic=1", "--set", "train.checkpoint_every=2", "--no-progress"]
EVAL = ["--num-samples", "64", "--num-real", "200"]


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "run"
    assert main(["train", "wgan_gp_digits", "--out", str(out), "--steps", "4", *TINY]) == 0
    return out


def test_eval_writes_scores_with_protocol(digits_run, capsys):
    assert main(["eval", str(digits_run), "--metrics", "fd,fd_is,fd_kid,fd_prc,fd_classes", "--runs", "2", "--reference", "train",
                 *EVAL]) == 0
    data = json.loads((digits_run / "eval.json").read_text())
    scores = data["results"]["4"]["scores"]
    assert set(scores) == {"fd", "fd_is", "fd_kid", "fd_precision", "fd_recall", "class_ratio_min", "class_ratio_max",
                           "classes_within_30pct", "class_tv", "class_ratio_min_class", "class_ratio_max_class"}
    worst = scores["class_ratio_min_class"]
    assert isinstance(worst["mean"], int) and worst["mean"] in worst["values"]  # a class of the runs, not their average
    assert all(len(s["values"]) == 2 and s["std"] >= 0 for s in scores.values())
    assert scores["fd"]["values"][0] != scores["fd"]["values"][1]  # independent fake sets
    protocol = data["results"]["4"]["protocol"]  # each entry keeps the protocol it was measured under
    domain = protocol["extractors"]["domain"]
    assert domain["weights_sha256"] == hashlib.sha256(weights_path("digits").read_bytes()).hexdigest()
    assert "FD is not FID" in domain["extractor"]
    assert protocol["real_items"]["domain"] == 200 and protocol["fake_items_per_run"] == 64
    assert protocol["reference_split"] == "train" and protocol["runs"] == 2 and protocol["gankit_version"]
    rows = list(csv.DictReader(open(digits_run / "scores.csv")))
    assert {r["score"] for r in rows} == set(scores) and all(r["step"] == "4" for r in rows)
    printed = capsys.readouterr().out
    assert "step 4: fd" in printed and f"class_ratio_min_class {worst['mean']}," in printed  # an index has no ±


def test_eval_threads_option_sets_torchs_thread_count(digits_run):
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert main(["eval", str(digits_run), "--metrics", "fd", "--threads", "1", *EVAL]) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert main(["eval", str(digits_run), "--threads", "0"]) == 2  # click's range check: a usage error


def test_eval_after_train_covers_every_checkpoint(digits_run):
    assert main(["eval", str(digits_run), "--metrics", "fd", "--checkpoint", "all", *EVAL]) == 0
    results = json.loads((digits_run / "eval.json").read_text())["results"]
    assert {"2", "4"} <= set(results)
    assert main(["eval", str(digits_run), "--metrics", "fd", "--checkpoint", "2", *EVAL]) == 0
    assert main(["eval", str(digits_run), "--metrics", "fd", "--checkpoint", "3", *EVAL]) == 2


def test_all_keeps_what_eval_json_scored_under_the_same_protocol(digits_run, capsys):
    assert main(["eval", str(digits_run), "--metrics", "fd", "--checkpoint", "all", *EVAL]) == 0
    first = json.loads((digits_run / "eval.json").read_text())["results"]
    capsys.readouterr()
    assert main(["eval", str(digits_run), "--metrics", "fd", "--checkpoint", "all", *EVAL]) == 0
    out = capsys.readouterr().out
    assert "step 2: kept from eval.json" in out and "step 4: kept from eval.json" in out
    assert json.loads((digits_run / "eval.json").read_text())["results"] == first  # nothing scored, nothing rewritten
    assert main(["eval", str(digits_run), "--metrics", "fd", "--checkpoint", "all", "--rescore", *EVAL]) == 0
    assert "step 2: fd" in capsys.readouterr().out
    other = ["--num-samples", "32", "--num-real", "200"]  # another protocol: scored again
    assert main(["eval", str(digits_run), "--metrics", "fd", "--checkpoint", "all", *other]) == 0
    assert "step 4: fd" in capsys.readouterr().out
    assert json.loads((digits_run / "eval.json").read_text())["results"]["4"]["protocol"]["fake_items_per_run"] == 32


def test_watch_stops_when_the_run_is_finished(digits_run, capsys):
    assert json.loads((digits_run / "status.json").read_text())["state"] == "finished"
    assert main(["eval", str(digits_run), "--metrics", "fd", "--watch", "--poll", "0.1", *EVAL]) == 0
    out = capsys.readouterr().out
    assert "step 2:" in out and "step 4:" in out


def test_a_checkpoint_deleted_between_listing_and_loading_is_skipped(digits_run, tmp_path, monkeypatch, capsys):
    """Training beside `eval --watch` deletes old states (keep_checkpoints) at any time: one listed and then gone
    is skipped with a line, not the end of the watch."""
    import shutil

    import gankit.apps.evaluate as evaluate_module

    run = tmp_path / "run"
    shutil.copytree(digits_run, run)
    (run / "eval.json").unlink(missing_ok=True)
    real_load = evaluate_module.load_generator_source

    def load_after_training_deleted_step_2(run_dir, source, *args, **kwargs):
        if source.endswith("state-0000002.pt"):
            (run / "checkpoints" / "state-0000002.pt").unlink()
        return real_load(run_dir, source, *args, **kwargs)

    monkeypatch.setattr(evaluate_module, "load_generator_source", load_after_training_deleted_step_2)
    assert main(["eval", str(run), "--metrics", "fd", "--watch", "--poll", "0.1", *EVAL]) == 0
    out = capsys.readouterr().out
    assert "step 2: state-0000002.pt was deleted by the training" in out and "step 4: fd" in out
    assert list(json.loads((run / "eval.json").read_text())["results"]) == ["4"]


def test_watch_scores_a_last_checkpoint_saved_just_before_the_run_ended(digits_run, tmp_path, monkeypatch, capsys):
    """The run's end is read before the checkpoints are listed: a checkpoint and 'finished' landing between a
    listing and the status check are still scored."""
    import os
    import shutil

    import gankit.apps.evaluate as evaluate_module

    run = tmp_path / "run"
    shutil.copytree(digits_run, run)
    (run / "eval.json").unlink(missing_ok=True)
    status = json.loads((run / "status.json").read_text())
    (run / "status.json").write_text(json.dumps({**status, "state": "running", "pid": os.getpid()}))
    real_sources, calls = evaluate_module.generator_sources, []

    def sources(run_dir, checkpoint, weights="ema"):
        calls.append(1)
        listed = real_sources(run_dir, checkpoint, weights)
        if len(calls) <= 2:  # step 4 not saved yet; on the second listing the run saves it and ends right after
            if len(calls) == 2:
                (run / "status.json").write_text(json.dumps({**status, "state": "finished"}))
            return [(step, src) for step, src in listed if step == 2]
        return listed

    monkeypatch.setattr(evaluate_module, "generator_sources", sources)
    assert main(["eval", str(run), "--metrics", "fd", "--watch", "--poll", "0.05", "--timeout", "60", *EVAL]) == 0
    assert sorted(json.loads((run / "eval.json").read_text())["results"], key=int) == ["2", "4"]


def test_scores_do_not_depend_on_batch_size(digits_run):
    cfg = eval_config(read_run_config(digits_run), metrics=["fd", "fd_prc"], num_samples=50, num_real=100)
    from gankit.runs.snapshots import load_generator

    G, _, info, _ = load_generator(digits_run)
    a = Evaluator(eval_config(cfg, batch_size=7), info).evaluate(G)
    b = Evaluator(eval_config(cfg, batch_size=50), info).evaluate(G)
    for key in a:
        assert a[key]["mean"] == pytest.approx(b[key]["mean"], rel=1e-5, abs=1e-6), key


def test_training_with_eval_every_logs_scores(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "wgan_gp_digits", "--out", str(out), "--steps", "4", *TINY, "--set", "eval.every=2",
                 "--set", "eval.metrics=[fd]", "--set", "eval.num_samples=32", "--set", "eval.num_real=64"]) == 0
    evals = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if '"eval"' in line]
    assert [e["step"] for e in evals] == [2, 4] and all(e["eval"]["fd"] > 0 for e in evals)


def test_real_train_and_test_digits_are_close_in_fd():
    """The floor a generator is measured against: real vs real is far below real vs noise."""
    train = load_dataset(DataConfig(name="digits"), "train")
    test = load_dataset(DataConfig(name="digits"), "test")
    real_a, real_b = to_uint8(train.get(torch.arange(600))["x"]), to_uint8(test.get(torch.arange(180))["x"])
    noise = torch.randint(0, 256, (180, 1, 32, 32), dtype=torch.uint8)
    floor = compare_image_sets(real_b, real_a, ["fd"], "digits")["scores"]["fd"]
    far = compare_image_sets(noise, real_a, ["fd"], "digits")["scores"]["fd"]
    assert floor < 0.1 * far
    from gankit.metrics.suite import MetricOptions

    score = compare_image_sets(real_b, None, ["fd_is"], "digits", options=MetricOptions(is_splits=1))["scores"]["fd_is"]
    assert score > 9  # confident, evenly spread classes on real digits: IS near 10


def test_toy_runs_default_to_mode_metrics(tmp_path, capsys):
    out = tmp_path / "toy"
    assert main(["train", "wgan_gp_toy_25gaussians", "--out", str(out), "--steps", "2", "--no-progress",
                 "--set", "data.num_train=1000", "--set", "model.g_dim=16", "--set", "model.d_dim=16"]) == 0
    assert main(["eval", str(out), "--num-samples", "1500", "--num-real", "500"]) == 0
    scores = json.loads((out / "eval.json").read_text())["results"]["2"]["scores"]
    assert {"modes_covered", "high_quality", "reverse_kl", "C", "log_p"} <= set(scores)
    assert 0 <= scores["C"]["mean"] <= 1 and scores["modes_covered"]["mean"] <= 25


def test_unfit_metrics_are_config_errors(digits_run):
    cfg = eval_config(read_run_config(digits_run), metrics=["modes"])
    from gankit.runs.snapshots import load_generator

    _, _, info, _ = load_generator(digits_run)
    with pytest.raises(ConfigError, match="do not fit image data"):
        Evaluator(cfg, info)


def _write_npz(path, images):
    np.savez(path, images=images.permute(0, 2, 3, 1).numpy())
    return path


def test_metrics_command_on_folders_and_npz(tmp_path, capsys, digits_run):
    assert main(["sample", str(digits_run), "--num", "40", "--out", str(tmp_path / "fake")]) == 0
    real = to_uint8(load_dataset(DataConfig(name="digits", size=8), "test").get(torch.arange(40))["x"])
    _write_npz(tmp_path / "real.npz", real)
    capsys.readouterr()
    code = main(["metrics", "--input1", str(tmp_path / "fake"), "--input2", str(tmp_path / "real.npz"), "--fd", "digits", "--json",
                 "--kid-subsets", "5", "--kid-subset-size", "20"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and {"fd", "fd_kid", "fd_is", "fd_precision", "fd_recall"} <= set(result["scores"])
    assert result["protocol"]["input1_items"] == 40
    # The same set against itself: FD 0, precision = recall = 1.
    main(["metrics", "--input1", str(tmp_path / "real.npz"), "--input2", str(tmp_path / "real.npz"), "--fd", "digits", "--json",
          "--kid-subsets", "5", "--kid-subset-size", "20"])
    same = json.loads(capsys.readouterr().out)["scores"]
    assert same["fd"] == pytest.approx(0, abs=1e-6) and same["fd_precision"] == 1.0


@pytest.mark.parametrize("args, fragment", [
    (["--input1", "X"], "choose at least one of --fid"),
    (["--input1", "missing.npz", "--fd", "digits"], "missing.npz: no such file"),
    (["--input1", "bad.npz", "--fd", "digits"], "'images' must be uint8 (N, H, W, 1|3)"),
    (["--input1", "real.npz", "--input2", "real.npz", "--fid"], "weights-inception-2015-12-05-6726825d.pth"),
    (["--input1", "real.npz", "--input2", "real.npz", "--fd", "cifar"], "unknown domain classifier 'cifar'"),
])
def test_metrics_command_errors(tmp_path, capsys, monkeypatch, args, fragment):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GANKIT_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    _write_npz(tmp_path / "real.npz", torch.zeros(4, 1, 8, 8, dtype=torch.uint8))
    np.savez(tmp_path / "bad.npz", images=np.zeros((4, 8, 8), np.float32))
    code = main(["metrics", *args])
    err = capsys.readouterr().err
    assert code == 2 and fragment in err and "Traceback" not in err


def test_fid_through_the_cli_with_a_weights_file(tmp_path, capsys):
    """Inception FID/IS/KID end to end with seeded random weights (the real file is not needed here)."""
    from formats import randomize_inception
    from gankit.metrics.inception import FIDInceptionV3

    torch.save(randomize_inception(FIDInceptionV3(), 0).state_dict(), tmp_path / "w.pth")
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 256, (6, 3, 16, 16), generator=g, dtype=torch.uint8)
    _write_npz(tmp_path / "a.npz", a)
    _write_npz(tmp_path / "b.npz", 255 - a)
    code = main(["metrics", "--input1", str(tmp_path / "a.npz"), "--input2", str(tmp_path / "b.npz"), "--fid", "--isc",
                 "--kid", "--json", "--inception-weights", str(tmp_path / "w.pth"), "--is-splits", "2",
                 "--kid-subsets", "2", "--kid-subset-size", "4"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["scores"]["fid"] > 0 and result["scores"]["is"] >= 1
    # torch-fidelity's formula on the same network's pool3 features: float32 means, float64 covariances,
    # Tr sqrt(S1 S2) from the general eigenvalues of the product.
    from gankit.metrics.inception import load_inception

    model = load_inception(tmp_path / "w.pth")
    f1, f2 = model(a)["pool3"].numpy(), model(255 - a)["pool3"].numpy()
    mu1, mu2, s1, s2 = f1.mean(0), f2.mean(0), np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    tr = np.sum(np.sqrt(np.linalg.eigvals(s1 @ s2)).real)
    reference = float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * tr)
    assert result["scores"]["fid"] == pytest.approx(reference, rel=1e-4)
    assert result["protocol"]["inception"]["weights_sha256"] == hashlib.sha256((tmp_path / "w.pth").read_bytes()).hexdigest()


def test_every_metric_is_registered_with_a_description():
    assert {"fid", "kid", "is", "prc", "dc", "fd", "fd_kid", "fd_is", "fd_prc", "modes", "coverage"} <= set(METRICS.names())
    assert all(METRICS.get(n).description for n in METRICS.names())


def test_raw_weights_are_scored_beside_the_ema_not_over_it(digits_run, tmp_path, capsys):
    """`--weights raw` scores G as trained (training states) into eval-raw.json; eval.json keeps the EMA's scores.
    The preset's EMA (decay warmed up to 0.3 by step 4) differs from G; with a decay of 1e-12 the two coincide."""
    assert main(["eval", str(digits_run), "--metrics", "fd", "--checkpoint", "all", "--rescore", *EVAL]) == 0
    ema = json.loads((digits_run / "eval.json").read_text())["results"]
    assert main(["eval", str(digits_run), "--metrics", "fd", "--checkpoint", "all", "--weights", "raw", *EVAL]) == 0
    raw = json.loads((digits_run / "eval-raw.json").read_text())["results"]
    assert json.loads((digits_run / "eval.json").read_text())["results"] == ema  # untouched
    assert set(raw) == {"2", "4"} and raw["4"]["protocol"]["weights"] == "raw" and "weights" not in ema["4"]["protocol"]
    assert raw["4"]["scores"]["fd"]["mean"] != pytest.approx(ema["4"]["scores"]["fd"]["mean"], rel=1e-3)
    assert {r["step"] for r in csv.DictReader(open(digits_run / "scores-raw.csv"))} == {"2", "4"}
    capsys.readouterr()
    assert main(["eval", str(digits_run), "--metrics", "fd", "--weights", "raw", *EVAL]) == 0  # last = newest state
    assert "step 4: fd" in capsys.readouterr().out

    near = tmp_path / "near"
    assert main(["train", "wgan_gp_digits", "--out", str(near), "--steps", "4", *TINY, "--set", "train.ema_decay=1e-12"]) == 0
    for weights in ("ema", "raw"):
        assert main(["eval", str(near), "--metrics", "fd", "--checkpoint", "4", "--weights", weights, *EVAL]) == 0
    fd = [json.loads((near / name).read_text())["results"]["4"]["scores"]["fd"]["mean"] for name in ("eval.json", "eval-raw.json")]
    assert fd[0] == pytest.approx(fd[1], rel=1e-4)


def test_raw_weights_of_a_run_without_an_ema_is_a_one_line_error(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "wgan_gp_digits", "--out", str(run), "--steps", "2", *TINY, "--set", "train.ema_decay=0"]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--metrics", "fd", "--weights", "raw", *EVAL]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "keeps no EMA" in err[0] and str(run) in err[0]
    assert not (run / "eval-raw.json").exists()
