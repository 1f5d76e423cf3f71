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
# api holds our typed objects; it may use the shared Status/cause vocabulary and nothing else
# of the server side.
API_ALLOWED_SERVER_MODULES = {"hyperpod.apiserver.errors"}


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
def test_api_types_depend_only_on_api_and_the_shared_error_vocabulary(path: Path) -> None:
    bad = {
        m
        for m in imports_of(path)
        if layer_of(m) in SERVER + CLIENT_SIDE + ("providers",)
        and not any(m == a or m.startswith(a + ".") for a in API_ALLOWED_SERVER_MODULES)
    }
    assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"
