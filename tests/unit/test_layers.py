"""The layer rules of docs/internals.md, checked by reading every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "hyperpod"
SERVER = (
    "apiserver",
    "storage",
    "controllers",
    "scheduler",
    "kubelet",
    "controlplane",
    "proxy",
    "dashboard",
)
CLIENT_SIDE = ("cli", "client")


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return {m for m in out if m.startswith("hyperpod.")}


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def modules_in(*layers: str) -> list[Path]:
    return sorted(p for layer in layers for p in (SRC / layer).rglob("*.py"))


@pytest.mark.parametrize("path", modules_in(*SERVER), ids=lambda p: str(p.relative_to(SRC)))
def test_the_server_side_never_imports_the_cli_or_the_client(path: Path) -> None:
    bad = {m for m in imports_of(path) if layer_of(m) in CLIENT_SIDE}
    assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", modules_in("client"), ids=lambda p: str(p.relative_to(SRC)))
def test_the_client_talks_http_and_never_imports_the_server_side(path: Path) -> None:
    bad = {m for m in imports_of(path) if layer_of(m) in SERVER}
    assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", modules_in("api"), ids=lambda p: str(p.relative_to(SRC)))
def test_api_types_depend_only_on_api(path: Path) -> None:
    bad = {m for m in imports_of(path) if layer_of(m) in SERVER + CLIENT_SIDE + ("providers",)}
    assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"


# ---------------------------------------------------------------- floors and circles
# storage < apiserver < runtime < {controllers, scheduler, kubelet} < controlplane: a module may
# import its own floor and the floors below it, never a sibling or a floor above. ``api`` (and
# the package root) sit beneath them all.
FLOORS = {
    "api": 0,
    "storage": 1,
    "apiserver": 2,
    "runtime": 3,
    "controllers": 4,
    "scheduler": 4,
    "kubelet": 4,
    "controlplane": 5,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in SRC.rglob("*.py")}


def _resolve(name: str) -> str:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def module_edges(module: str) -> set[str]:
    """Every hyperpod module ``module`` imports, wherever the import sits (also lazy and
    ``TYPE_CHECKING`` ones); ``from pkg import sub`` counts as an import of ``pkg.sub``."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up) + (f".{node.module}" if node.module else "")
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.append(sub if sub in MODULES else base)
        out.update(_resolve(t) for t in targets if t.startswith("hyperpod"))
    return {m for m in out if m and m != module and m != "hyperpod"}


GRAPH = {m: module_edges(m) for m in MODULES}


def _floor(module: str) -> int | None:
    parts = module.split(".")
    return FLOORS.get(parts[1]) if len(parts) > 1 else None


def sideways_imports() -> set[tuple[str, str]]:
    bad = set()
    for module, deps in GRAPH.items():
        mine = _floor(module)
        for dep in deps:
            theirs = _floor(dep)
            same_layer = module.split(".")[1] == dep.split(".")[1]
            if mine is not None and theirs is not None and not same_layer and theirs >= mine:
                bad.add((module, dep))
    return bad


def import_circles() -> list[list[str]]:
    """The strongly connected components of the import graph with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(GRAPH[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_a_sibling_floor_or_one_above_it() -> None:
    bad = sideways_imports()
    assert not bad, "\n".join(f"{a} imports {b}" for a, b in sorted(bad))


def test_no_modules_import_each_other_in_a_circle() -> None:
    assert import_circles() == []


def test_the_circle_finder_finds_a_circle() -> None:
    GRAPH["hyperpod.api.meta"].add("hyperpod.api.tolerations")
    GRAPH["hyperpod.api.tolerations"].add("hyperpod.api.meta")
    try:
        assert ["hyperpod.api.meta", "hyperpod.api.tolerations"] in import_circles()
    finally:
        GRAPH["hyperpod.api.meta"].discard("hyperpod.api.tolerations")
        GRAPH["hyperpod.api.tolerations"].discard("hyperpod.api.meta")


def test_the_sideways_finder_finds_a_controller_importing_the_kubelet() -> None:
    edge = ("hyperpod.controllers.hyperpod_job_restart", "hyperpod.kubelet.processes")
    GRAPH[edge[0]].add(edge[1])
    try:
        assert edge in sideways_imports()
    finally:
        GRAPH[edge[0]].discard(edge[1])
