"""Merging a cluster's context into the user's kubeconfig without clobbering others."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from hyperpod.client import kubeconfig as kc
from hyperpod.client.errors import UserError


def _cfg(name: str, server: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server}}],
        "users": [{"name": f"{name}-admin", "user": {"token": "t"}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": f"{name}-admin"}}],
        "current-context": name,
    }


def test_merging_keeps_other_contexts_and_makes_the_new_one_current(tmp_path: Path) -> None:
    path = tmp_path / "config"
    kc.write(path, _cfg("eks-prod", "https://eks.example"))
    kc.merge_into(_cfg("local", "https://127.0.0.1:7443"), path)
    data = yaml.safe_load(path.read_text())
    assert [c["name"] for c in data["contexts"]] == ["eks-prod", "local"]
    assert data["current-context"] == "local"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_merging_again_replaces_the_entries_of_the_same_name(tmp_path: Path) -> None:
    path = tmp_path / "config"
    kc.merge_into(_cfg("local", "https://127.0.0.1:1"), path)
    kc.merge_into(_cfg("local", "https://127.0.0.1:2"), path)
    data = yaml.safe_load(path.read_text())
    assert [c["cluster"]["server"] for c in data["clusters"]] == ["https://127.0.0.1:2"]


def test_removing_a_context_leaves_the_others(tmp_path: Path) -> None:
    path = tmp_path / "config"
    kc.write(path, _cfg("eks-prod", "https://eks.example"))
    kc.merge_into(_cfg("local", "https://127.0.0.1:7443"), path)
    assert kc.remove_from("local", path)
    data = yaml.safe_load(path.read_text())
    assert [c["name"] for c in data["contexts"]] == ["eks-prod"]
    assert [c["name"] for c in data["clusters"]] == ["eks-prod"]
    assert data["current-context"] == ""
    assert not kc.remove_from("local", path)


def test_the_first_kubeconfig_entry_is_the_one_written(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'a'}:{tmp_path / 'b'}")
    assert kc.default_path() == tmp_path / "a"


def test_a_broken_kubeconfig_is_reported_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("clusters: [\n")
    with pytest.raises(UserError):
        kc.merge_into(_cfg("local", "https://127.0.0.1:7443"), path)
    assert path.read_text() == "clusters: [\n"
