"""The house: no import circles between the modules of ``benchmark``, ``features`` and ``models``, and every
package imports only the layers below it.

The graph is read from the source files with :mod:`ast` (nothing is imported), absolute and relative imports
alike: ``from . import x`` is an edge to the submodule ``x`` when there is one, otherwise to the package itself.

Function-level imports count, in both checks, as much as module-level ones. A lazy import postpones the cost of
loading a module (TensorFlow, pandas on a fast path), not the dependency: a circle closed inside a function is
still two modules that each need the other (``models/registry.py`` reached up into the neural recipes that way),
and a layer reached lazily is still reached. Imports under ``if TYPE_CHECKING:`` would be skipped (they never
run), but the code has none.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("benchmark", "features", "models")

# Top to bottom: a package may import the packages of the layers below its own, never one above, nor another
# package of its own layer. The command line drives the apps and the timing commands, which drive a run; a run
# writes reports (and the seed systems' claims, which read the leakage reports); reports read the evaluation's
# scores; the evaluation scores models on corpora; and everything extracts features.
LAYERS = (
    ("benchmark", "benchmark.cli"),
    ("benchmark.apps", "benchmark.perf"),
    ("benchmark.run",),
    ("benchmark.seeds",),
    ("benchmark.reports",),
    ("benchmark.evaluation",),
    ("benchmark.corpora", "models"),
    ("features",),
)


def _modules() -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package ``__init__``)."""
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


MODULES = _modules()


def _owner(name: str) -> str | None:
    """The module of ours that ``name`` (a module or a name inside one) lives in; None: outside the project."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        here = module.split(".") if is_package else module.split(".")[:-1]
        base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    # ``from pkg import name``: the submodule pkg.name when there is one, else a name defined by pkg itself.
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


@lru_cache(maxsize=1)
def import_graph() -> dict[str, frozenset[str]]:
    """Module -> the modules of ours it imports, at module level or inside functions (read once per session)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for module, (path, is_package) in MODULES.items():
        graph[module]
        stack = [ast.parse(path.read_text(encoding="utf-8"))]
        while stack:
            node = stack.pop()
            for child in ast.iter_child_nodes(node):
                if _is_type_checking(child):
                    continue
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    owners = {_owner(t) for t in _targets(module, is_package, child)}
                    graph[module] |= {o for o in owners if o and o != module}
                else:
                    stack.append(child)
    return {module: frozenset(targets) for module, targets in graph.items()}


def circles(graph: dict[str, frozenset[str]] | dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted, in sorted order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
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
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def package_of(module: str) -> str:
    """The layering's unit: ``benchmark.<sub>``, or a top-level package as a whole (``models.neural`` is models)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "benchmark" and len(parts) > 1 else parts[0]


LAYER_OF = {package: depth for depth, layer in enumerate(LAYERS) for package in layer}


def test_the_graph_sees_relative_lazy_and_submodule_imports():
    graph = import_graph()
    assert "benchmark.run.backends" in graph["benchmark.run.engine"]  # from . import backends
    assert "benchmark.corpora.table" in graph["benchmark.corpora.multi"]  # from .table import ...
    assert "features.builtin" in graph["features.bank"]  # from . import builtin: the submodule, not the package
    assert "features.ssl" in graph["benchmark.cli.ssl_args"]  # only imported inside functions
    assert "models.neural" in graph["models.persistence"]  # likewise


def test_the_circle_finder_finds_a_circle_and_nothing_else():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert circles(graph) == [["a", "b", "c"]]


def test_no_import_circles():
    assert circles(import_graph()) == []


def test_every_package_has_a_layer():
    assert {package_of(m) for m in MODULES} - set(LAYER_OF) == set()


def test_imports_point_down_the_layers():
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in import_graph().items()
        for target in targets
        if package_of(module) != package_of(target)
        and LAYER_OF[package_of(module)] >= LAYER_OF[package_of(target)]
    )
    assert upward == []


@pytest.mark.parametrize("module, forbidden", [
    ("features", ("benchmark", "models")),
    ("models", ("benchmark",)),
    ("benchmark.corpora", ("models", "benchmark.evaluation", "benchmark.run")),
])
def test_the_lower_layers_import_nothing_above(module, forbidden):
    offenders = sorted(f"{m} -> {t}" for m, targets in import_graph().items() if package_of(m) == module
                       for t in targets if any(t == f or t.startswith(f + ".") for f in forbidden))
    assert offenders == []


def _package_all(path: Path) -> tuple[list[str] | None, set[str]]:
    """A package ``__init__``'s ``__all__`` (None when it has none) and the names it binds."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    declared, bound = None, set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            declared = list(ast.literal_eval(node.value))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.Assign):
            bound |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return declared, bound


@pytest.mark.parametrize("package", sorted(m for m, (_, is_package) in MODULES.items() if is_package))
def test_every_package_declares_its_public_names(package):
    path = MODULES[package][0]
    declared, bound = _package_all(path)
    assert declared is not None, f"{path.relative_to(ROOT)} has no __all__"
    submodules = {m.rpartition(".")[2] for m in MODULES if m.rpartition(".")[0] == package}
    # Each name is bound by the __init__ itself or is one of the package's modules (imported on demand).
    assert sorted(set(declared) - bound - submodules) == []
    assert len(declared) == len(set(declared))
