"""The house stays as issue 23 left it: layers that import only downwards, no import cycles, no function-local
package imports outside the CLI (whose laziness keeps `gankit --help` free of torch), a loop that only loops,
and one package per registered family."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from house_metrics import measure  # noqa: E402

SRC = ROOT / "src" / "gankit"
# From the ground floor up; a module may import its own layer and those before it (README, "Layout").
LAYERS = [
    ("gankit", "gankit.config", "gankit.yaml_files", "gankit.registry", "gankit.errors", "gankit.files"),
    ("gankit.data", "gankit.nn", "gankit.losses", "gankit.penalties", "gankit.metrics", "gankit.viz"),
    ("gankit.models",),
    ("gankit.families", "gankit.names"),
    ("gankit.train",),
    ("gankit.runs",),
    ("gankit.drivers",),
    ("gankit.apps",),
    ("gankit.cli", "gankit.__main__"),
]


def layer_of(module: str) -> int:
    best = max((len(prefix), i) for i, layer in enumerate(LAYERS) for prefix in layer
               if module == prefix or module.startswith(prefix + "."))
    return best[1]


@pytest.fixture(scope="module")
def house():
    return measure(SRC)


def test_no_import_cycles(house):
    assert house["cycles"] == []


def test_imports_point_down_the_layers(house):
    upward = [(a, b) for a, targets in house["graph"].items() for b in targets if layer_of(b) > layer_of(a)]
    assert upward == []


def test_function_local_imports_only_in_the_cli(house):
    assert [m for m, _ in house["local"] if m != "gankit.cli"] == []
    assert len(house["local"]) <= 30


def test_the_loop_only_loops():
    assert len((SRC / "train" / "loop.py").read_text().splitlines()) <= 250


def test_each_family_is_a_package():
    from gankit.families import FAMILIES

    for name in FAMILIES.names():
        assert (SRC / "families" / name / "__init__.py").is_file(), name
        assert FAMILIES.get(name).__module__ == f"gankit.families.{name}"


def test_the_layer_check_can_fail(house):
    graph = {**house["graph"], "gankit.losses": {"gankit.apps.train"}}
    assert [(a, b) for a, t in graph.items() for b in t if layer_of(b) > layer_of(a)] == [("gankit.losses", "gankit.apps.train")]
