"""Counts of the package's structure (issue 23): import cycles among gankit's modules (module-level and
function-local imports alike), function-local imports of gankit modules, and the training loop's length.

    python scripts/house_metrics.py [--src src/gankit] [--verbose]

An import of `gankit.a.b` (or `from gankit.a import b`, or a relative one) is an edge from the importing module to
`gankit.a.b` when that is a module, else to `gankit.a`; importing a package the module lives in is no edge (Python
imports it first anyway). Cycles are the strongly connected components with more than one module. Function-local
imports are counted per statement. These are the counts of the project's reference tool (../shared/tools/imports.py),
kept here so the suite can hold the line (tests/test_house.py).
"""
from __future__ import annotations

import argparse
import ast
from pathlib import Path


def module_names(src: Path) -> dict[str, Path]:
    names = {}
    for path in sorted(src.rglob("*.py")):
        parts = path.relative_to(src.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        names[name] = path
    return names


def resolve(target: str, known: dict[str, Path]) -> str | None:
    while target and target not in known:
        target = target.rpartition(".")[0]
    return target or None


def imports(name: str, path: Path, known: dict[str, Path]) -> list[tuple[str, bool, int]]:
    """(imported gankit module, inside a function?, line of the statement) for each module an import names."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []

    def visit(node: ast.AST, local: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                found.extend((resolve(a.name, known), inner, child.lineno) for a in child.names if a.name.startswith("gankit"))
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                if base.startswith("gankit"):
                    for alias in child.names:
                        found.append((resolve(f"{base}.{alias.name}", known) or resolve(base, known), inner, child.lineno))
            visit(child, inner)

    visit(tree, False)
    return [(target, local, line) for target, local, line in found
            if target and target != name and not name.startswith(target + ".") and target != "gankit"]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one node."""
    index, low, stack, on_stack, out, counter = {}, {}, [], set(), [], [0]

    def connect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return out


def measure(src: Path) -> dict:
    """{"modules", "graph" (module -> modules it imports), "cycles" (lists of modules), "local" ([(module, line)]
    function-local import statements)}."""
    known = module_names(src)
    graph: dict[str, set[str]] = {name: set() for name in known}
    local = set()
    for name, path in known.items():
        for target, inner, line in imports(name, path, known):
            graph[name].add(target)
            if inner:
                local.add((name, line))
    return {"modules": known, "graph": graph, "cycles": cycles(graph), "local": sorted(local)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=Path(__file__).resolve().parents[1] / "src" / "gankit")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    counts = measure(args.src)
    known, found, local = counts["modules"], counts["cycles"], counts["local"]
    loop = args.src / "train" / "loop.py"
    print(f"modules: {len(known)}")
    print(f"import cycles: {len(found)} (modules in them: {sum(map(len, found))})")
    for component in found:
        print("  " + ", ".join(component))
    print(f"function-local imports of gankit modules: {len(local)}")
    if args.verbose:
        for name, line in local:
            print(f"  {name}:{line}")
    if loop.is_file():
        print(f"train/loop.py: {len(loop.read_text().splitlines())} lines")


if __name__ == "__main__":
    main()
