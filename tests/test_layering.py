"""The layering rules, read from the source: what each layer may import, and no import cycles.

Two rules: nothing under ``toolkit/core`` imports ``toolkit.serving``, ``toolkit.training`` or
``toolkit.cli``; nothing under ``toolkit/serving`` imports ``toolkit.training`` or ``toolkit.cli``.
Every ``import`` counts, at module level or inside a function (a lazy import is still a
dependency). The fresh-process checks of what serving work loads at run time are in
``tests/serving/test_boundary.py``.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "toolkit"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(path: Path) -> set[str]:
    """The toolkit modules ``path`` imports: ``from pkg import sub`` counts as ``pkg.sub`` when ``sub`` is a
    module, else as ``pkg``; relative imports are resolved against the module's package."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else base)
    return {name for name in found if name == "toolkit" or name.startswith("toolkit.")}


GRAPH = {name: imported_modules(path) - {name} for name, path in MODULES.items()}


def offenders(layer: str, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    return {
        name: sorted(dep for dep in deps if dep.startswith(forbidden))
        for name, deps in GRAPH.items()
        if name.startswith(layer) and any(dep.startswith(forbidden) for dep in deps)
    }


def test_the_scan_sees_imports_inside_functions():
    # the CLI imports its commands inside functions: they must be seen, or the rules below check nothing
    assert "toolkit.training.export.pipeline" in GRAPH["toolkit.cli.app"]
    assert "toolkit.core.registry" in GRAPH["toolkit.serving.runtime"]


def test_core_imports_neither_half_nor_the_cli():
    assert len([n for n in GRAPH if n.startswith("toolkit.core.")]) >= 10
    assert offenders("toolkit.core", ("toolkit.serving", "toolkit.training", "toolkit.cli")) == {}


def test_serving_imports_neither_the_training_half_nor_the_cli():
    assert offenders("toolkit.serving", ("toolkit.training", "toolkit.cli")) == {}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: the groups of modules that import each other (size > 1)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root] & graph.keys())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child] & graph.keys()))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def test_the_cycle_finder_finds_a_cycle():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles_between_modules():
    # A package's __init__ re-exporting its submodules is not a cycle of its own: leave out edges from a
    # package to the modules inside it (its submodules importing the package's names still count).
    graph = {name: {dep for dep in deps if not dep.startswith(name + ".")} for name, deps in GRAPH.items()}
    assert strongly_connected(graph) == []
