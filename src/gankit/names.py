"""Registry names in a config, checked when the config is parsed (so `--dry-run` and a study's plan catch a
misspelt loss before anything trains), each error naming its config key."""
from __future__ import annotations

from pydantic import BaseModel

from gankit.config import Config, load_config
from gankit.data import DATASETS
from gankit.errors import ConfigError, UnknownNameError
from gankit.families import FAMILIES
from gankit.losses import LOSSES
from gankit.metrics.classifiers import CLASSIFIERS
from gankit.metrics.suite import METRICS
from gankit.models import ARCHITECTURES
from gankit.nn.norms import NORMS_1D, NORMS_2D
from gankit.penalties import PENALTIES


def _norm_names() -> set[str]:
    return set(NORMS_2D.names()) | set(NORMS_1D.names())


def _named(cfg: Config) -> list[tuple[str, str, object]]:
    """(config key, name, registry) for every registry name the config holds."""
    items = [("family", cfg.family, FAMILIES), ("data.name", cfg.data.name, DATASETS), ("model.arch", cfg.model.arch, ARCHITECTURES),
             ("loss.name", cfg.loss.name, LOSSES), ("loss.penalty", cfg.loss.penalty, PENALTIES),
             ("boost.component_family", cfg.boost.component_family, FAMILIES)]
    items += [("eval.metrics", name, METRICS) for name in cfg.eval.metrics]
    if cfg.eval.extractor is not None:
        items.append(("eval.extractor", cfg.eval.extractor, CLASSIFIERS))
    return items


def check_names(cfg: Config, origin: str = "config") -> Config:
    """`cfg` itself, or a ConfigError naming the first key whose value no registry knows."""
    for key, name, registry in _named(cfg):
        try:
            registry.get(name)
        except UnknownNameError as err:
            raise ConfigError(f"{origin}: config key '{key}': {err}") from None
    norms = _norm_names()
    for key, name in (("model.g_norm", cfg.model.g_norm), ("model.d_norm", cfg.model.d_norm)):
        if name not in norms:
            raise ConfigError(f"{origin}: config key '{key}': unknown normalization '{name}'; valid: {', '.join(sorted(norms))}")
    return cfg


def check_sections(cfg: Config, origin: str = "config") -> Config:
    """`cfg` itself, or a ConfigError naming the first key set to something other than its default in a section the
    family never reads (`loss.*` for improved_gan, `ssl.*` for gan, ...): a setting that would silently change
    nothing. A resolved config (`--dry-run`, a run's config.yaml) lists every section at its defaults and passes."""
    sections = FAMILIES.get(cfg.family).config_sections(cfg)
    for section, field in Config.model_fields.items():
        value = getattr(cfg, section)
        if section in sections or not isinstance(value, BaseModel):
            continue
        default = field.get_default(call_default_factory=True)
        changed = [key for key in type(value).model_fields if getattr(value, key) != getattr(default, key)]
        if changed:
            raise ConfigError(f"{origin}: config key '{section}.{changed[0]}' is never read by family '{cfg.family}' "
                              f"(it reads {', '.join(sections)}); remove it")
    return cfg


def load_checked_config(preset_or_path: str, overrides=()) -> Config:
    """`gankit.config.load_config`, then every registry name, every section and the family's own combination
    rules (`Family.config_problem`) checked."""
    cfg = check_sections(check_names(load_config(preset_or_path, overrides), preset_or_path), preset_or_path)
    if problem := FAMILIES.get(cfg.family).config_problem(cfg):
        raise ConfigError(f"{preset_or_path}: {problem}")
    return cfg
