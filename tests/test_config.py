import pytest

from gankit.config import Config, load_config, preset_names, replace
from gankit.errors import ConfigError


def test_every_preset_validates_and_has_a_description():
    names = preset_names()
    assert {"wgan_gp_cifar10", "wgan_gp_digits", "wgan_gp_toy_25gaussians", "wgan_gp_toy_8gaussians"} <= set(names)
    for name in names:
        cfg = load_config(name)
        assert cfg.name == name and cfg.description


def test_card_values_of_wgan_gp_cifar10():
    cfg = load_config("wgan_gp_cifar10")
    assert (cfg.train.batch_size, cfg.model.g_dim, cfg.model.d_dim, cfg.train.n_critic) == (64, 128, 128, 5)
    assert (cfg.optim.lr_g, cfg.optim.lr_d, cfg.optim.beta1, cfg.optim.beta2) == (1e-4, 1e-4, 0.5, 0.9)
    assert (cfg.loss.name, cfg.loss.penalty, cfg.loss.penalty_weight) == ("wasserstein", "wgangp", 10.0)
    assert cfg.train.epochs == 1200 and cfg.train.steps is None
    # 50,000 images / 64 = 781 batches per epoch, 5 per G iteration.
    assert cfg.total_steps(50_000) == 1200 * 781 // 5


def test_base_preset_is_inherited():
    cfg = load_config("wgan_gp_toy_8gaussians")
    assert cfg.data.distribution == "8gaussians"
    assert cfg.loss.penalty_weight == 0.1 and cfg.train.batch_size == 256


def test_overrides_are_typed():
    cfg = load_config("wgan_gp_digits", ["train.steps=7", "optim.lr_g=1e-3", "data.hflip=true", "data.attributes=[a, b]"])
    assert cfg.train.steps == 7 and isinstance(cfg.train.steps, int)
    assert cfg.optim.lr_g == 1e-3 and isinstance(cfg.optim.lr_g, float)
    assert cfg.data.hflip is True and cfg.data.attributes == ["a", "b"]


@pytest.mark.parametrize("override, fragment", [
    ("train.stpes=3", "unknown config key 'train.stpes'; valid keys at train: batch_size, steps"),
    ("nosuch.key=1", "unknown config key 'nosuch'; valid keys at top level: name, description, family, data"),
    ("train.steps=abc", "config key 'train.steps': Input should be a valid integer"),
    ("train.steps=1.5", "config key 'train.steps'"),
    ("optim.lr_d=-1", "config key 'optim.lr_d': Input should be greater than 0"),
    ("model.z_dist=gauss", "config key 'model.z_dist'"),
    ("train.device=tpu", "config key 'train.device'"),
    ("data.channels=2", "data.channels must be 1, 3 or null"),
    ("data.shift=8", "data.shift 8 must be under half of data.size 16"),
    ("data.shift=-1", "config key 'data.shift': Input should be greater than or equal to 0"),
    ("train.steps.x=1", "config key 'train.steps' is a value, not a section"),
    ("train.steps", "--set expects key.sub=value"),
])
def test_bad_overrides_name_the_key(override, fragment):
    with pytest.raises(ConfigError) as err:
        load_config("wgan_gp_digits", [override])
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_bad_preset_and_files(tmp_path):
    with pytest.raises(ConfigError, match="unknown preset 'nope'; valid: .*wgan_gp_digits"):
        load_config("nope")
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  steps: [1,\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: invalid YAML at line \d"):
        load_config(str(bad))
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(str(listy))


def test_yaml_file_with_base(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("base: wgan_gp_digits\ntrain:\n  steps: 12\n")
    cfg = load_config(str(path))
    assert cfg.name == "mine" and cfg.train.steps == 12 and cfg.data.name == "digits"


def test_steps_and_epochs_are_exclusive():
    with pytest.raises(ConfigError, match="exactly one of train.steps and train.epochs"):
        load_config("wgan_gp_digits", ["train.epochs=3"])
    assert load_config("wgan_gp_digits", ["train.epochs=3", "train.steps=null"]).train.epochs == 3.0


def test_config_is_frozen_and_round_trips():
    cfg = load_config("wgan_gp_cifar10")
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="frozen"):
        cfg.train.batch_size = 3
    assert Config.model_validate(cfg.to_dict()) == cfg
    assert replace(cfg, {"train.batch_size": 3}).train.batch_size == 3
