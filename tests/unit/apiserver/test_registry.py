import asyncio
from pathlib import Path
from typing import Any

import pytest

from hyperpod.apiserver.errors import (
    AlreadyExists,
    BadRequest,
    Conflict,
    Expired,
    Forbidden,
    Invalid,
    NotFound,
    UnsupportedMediaType,
)
from hyperpod.apiserver.patching import PatchType
from hyperpod.apiserver.registry import CRD_RESOURCE, Registry
from hyperpod.apiserver.resources import Catalog, from_crd


def pod(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "main", "image": "python:3.11"}]},
    }


def widget_crd(**extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {
                "plural": "widgets",
                "singular": "widget",
                "kind": "Widget",
                "shortNames": ["wd"],
            },
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {
                        "status": {},
                        "scale": {
                            "specReplicasPath": ".spec.replicas",
                            "statusReplicasPath": ".status.replicas",
                        },
                    },
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "replicas": {"type": "integer", "default": 1},
                                        "size": {"type": "string"},
                                    },
                                },
                                "status": {
                                    "type": "object",
                                    "properties": {
                                        "replicas": {"type": "integer"},
                                        "phase": {"type": "string"},
                                    },
                                },
                            },
                        }
                    },
                }
            ],
            **extra,
        },
    }


def widget(name: str, spec: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Widget custom object (the kind widget_crd() serves)."""
    obj: dict[str, Any] = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": spec,
    }
    if status is not None:
        obj["status"] = status
    return obj


def test_create_fills_identity_revision_and_generation(registry: Registry) -> None:
    obj = registry.create("pods", pod("a"), "default")
    md = obj["metadata"]
    assert md["uid"] and md["creationTimestamp"].endswith("Z")
    assert md["generation"] == 1
    assert int(md["resourceVersion"]) == registry.revision


def test_generate_name_appends_five_random_characters(registry: Registry) -> None:
    body = pod("")
    body["metadata"] = {"generateName": "job-"}
    obj = registry.create("pods", body, "default")
    assert obj["metadata"]["name"].startswith("job-")
    assert len(obj["metadata"]["name"]) == len("job-") + 5


def test_creating_the_same_name_twice_is_already_exists(registry: Registry) -> None:
    registry.create("pods", pod("a"), "default")
    with pytest.raises(AlreadyExists, match='pods "a" already exists'):
        registry.create("pods", pod("a"), "default")


def test_a_stale_resource_version_on_update_is_a_conflict(registry: Registry) -> None:
    first = registry.create(
        "configmaps", {"metadata": {"name": "c"}, "data": {"a": "1"}}, "default"
    )
    first["data"] = {"a": "2"}
    registry.update("configmaps", first)
    first["data"] = {"a": "3"}
    with pytest.raises(Conflict, match="the object has been modified"):
        registry.update("configmaps", first)


def test_generation_moves_on_spec_changes_only(registry: Registry) -> None:
    registry.create(CRD_RESOURCE, widget_crd())
    w = registry.create(
        "widgets.example.com",
        widget("w", {"size": "s"}),
        "default",
    )
    assert w["spec"]["replicas"] == 1  # schema default applied
    w["metadata"]["labels"] = {"x": "y"}
    w = registry.update("widgets.example.com", w)
    assert w["metadata"]["generation"] == 1
    w["spec"]["size"] = "m"
    w = registry.update("widgets.example.com", w)
    assert w["metadata"]["generation"] == 2
    w["status"] = {"phase": "Ready"}
    w = registry.update("widgets.example.com/status", w)
    assert w["metadata"]["generation"] == 2
    assert w["status"] == {"phase": "Ready"}


def test_the_main_resource_ignores_status_and_the_status_subresource_ignores_spec(
    registry: Registry,
) -> None:
    registry.create(CRD_RESOURCE, widget_crd())
    w = registry.create(
        "widgets.example.com",
        widget("w", {"size": "s"}, status={"phase": "Fake"}),
        "default",
    )
    assert "status" not in w
    w["spec"]["size"] = "xl"
    w["status"] = {"phase": "Ready"}
    w = registry.update("widgets.example.com/status", w)
    assert w["spec"]["size"] == "s" and w["status"]["phase"] == "Ready"


def test_custom_resources_are_validated_against_their_schema(registry: Registry) -> None:
    registry.create(CRD_RESOURCE, widget_crd())
    with pytest.raises(Invalid) as err:
        registry.create(
            "widgets.example.com",
            widget("w", {"replicas": "many"}),
            "default",
        )
    assert any(c["field"] == "spec.replicas" for c in err.value.causes)


def test_strict_field_validation_names_the_unknown_field(registry: Registry) -> None:
    registry.create(CRD_RESOURCE, widget_crd())
    with pytest.raises(BadRequest, match=r'unknown field "spec\.colour"'):
        registry.create(
            "widgets.example.com",
            widget("w", {"colour": "red"}),
            "default",
            field_validation="Strict",
        )
    warnings: list[str] = []
    w = registry.create(
        "widgets.example.com",
        widget("w", {"colour": "red"}),
        "default",
        field_validation="Warn",
        warnings=warnings,
    )
    assert "colour" not in w["spec"]
    assert warnings == ['unknown field "spec.colour"']


def test_strategic_merge_patch_on_a_custom_resource_is_415(registry: Registry) -> None:
    registry.create(CRD_RESOURCE, widget_crd())
    registry.create(
        "widgets.example.com",
        widget("w", {}),
        "default",
    )
    with pytest.raises(UnsupportedMediaType):
        registry.patch(
            "widgets.example.com", "w", {"spec": {"size": "x"}}, PatchType.STRATEGIC, "default"
        )
    out = registry.patch(
        "widgets.example.com", "w", {"spec": {"size": "x"}}, PatchType.MERGE, "default"
    )
    assert out["spec"]["size"] == "x"


def test_scale_subresource_reads_and_writes_the_replica_path(registry: Registry) -> None:
    registry.create(CRD_RESOURCE, widget_crd())
    registry.create(
        "widgets.example.com",
        widget("w", {"replicas": 2}),
        "default",
    )
    scale = registry.get("widgets.example.com/scale", "w", "default")
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 2
    scale["spec"]["replicas"] = 5
    registry.update("widgets.example.com/scale", scale, "default")
    assert registry.get("widgets.example.com", "w", "default")["spec"]["replicas"] == 5


def test_an_object_with_finalizers_lingers_until_they_are_removed(registry: Registry) -> None:
    registry.create(
        "configmaps", {"metadata": {"name": "c", "finalizers": ["example.com/x"]}}, "default"
    )
    gone = registry.delete("configmaps", "c", "default")
    assert gone["metadata"]["deletionTimestamp"]
    cm = registry.get("configmaps", "c", "default")
    cm["metadata"]["finalizers"] = []
    registry.update("configmaps", cm)
    assert registry.try_get("configmaps", "c", "default") is None


def test_a_bound_running_pod_is_deleted_gracefully_and_removed_with_grace_zero(
    registry: Registry,
) -> None:
    registry.create("pods", pod("p"), "default")
    registry.create(
        "pods/binding",
        {"metadata": {"name": "p"}, "target": {"kind": "Node", "name": "n1"}},
        "default",
    )
    first = registry.delete("pods", "p", "default")
    assert first["metadata"]["deletionGracePeriodSeconds"] == 30
    assert registry.try_get("pods", "p", "default") is not None
    registry.delete("pods", "p", "default", grace_period_seconds=0)
    assert registry.try_get("pods", "p", "default") is None


def test_binding_an_already_bound_pod_is_a_conflict(registry: Registry) -> None:
    registry.create("pods", pod("p"), "default")
    binding = {"metadata": {"name": "p"}, "target": {"kind": "Node", "name": "n1"}}
    registry.create("pods/binding", binding, "default")
    bound = registry.get("pods", "p", "default")
    assert bound["spec"]["nodeName"] == "n1"
    assert bound["status"]["conditions"][0]["type"] == "PodScheduled"
    with pytest.raises(Conflict, match="already assigned"):
        registry.create("pods/binding", binding, "default")


def test_creating_in_a_missing_or_terminating_namespace_fails(registry: Registry) -> None:
    with pytest.raises(NotFound, match='namespaces "nope" not found'):
        registry.create("configmaps", {"metadata": {"name": "c"}}, "nope")
    registry.create("namespaces", {"metadata": {"name": "team"}})
    registry.create("configmaps", {"metadata": {"name": "c"}}, "team")
    registry.delete("namespaces", "team")
    assert registry.get("namespaces", "team")["status"]["phase"] == "Terminating"
    with pytest.raises(Forbidden, match="being terminated"):
        registry.create("configmaps", {"metadata": {"name": "d"}}, "team")


def test_label_and_field_selectors_filter_lists(registry: Registry) -> None:
    registry.create("pods", pod("a", app="web"), "default")
    registry.create("pods", pod("b", app="db"), "default")
    assert [p["metadata"]["name"] for p in registry.list("pods", label_selector="app=web")] == ["a"]
    assert [
        p["metadata"]["name"] for p in registry.list("pods", field_selector="metadata.name=b")
    ] == ["b"]
    assert registry.list("pods", label_selector="app in (x)") == []


def test_list_pages_with_limit_and_continue(registry: Registry) -> None:
    for i in range(7):
        registry.create("configmaps", {"metadata": {"name": f"c{i}"}}, "default")
    first = registry.list_object("configmaps", "default", limit=3)
    assert [i["metadata"]["name"] for i in first["items"]] == ["c0", "c1", "c2"]
    assert first["metadata"]["remainingItemCount"] == 4
    second = registry.list_object(
        "configmaps", "default", limit=3, continue_=first["metadata"]["continue"]
    )
    assert [i["metadata"]["name"] for i in second["items"]] == ["c3", "c4", "c5"]
    with pytest.raises(BadRequest, match="invalid continue token"):
        registry.list_object("configmaps", "default", limit=3, continue_="garbage")


def test_a_watch_resumes_after_a_resource_version_and_sees_selector_transitions(
    registry: Registry,
) -> None:
    a = registry.create("pods", pod("a", app="web"), "default")
    rv = a["metadata"]["resourceVersion"]
    a["metadata"]["labels"] = {"app": "db"}
    registry.update("pods", a)
    registry.create("pods", pod("b", app="web"), "default")

    async def collect() -> list[tuple[str, str]]:
        w = registry.watch("pods", "default", label_selector="app=web", resource_version=rv)
        out = []
        async for ev in w:
            out.append((ev.type, ev.object["metadata"]["name"]))
            if len(out) == 2:
                w.close()
        return out

    assert asyncio.run(collect()) == [("DELETED", "a"), ("ADDED", "b")]


def test_a_watch_below_the_compacted_revision_is_expired(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "s.db", history=5)
    reg.ensure_system_namespaces()
    for i in range(30):
        reg.create("configmaps", {"metadata": {"name": f"c{i}"}}, "default")
    assert reg.log.compacted > 1
    with pytest.raises(Expired):
        reg.watch("configmaps", resource_version="1")


def test_state_and_revisions_survive_a_restart(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "s.db")
    reg.ensure_system_namespaces()
    reg.create(CRD_RESOURCE, widget_crd())
    reg.create(
        "widgets.example.com",
        widget("w", {}),
        "default",
    )
    before = reg.revision
    reg.close()
    again = Registry(tmp_path / "s.db")
    assert again.get("widgets.example.com", "w", "default")["spec"]["replicas"] == 1
    assert again.revision == before
    again.create("configmaps", {"metadata": {"name": "later"}}, "default")
    assert again.revision == before + 1


def test_a_watch_from_before_a_restart_resumes_from_the_log(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "s.db")
    reg.ensure_system_namespaces()
    c = reg.create("configmaps", {"metadata": {"name": "a"}}, "default")
    reg.create("configmaps", {"metadata": {"name": "b"}}, "default")
    reg.close()
    again = Registry(tmp_path / "s.db")

    async def first() -> tuple[str, str]:
        w = again.watch("configmaps", "default", resource_version=c["metadata"]["resourceVersion"])
        async for ev in w:
            w.close()
            return ev.type, ev.object["metadata"]["name"]
        raise AssertionError("no event")

    assert asyncio.run(first()) == ("ADDED", "b")


def test_wrong_kind_for_the_resource_is_a_bad_request(registry: Registry) -> None:
    with pytest.raises(BadRequest, match="do not match"):
        registry.create(
            "pods", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}}, "default"
        )


def test_an_invalid_crd_is_rejected_with_causes(registry: Registry) -> None:
    bad = widget_crd()
    bad["metadata"]["name"] = "wrong.example.com"
    with pytest.raises(Invalid) as err:
        registry.create(CRD_RESOURCE, bad)
    assert err.value.causes[0]["field"] == "metadata.name"


def test_every_namespace_is_labelled_with_its_own_name(registry: Registry) -> None:
    ns = registry.create("namespaces", {"metadata": {"name": "team-a", "labels": {"x": "y"}}})
    assert ns["metadata"]["labels"] == {"x": "y", "kubernetes.io/metadata.name": "team-a"}
    assert [
        n["metadata"]["name"]
        for n in registry.list("namespaces", label_selector="kubernetes.io/metadata.name=team-a")
    ] == ["team-a"]


def test_catalog_groups_list_a_crd_once_added_and_its_new_versions_and_forget_it_once_removed() -> (
    None
):
    catalog = Catalog()
    assert "example.com" not in catalog.groups()
    assert catalog.groups()["apps"] == ["v1"]
    crd = widget_crd()
    catalog.add(from_crd(crd))
    assert catalog.groups()["example.com"] == ["v1"]
    served = crd["spec"]["versions"]
    crd["spec"]["versions"] = [*served, {**served[0], "name": "v2", "storage": False}]
    catalog.add(from_crd(crd))
    assert catalog.groups()["example.com"] == ["v1", "v2"]
    catalog.remove("widgets.example.com")
    assert "example.com" not in catalog.groups()
