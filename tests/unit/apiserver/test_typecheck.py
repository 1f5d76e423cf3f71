"""Poison objects are refused before anything is written, and unreadable rows are quarantined."""

from pathlib import Path
from typing import Any

import orjson
import pytest

from hyperpod.apiserver import typecheck
from hyperpod.apiserver.errors import ApiError, Invalid
from hyperpod.apiserver.patching import PatchType
from hyperpod.apiserver.registry import Registry
from hyperpod.storage.revlog import OP_CREATE, RevisionLog


def config_map(name: str = "cm", **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, **meta},
        "data": {"a": "b"},
    }


POISON_META = [
    {"ownerReferences": 3.5},
    {"ownerReferences": {}},
    {"ownerReferences": "abc"},
    {"ownerReferences": [3]},
    {"ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": 7}]},
    {"ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "p"}]},
    {
        "ownerReferences": [
            {"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "u", "controller": "yes"}
        ]
    },
    {"finalizers": True},
    {"finalizers": [1]},
    {"generateName": 7},
    {"labels": ["a"]},
    {"annotations": {"a": 1}},
    {"namespace": 5},
    {"managedFields": "x"},
]


@pytest.mark.parametrize("meta", POISON_META, ids=lambda m: repr(m)[:60])
def test_poison_metadata_is_refused_and_nothing_is_stored(tmp_path: Path, meta: Any) -> None:
    reg = Registry(tmp_path / "s.db")
    reg.ensure_system_namespaces()
    before = reg.revision
    with pytest.raises(Invalid):
        reg.create("configmaps", config_map(**meta), "default")
    assert reg.revision == before
    assert reg.try_get("configmaps", "cm", "default") is None
    reg.close()
    again = Registry(tmp_path / "s.db")
    assert again.try_get("configmaps", "cm", "default") is None
    assert again.quarantined == []


def test_poison_metadata_is_refused_on_update_and_patch(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "s.db")
    reg.ensure_system_namespaces()
    cm = reg.create("configmaps", config_map(), "default")
    cm["metadata"]["ownerReferences"] = 3.5
    with pytest.raises(Invalid):
        reg.update("configmaps", cm, "default")
    with pytest.raises(Invalid):
        reg.patch(
            "configmaps", "cm", {"metadata": {"finalizers": True}}, PatchType.MERGE, "default"
        )
    assert "ownerReferences" not in reg.get("configmaps", "cm", "default")["metadata"]


def test_built_in_kinds_are_checked_against_their_schema_types(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "s.db")
    reg.ensure_system_namespaces()
    bad = config_map()
    bad["data"] = {"a": {"nested": "map"}}
    with pytest.raises(Invalid, match=r"data\.a"):
        reg.create("configmaps", bad, "default")
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": "not-a-list"},
    }
    with pytest.raises(Invalid, match=r"spec\.containers"):
        reg.create("pods", pod, "default")


def test_numbers_where_quantities_are_wanted_are_still_accepted(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "s.db")
    reg.ensure_system_namespaces()
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "x", "resources": {"limits": {"cpu": 1}}}]},
    }
    assert reg.create("pods", pod, "default")["metadata"]["name"] == "p"


def test_integers_beyond_int64_are_refused() -> None:
    causes = typecheck.precheck("ConfigMap", {"metadata": {}, "x": {"y": [2**64]}}, builtin=False)
    assert [c["field"] for c in causes] == ["x.y[0]"]


def test_an_unreadable_row_is_quarantined_at_start_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    reg = Registry(path)
    reg.ensure_system_namespaces()
    reg.create("configmaps", config_map("good"), "default")
    reg.close()
    log = RevisionLog(path)
    poison = orjson.dumps(config_map("bad", ownerReferences=3.5, uid="u1"))
    log.append("/configmaps/default/bad", OP_CREATE, 0, poison)
    log.append("/configmaps/default/garbage", OP_CREATE, 0, b"{not json")
    log.close()

    reg = Registry(path)
    assert sorted(k for k, _ in reg.quarantined) == [
        "/configmaps/default/bad",
        "/configmaps/default/garbage",
    ]
    assert reg.try_get("configmaps", "good", "default") is not None
    assert reg.try_get("configmaps", "bad", "default") is None
    reg.ensure_system_namespaces()
    events = reg.list("events", "kube-system")
    assert sorted(e["involvedObject"]["name"] for e in events if e["reason"] == "Quarantined") == [
        "bad",
        "garbage",
    ]
    # New writes keep working, and revisions never go backwards.
    rev = reg.revision
    reg.create("configmaps", config_map("bad"), "default")
    assert reg.revision > rev
    reg.close()
    stored = RevisionLog(path)
    assert {q.key for q in stored.quarantined()} == {
        "/configmaps/default/bad",
        "/configmaps/default/garbage",
    }
    assert stored.purge_quarantined("/configmaps/default/garbage") == 1
    assert [q.key for q in stored.quarantined()] == ["/configmaps/default/bad"]


def test_the_state_database_is_private(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "s.db")
    reg.ensure_system_namespaces()
    for suffix in ("", "-wal"):
        f = tmp_path / f"s.db{suffix}"
        if f.exists():
            assert f.stat().st_mode & 0o777 == 0o600


def test_keys_that_are_not_strings_are_refused(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "s.db")
    reg.ensure_system_namespaces()
    bad = config_map()
    bad["data"] = {1: "a"}
    with pytest.raises(ApiError) as err:
        reg.create("configmaps", bad, "default")
    assert err.value.code == 400
    causes = typecheck.bounds_causes({"data": {1: "a"}})
    assert causes and "keys must be strings" in causes[0]["message"]


def test_status_writes_of_built_in_kinds_are_type_checked(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "s.db")
    reg.ensure_system_namespaces()
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "x"}]},
    }
    created = reg.create("pods", pod, "default")
    for status in ("Running", {"phase": "Running", "conditions": "ready"}):
        with pytest.raises(Invalid):
            reg.update("pods/status", {**created, "status": status}, "default")
    ok = {**created, "status": {"phase": "Running"}}
    assert reg.update("pods/status", ok, "default")["status"]["phase"] == "Running"


def test_pod_templates_unchanged_since_stored_are_not_walked_again() -> None:
    bad = {"template": {"spec": {"containers": "not-a-list"}}}
    assert typecheck.pod_template_causes({"spec": bad})  # a create checks the template
    assert typecheck.pod_template_causes({"spec": bad}, old={"spec": bad}) == []  # ratcheted
    good = {"template": {"spec": {"containers": []}}}
    assert typecheck.pod_template_causes({"spec": bad}, old={"spec": good})  # a change is checked
