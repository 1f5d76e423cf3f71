"""Shared fixtures: an in-process registry, and a real control plane process on loopback."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from hyperpod.apiserver.registry import Registry
from support import KUBECTL, RunningControlPlane, start_control_plane


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    reg = Registry(tmp_path / "state.db")
    reg.ensure_system_namespaces()
    yield reg
    reg.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    """One control plane per test module (a real process serving HTTPS on loopback)."""
    cp = start_control_plane(tmp_path_factory.mktemp("cluster"))
    yield cp
    cp.stop()


@pytest.fixture
def kubectl_required() -> None:
    if KUBECTL is None:
        pytest.skip(
            "kubectl is not installed on this machine (the contract tests with the "
            "official Python client still run)"
        )
