"""Every registered family fulfils the declared contract (gankit.families.base), and the registry refuses one that
does not, at registration."""
import inspect

import pytest
import torch

from gankit.config import load_config
from gankit.data import load_dataset
from gankit.drivers import DRIVERS
from gankit.families import FAMILIES, Family
from gankit.families.base import FamilyRegistry, TrainStep, missing_members

PRESET_OF = {"gan": "wgan_gp_digits", "improved_gan": "improved_gan_digits", "stargan": "stargan_attrdigits",
             "adagan": "adagan_gmm10"}


@pytest.mark.parametrize("name", FAMILIES.names())
def test_every_family_fulfils_the_contract(name):
    cls = FAMILIES.get(name)
    assert issubclass(cls, Family) and missing_members(cls) == []
    if cls.driver is not None:
        assert cls.driver in DRIVERS  # trained by a registered procedure, not by the loop
    for member in ("build_generator", "generate", "export_interface", "bench_config"):
        assert isinstance(inspect.getattr_static(cls, member), classmethod), member


@pytest.mark.parametrize("name", [n for n in FAMILIES.names() if FAMILIES.get(n).driver is None])
def test_a_loop_family_builds_steps_the_loop_can_run(name):
    cfg = load_config(PRESET_OF[name], ["train.batch_size=8"])
    data = load_dataset(cfg.data, "train")
    family = FAMILIES.get(name)(cfg, data.info, torch.device("cpu"))
    family.attach_data(data)
    steps = family.steps()
    assert steps and all(isinstance(s, TrainStep) for s in steps)
    assert all(any(s.module is m for m in family.modules.values()) for s in steps)
    assert any(family.generator is m for m in family.modules.values())
    assert len(family.latent(3)) == 3


class Generates(Family):
    """The generate part of the contract and nothing else (a base for the refusal tests)."""

    @classmethod
    def build_generator(cls, cfg, info):
        return torch.nn.Identity()

    @classmethod
    def generate(cls, G, cfg, n, device, generator=None):
        return torch.zeros(n)


def test_a_class_missing_a_member_is_refused_when_registered():
    registry = FamilyRegistry("family")

    class NoSteps(Generates):
        pass

    with pytest.raises(TypeError, match="missing generator, latent, steps"):
        registry.register("no_steps")(NoSteps)
    NoSteps.driver = "boosting"  # trained by a driver instead: the training part is not needed, but bench's config is
    with pytest.raises(TypeError, match="missing bench_config"):
        registry.register("driven")(NoSteps)
    NoSteps.bench_config = classmethod(lambda cls, cfg: cfg)
    assert registry.register("driven")(NoSteps) is NoSteps

    class NotAFamily:
        pass

    with pytest.raises(TypeError, match="subclass of gankit.families.base.Family"):
        registry.register("plain")(NotAFamily)


def test_a_classifier_needs_its_weights_reader():
    class Classifies(Generates):
        driver = "boosting"

        @classmethod
        def build_classifier(cls, cfg, info):
            return torch.nn.Identity()

    assert missing_members(Classifies) == ["bench_config", "classifier_weights", "classifier"]


def test_class_level_members_sections_and_the_generator_property_are_checked():
    from gankit.families.base import contract_problems

    class Loose(FAMILIES.get("gan")):
        sections = ("loss", "los")  # a typo would make valid keys refused

        def generate(self, G, cfg, n, device, generator=None):  # an instance method: `gankit sample` calls the class
            return G

    problems = contract_problems(Loose)
    assert "generate must be a classmethod (sample, export and eval call it on the class)" in problems
    assert any(p.startswith("sections ['los'] are not config sections") for p in problems)

    class Plain(FAMILIES.get("gan")):
        generator = None  # set in __init__ instead of a property

    assert contract_problems(Plain) == ["generator must be a property returning the generator module"]


@pytest.mark.parametrize("preset, override, key", [
    ("improved_gan_digits", "loss.name=hinge", "loss.name"),  # its losses are its own
    ("wgan_gp_digits", "ssl.labels_per_class=7", "ssl.labels_per_class"),
    ("wgan_gp_digits", "boost.steps=3", "boost.steps"),
    ("stargan_attrdigits", "ssl.feature_matching=false", "ssl.feature_matching"),
    ("adagan_gmm10", "stargan.lambda_cls=2", "stargan.lambda_cls"),
])
def test_a_key_the_family_never_reads_is_an_error_naming_it(preset, override, key):
    from gankit.errors import ConfigError
    from gankit.names import load_checked_config

    with pytest.raises(ConfigError, match=f"config key '{key}' is never read by family"):
        load_checked_config(preset, [override])


def test_a_resolved_config_passes_and_a_default_value_is_no_setting(tmp_path):
    from gankit.names import load_checked_config

    resolved = tmp_path / "resolved.yaml"  # what --dry-run prints and a run's config.yaml holds: every section
    resolved.write_text(load_config("improved_gan_digits").to_yaml())
    assert load_checked_config(str(resolved)).family == "improved_gan"
    load_checked_config("improved_gan_digits", ["loss.name=wasserstein"])  # the default: changes nothing, says nothing


def test_every_preset_sets_only_sections_its_family_reads_and_adagan_reads_its_components():
    from gankit.config import preset_names
    from gankit.names import load_checked_config

    for name in preset_names():
        load_checked_config(name)
    cfg = load_checked_config("adagan_gmm10", ["loss.name=hinge"])  # its components are GANs: loss is read
    assert "loss" in FAMILIES.get("adagan").config_sections(cfg)


def test_the_report_shows_the_sections_the_family_declares():
    from gankit.apps.report import used_sections

    cfg = load_config("improved_gan_digits").to_dict()
    assert used_sections(cfg) == ["data", "model", "optim", "train", "eval", "ssl"]
    assert "boost" in used_sections(load_config("adagan_gmm10").to_dict())
