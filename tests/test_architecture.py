"""The package tree is the architecture: layers, lowest first, and every import (lazy ones included) points to
the same layer or a lower one, with no cycle between modules. A new top-level package or module must be given a
layer here, so a newcomer reads the system from the folder tree and this list."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[1] / "euralis_lib"

# Lowest first. One line per layer: what it holds may import from its own line and the lines above it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("config", "exceptions"),          # paths and settings; the error every user-facing failure derives from
    ("models",),                       # pure models: no I/O, no presentation
    ("presentation",),                 # HTML markup (escaped), French formats, charts, exports
    ("database", "simulator"),         # connection, embedded server, migrations, reads, backups; simulated data
    ("auth",),                         # users, roles, sessions, the kernel's identity
    ("imports", "jobs", "reporting", "alerts"),  # file imports; the job registry, runs, results, pipeline,
                                       # schedule; weekly PDF reports; alert rules, inbox, live stream, e-mail
    ("validation", "operations"),      # models judged against the simulator; health, metrics, deployment
    ("dashboards",),                   # the supervisor pages
    ("serving",),                      # the Voilà server, its kernels, web routes
    ("bench",),                        # every benchmark
    ("cli", "__main__"),               # the command line
)
RANK = {top: i for i, layer in enumerate(LAYERS) for top in layer}


def _module(path: Path) -> str:
    parts = path.relative_to(LIB.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in LIB.rglob("*.py")}


def _top(module: str) -> str:
    """The top-level package or module of ``euralis_lib.<top>…`` ('' for the package itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imports(module: str) -> set[str]:
    """The euralis_lib modules ``module`` imports, at any depth (lazy imports included)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("euralis_lib")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if base.startswith("euralis_lib"):
                found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names}
    return found


def test_every_top_level_package_and_module_has_a_layer():
    tops = {_top(m) for m in MODULES} - {""}
    assert tops - set(RANK) == set(), "give these a layer in LAYERS"
    assert set(RANK) - tops == set(), "these layers name nothing that exists"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _top(m)))
def test_imports_point_to_the_same_layer_or_lower(module):
    rank = RANK[_top(module)]
    upward = sorted(t for t in _imports(module) if _top(t) and RANK[_top(t)] > rank)
    assert not upward, f"{module} (layer {rank}) imports a higher layer: {upward}"


def test_no_import_cycle_between_modules():
    graph = {m: {t for t in _imports(m) if t in MODULES and t != m} for m in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for m in sorted(graph):
        if m not in index:
            visit(m)
    assert cycles == []


def test_the_checks_see_an_upward_import_and_a_cycle():
    """The two rules above on a planted example: they are not vacuous."""
    assert "euralis_lib.dashboards.registry" in _imports("euralis_lib.dashboards.common")
    assert RANK["serving"] > RANK["dashboards"] > RANK["database"]
    assert any(_top(t) == "dashboards" for t in _imports("euralis_lib.serving.kernels"))


def test_test_modules_share_code_only_through_tests_helpers():
    """A test module never imports another test module or a conftest (shared code lives in tests/helpers/)."""
    tests = LIB.parent / "tests"
    wrong = []
    for path in tests.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tests."):
                if not node.module.startswith("tests.helpers"):
                    wrong.append(f"{path.relative_to(tests)}: {node.module}")
    assert wrong == []
