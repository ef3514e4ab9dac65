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


def test_the_docs_name_every_registered_building_block():
    """A loss, penalty, normalization, architecture or dataset added to its registry but not to the README tables
    (or a dataset missing from `data.name`'s description, which `--dry-run` users read) fails here."""
    import re

    import gankit.families  # noqa: F401  (the families register their own architectures)
    from gankit.config import DataConfig
    from gankit.data import DATASETS
    from gankit.losses import LOSSES
    from gankit.models import ARCHITECTURES
    from gankit.nn.norms import NORMS_2D
    from gankit.penalties import PENALTIES

    readme = (ROOT / "README.md").read_text()
    rows = {key: row for row in readme.splitlines() for key in re.findall(r"^\| `([\w.]+)`", row)}
    for key, registry in (("loss.name", LOSSES), ("loss.penalty", PENALTIES), ("model.d_norm", NORMS_2D),
                          ("model.arch", ARCHITECTURES)):
        missing = [name for name in registry.names() if f"`{name}`" not in rows[key]]
        assert not missing, f"README's building-blocks row for {key} lacks {missing}"
    description = DataConfig.model_fields["name"].description
    for name in DATASETS.names():
        assert f"| `{name}` |" in readme, f"README's data table lacks {name}"
        assert name in re.findall(r"\w+", description), f"data.name's description lacks {name}"
