"""Reading YAML that users hand us (presets, config files, study files) without trusting it: a size cap before
parsing, safe_load only, and a bound on what aliases expand to (a few hundred bytes of YAML can expand to
billions of nodes); every failure is a one-line ConfigError naming the file."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from gankit.errors import ConfigError

MAX_YAML_NODES = 100_000  # a config has hundreds; an alias bomb of a few hundred bytes expands to billions
MAX_CONFIG_BYTES = 1 << 20


def _expanded_size(data: Any, origin: str) -> int:
    """Values in `data` counted as a consumer walking it would meet them (a shared alias counts once per use);
    a ConfigError for a structure that contains itself or expands past MAX_YAML_NODES. Linear in the document."""
    sizes: dict[int, int] = {}
    pending: set[int] = set()

    def size(node: Any) -> int:
        if not isinstance(node, (dict, list)):
            return 1
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in pending:
            raise ConfigError(f"{origin}: a YAML alias refers to a structure that contains it (a cycle)")
        pending.add(key)
        children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
        total = 1
        for child in children:
            total += size(child)
            if total > MAX_YAML_NODES:
                raise ConfigError(f"{origin}: the YAML expands to more than {MAX_YAML_NODES:,} values through its "
                                  "aliases (an alias bomb?); write the values out")
        pending.discard(key)
        sizes[key] = total
        return total

    try:
        return size(data)
    except RecursionError:
        raise ConfigError(f"{origin}: the YAML is nested too deeply") from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load that refuses a key written twice in one mapping (YAML keeps the last silently: a second `train:`
    section would drop the first one's settings). Keys merged in with `<<: *alias` may still be overridden."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node.start_mark)
                except TypeError:  # an unhashable key: the base constructor says so
                    continue
                if first is not key_node.start_mark:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key '{key}' (first at line {first.line + 1})", key_node.start_mark)
        return super().construct_mapping(node, deep)


def load_yaml(text: str, origin: str) -> dict[str, Any]:
    """A YAML mapping (or {} for an empty document), parsed safely: no Python objects, no alias bombs, no cycles."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{origin}: {len(text):,} characters is too large for a config file (at most {MAX_CONFIG_BYTES:,})")
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: no Python objects
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{origin}: invalid YAML{where}: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{origin}: the YAML is nested too deeply") from None
    except ValueError:  # Python's int-string limit: a number of over 4,300 digits
        raise ConfigError(f"{origin}: invalid YAML: a number too long to read (over 4,300 digits)") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected a mapping of config sections, got {type(data).__name__}")
    _expanded_size(data, origin)
    return data



def read_config_file(path: Path) -> str:
    """A config file's text: UTF-8, of a sane size, or a ConfigError naming it."""
    try:
        size = path.stat().st_size
    except OSError as err:
        raise ConfigError(f"{path}: unreadable config file ({err.strerror or err})") from None
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: {size:,} bytes is too large for a config file (at most {MAX_CONFIG_BYTES:,})")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not a UTF-8 text file (byte 0x{err.object[err.start]:02x} at offset {err.start})") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, expected a YAML config file") from None
    except OSError as err:
        raise ConfigError(f"{path}: unreadable config file ({err.strerror or err})") from None
