import json

import numpy as np
import pytest
import torch
from torch import nn

from gankit.apps.train import resume
from gankit.cli import main
from gankit.config import load_config
from gankit.families.adagan import AdaGAN, Mixture
from gankit.runs.directory import read_run_config

QUICK = ["--no-progress", "--set", "train.epochs=1", "--set", "data.num_train=1280", "--set", "boost.classifier_epochs=1",
         "--set", "train.checkpoint_every=10"]


class Constant(nn.Module):
    def __init__(self, value: float):
        super().__init__()
        self.value = nn.Parameter(torch.tensor(value))

    def forward(self, z, c=None):
        return self.value.expand(len(z), 2)


def test_mixture_samples_components_by_weight():
    cfg = load_config("adagan_gmm10", ["boost.steps=2"])
    mixture = Mixture([Constant(-1.0), Constant(1.0)])
    mixture.weights[:] = torch.tensor([0.25, 0.75], dtype=torch.float64)
    samples = AdaGAN.generate(mixture, cfg, 4000, "cpu", torch.Generator().manual_seed(0))
    assert samples.shape == (4000, 2) and set(samples[:, 0].tolist()) == {-1.0, 1.0}
    assert (samples[:, 0] > 0).double().mean().item() == pytest.approx(0.75, abs=0.03)
    mixture.weights[:] = torch.tensor([1.0, 0.0], dtype=torch.float64)  # an untrained component is never drawn
    assert (AdaGAN.generate(mixture, cfg, 100, "cpu")[:, 0] == -1).all()


def test_boosting_run_snapshot_plots_sample_eval_and_resume(tmp_path, capsys):
    out = tmp_path / "ada"
    assert main(["train", "adagan_gmm10", "--out", str(out), "--set", "boost.steps=2", *QUICK]) == 0
    printed = capsys.readouterr().out
    assert "AdaGAN step 2/2: Evaluating: log_p=" in printed and "modes covered" in printed
    state = json.loads((out / "boost.json").read_text())
    assert state["completed"] == 2 and state["mixture_weights"] == pytest.approx([0.5, 0.5])
    assert (out / "boost" / "step-01.png").exists() and (out / "boost" / "strip.png").exists()
    weights1 = torch.load(out / "components" / "c01.weights.pt", weights_only=True)
    assert weights1.sum().item() == pytest.approx(1.0) and weights1.min() >= 0 and weights1.std() > 0
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [1, 2] and "C" in lines[0]["boost"]
    # The mixture snapshot is an ordinary generator for sample and eval.
    assert main(["sample", str(out), "--num", "300", "--out", str(tmp_path / "s.npz")]) == 0
    assert np.load(tmp_path / "s.npz")["points"].shape == (300, 2)
    assert main(["eval", str(out), "--num-samples", "1500", "--num-real", "500"]) == 0
    assert "C" in json.loads((out / "eval.json").read_text())["results"]["2"]["scores"]
    # Between components: a third step continues from the two finished ones without retraining them.
    first = (out / "components" / "c00" / "generator.safetensors").read_bytes()
    cfg = read_run_config(out)
    (out / "config.yaml").write_text(cfg.to_yaml().replace("  steps: 2\n  beta:", "  steps: 3\n  beta:"))
    summary = resume(out, progress=False)
    assert summary["final_step"] == 3
    assert (out / "components" / "c00" / "generator.safetensors").read_bytes() == first
    assert json.loads((out / "boost.json").read_text())["mixture_weights"] == pytest.approx([1 / 3] * 3)
    # A step total below what the components trained is refused, and config.yaml keeps the epochs they trained.
    before = (out / "config.yaml").read_bytes()
    capsys.readouterr()
    assert main(["resume", str(out), "--steps", "3", "--no-progress"]) == 2
    assert "--steps 3 is below the step" in capsys.readouterr().err
    assert (out / "config.yaml").read_bytes() == before


def test_an_interrupted_component_names_the_boosting_run_and_refuses_a_resume_alone(tmp_path, monkeypatch, capsys):
    import os
    import signal

    from gankit.train.loop import Trainer

    def interrupt_at_5(trainer, logger):
        if trainer.step == 5:
            os.kill(os.getpid(), signal.SIGTERM)

    real_init = Trainer.__init__

    def with_hook(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        self.hooks.append(interrupt_at_5)

    monkeypatch.setattr(Trainer, "__init__", with_hook)
    out = tmp_path / "ada"
    code = main(["train", "adagan_gmm10", "--out", str(out), "--set", "boost.steps=2", *QUICK])
    assert code == 128 + signal.SIGTERM
    assert f"component 1 of 2: interrupted by SIGTERM at step 6; checkpoint saved; continue with: gankit resume {out}\n" \
        in capsys.readouterr().err
    assert json.loads((out / "status.json").read_text())["state"] == "interrupted"
    component = out / "components" / "c00"
    assert (component / "checkpoints").is_dir()
    assert main(["resume", str(component), "--no-progress"]) == 2  # alone it would draw uniformly: refused
    assert f"a component of the AdaGAN run {out.resolve()}" in capsys.readouterr().err
    monkeypatch.setattr(Trainer, "__init__", real_init)
    assert main(["resume", str(out), "--no-progress"]) == 0  # the boosting run continues it
    assert json.loads((out / "boost.json").read_text())["completed"] == 2


def test_a_signal_between_components_stops_with_status_interrupted(tmp_path, monkeypatch, capsys):
    """Ctrl-C while the next component's data weights are computed (no trainer running): the weights are saved,
    the run stops as interrupted (not failed) naming the run to resume, and resume trains the component."""
    import os
    import signal

    import gankit.drivers.boosting as boosting

    real_weights = boosting.data_weights

    def weights_then_ctrl_c(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        return real_weights(*args, **kwargs)

    monkeypatch.setattr(boosting, "data_weights", weights_then_ctrl_c)
    out = tmp_path / "ada"
    assert main(["train", "adagan_gmm10", "--out", str(out), "--set", "boost.steps=2", *QUICK]) == 128 + signal.SIGINT
    assert f"interrupted by SIGINT after the data weights of component 2 (saved); continue with: gankit resume {out}" \
        in capsys.readouterr().err
    assert json.loads((out / "status.json").read_text())["state"] == "interrupted"
    assert json.loads((out / "boost.json").read_text())["completed"] == 1
    assert (out / "components" / "c01.weights.pt").is_file() and not (out / "components" / "c01").exists()
    monkeypatch.setattr(boosting, "data_weights", real_weights)
    assert main(["resume", str(out), "--no-progress"]) == 0
    assert json.loads((out / "boost.json").read_text())["completed"] == 2

