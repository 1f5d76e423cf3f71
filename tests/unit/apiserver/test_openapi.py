"""OpenAPI v3 documents are what kubectl needs, and built-in schemas catch unknown fields."""

from __future__ import annotations

import copy
from typing import Any

from hyperpod.apiserver.openapi import (
    ServedResource,
    builtin_schema,
    model_class,
    openapi_document,
    openapi_index,
    parse_gv_path,
)
from hyperpod.apiserver.schema import apply_schema

JOB_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"spec": {"type": "object", "properties": {"replicas": {"type": "integer"}}}},
}
RESOURCES = [
    ServedResource("", "v1", "Pod", "pods", True),
    ServedResource("", "v1", "Node", "nodes", False),
    ServedResource("coordination.k8s.io", "v1", "Lease", "leases", True),
    ServedResource("kubeflow.org", "v1", "PyTorchJob", "pytorchjobs", True, JOB_SCHEMA),
]


def test_the_index_lists_every_group_version_with_a_hash() -> None:
    index = openapi_index(RESOURCES)
    assert set(index["paths"]) == {"api/v1", "apis/coordination.k8s.io/v1", "apis/kubeflow.org/v1"}
    url = index["paths"]["api/v1"]["serverRelativeURL"]
    assert url.startswith("/openapi/v3/api/v1?hash=")
    assert index["paths"]["apis/kubeflow.org/v1"]["serverRelativeURL"].startswith(
        "/openapi/v3/apis/kubeflow.org/v1?hash="
    )


def test_the_hash_changes_when_a_schema_changes() -> None:
    changed = copy.deepcopy(RESOURCES)
    changed[3] = changed[3]._replace(schema={"type": "object"})
    before = openapi_index(RESOURCES)["paths"]
    after = openapi_index(changed)["paths"]
    assert before["api/v1"] == after["api/v1"]
    assert before["apis/kubeflow.org/v1"] != after["apis/kubeflow.org/v1"]


def test_each_resource_has_a_patch_operation_kubectl_can_find() -> None:
    doc = openapi_document(RESOURCES, "", "v1")
    assert doc is not None
    patch = doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert "fieldValidation" in {p["name"] for p in patch["parameters"]}
    assert "application/apply-patch+yaml" in patch["requestBody"]["content"]
    node_item = doc["paths"]["/api/v1/nodes/{name}"]
    assert {"get", "put", "patch", "delete"} <= set(node_item)
    coll = doc["paths"]["/api/v1/namespaces/{namespace}/pods"]
    assert {"get", "post", "delete"} <= set(coll)
    assert coll["get"]["x-kubernetes-action"] == "list"


def test_components_carry_group_version_kinds_and_resolve() -> None:
    doc = openapi_document(RESOURCES, "", "v1")
    assert doc is not None
    schemas = doc["components"]["schemas"]
    pod = schemas["io.k8s.api.core.v1.Pod"]
    assert pod["x-kubernetes-group-version-kind"] == [{"group": "", "version": "v1", "kind": "Pod"}]
    assert (
        pod["properties"]["spec"]["allOf"][0]["$ref"]
        == "#/components/schemas/io.k8s.api.core.v1.PodSpec"
    )
    containers = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert (
        schemas["io.k8s.api.core.v1.Container"]["properties"]["ports"][
            "x-kubernetes-patch-merge-key"
        ]
        == "containerPort"
    )
    assert (
        "x-kubernetes-patch-strategy"
        not in schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["tolerations"]
    )

    def refs(node: Any) -> set[str]:
        if isinstance(node, dict):
            out = {node["$ref"]} if "$ref" in node else set()
            for v in node.values():
                out |= refs(v)
            return out
        if isinstance(node, list):
            return set().union(*(refs(v) for v in node)) if node else set()
        return set()

    missing = {r for r in refs(doc) if r.split("/")[-1] not in schemas}
    assert missing == set()


def test_custom_resources_use_their_crd_schema_with_standard_metadata() -> None:
    doc = openapi_document(RESOURCES, "kubeflow.org", "v1")
    assert doc is not None
    schema = doc["components"]["schemas"]["org.kubeflow.v1.PyTorchJob"]
    assert schema["properties"]["spec"] == JOB_SCHEMA["properties"]["spec"]
    assert schema["properties"]["metadata"] == {
        "$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    }
    assert schema["x-kubernetes-group-version-kind"] == [
        {"group": "kubeflow.org", "version": "v1", "kind": "PyTorchJob"}
    ]
    patch = doc["paths"]["/apis/kubeflow.org/v1/namespaces/{namespace}/pytorchjobs/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"]["kind"] == "PyTorchJob"
    assert JOB_SCHEMA == {
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": {"replicas": {"type": "integer"}}}},
    }


def test_documents_are_cached_and_absent_group_versions_are_none() -> None:
    assert openapi_document(RESOURCES, "", "v1") is openapi_document(list(RESOURCES), "", "v1")
    assert openapi_document(RESOURCES, "apps", "v1") is None


def test_objects_with_the_same_attributes_as_served_resources_are_accepted() -> None:
    class Resource:
        group, version, kind, plural, namespaced = "", "v1", "ConfigMap", "configmaps", True
        schemas: dict[str, Any] = {}

    doc = openapi_document([Resource()], "", "v1")
    assert doc is not None and "io.k8s.api.core.v1.ConfigMap" in doc["components"]["schemas"]


def test_group_version_paths_parse() -> None:
    assert parse_gv_path("api/v1") == ("", "v1")
    assert parse_gv_path("/apis/kubeflow.org/v1") == ("kubeflow.org", "v1")
    assert parse_gv_path("apis/x") is None


def test_built_in_schemas_come_from_the_client_models() -> None:
    assert model_class("Pod") is not None
    assert model_class("Event").__name__ == "CoreV1Event"  # type: ignore[union-attr]
    assert model_class("PyTorchJob") is None
    assert builtin_schema("PyTorchJob") is None
    schema = builtin_schema("Pod")
    assert schema is not None
    assert builtin_schema("Pod") is schema  # computed once, shared read-only
    assert schema["properties"]["spec"]["properties"]["containers"]["items"]["properties"][
        "image"
    ] == {"type": "string"}


def test_a_valid_pod_has_no_unknown_fields_under_its_built_in_schema() -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "p",
            "labels": {"a": "b"},
            "annotations": {"x": "y"},
            "managedFields": [],
        },
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "busybox",
                    "command": ["sh"],
                    "env": [
                        {"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
                    ],
                    "ports": [{"containerPort": 80}],
                    "resources": {"limits": {"cpu": 1, "nvidia.com/gpu": "8"}},
                }
            ],
            "volumes": [{"name": "v", "emptyDir": {"sizeLimit": "1Gi"}}],
            "tolerations": [{"key": "k", "operator": "Exists"}],
        },
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }
    schema = builtin_schema("Pod")
    assert schema is not None
    _, unknown = apply_schema(copy.deepcopy(pod), schema, prune=False)
    assert unknown == []


def test_unknown_fields_of_built_in_kinds_are_found() -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "labelz": {}},
        "spec": {
            "containers": [{"name": "c", "image": "x", "imagePullPolicyy": "Always"}],
            "bogus": 1,
        },
    }
    schema = builtin_schema("Pod")
    assert schema is not None
    _, unknown = apply_schema(pod, schema, prune=False)
    assert sorted(unknown) == [
        ".metadata.labelz",
        ".spec.bogus",
        ".spec.containers[0].imagePullPolicyy",
    ]
    svc_schema = builtin_schema("Service")
    assert svc_schema is not None
    svc = {
        "metadata": {"name": "s"},
        "spec": {"ports": [{"port": 80, "targetPort": "http"}], "selector": {"a": "b"}},
    }
    assert apply_schema(svc, svc_schema, prune=False)[1] == []


def test_every_served_version_of_a_catalog_entry_gets_a_document() -> None:
    class Crd:
        group, version, kind, plural, namespaced = "example.com", "v2", "Widget", "widgets", True
        versions = ["v2", "v1"]
        schemas = {
            "v2": {"type": "object", "properties": {"new": {"type": "string"}}},
            "v1": {"type": "object"},
        }

    assert set(openapi_index([Crd()])["paths"]) == {"apis/example.com/v2", "apis/example.com/v1"}
    v2 = openapi_document([Crd()], "example.com", "v2")
    assert v2 is not None
    assert "new" in v2["components"]["schemas"]["com.example.v2.Widget"]["properties"]


def test_a_custom_resource_named_like_a_built_in_kind_keeps_its_own_schema() -> None:
    doc = openapi_document(
        [ServedResource("example.com", "v1", "Lease", "leases", True)], "example.com", "v1"
    )
    assert doc is not None
    schema = doc["components"]["schemas"]["com.example.v1.Lease"]
    assert schema["x-kubernetes-preserve-unknown-fields"] is True


def test_events_of_both_groups_map_to_their_own_models() -> None:
    core = model_class("Event")
    new = model_class("Event", "events.k8s.io")
    assert core is not None and core.__name__ == "CoreV1Event"
    assert new is not None and new.__name__ == "EventsV1Event"
    schema = builtin_schema("Event", "events.k8s.io")
    assert schema is not None and "regarding" in schema["properties"]


def test_documents_carry_descriptions_and_required_fields_for_kubectl_explain() -> None:
    doc = openapi_document(RESOURCES, "", "v1")
    assert doc is not None
    container = doc["components"]["schemas"]["io.k8s.api.core.v1.Container"]
    assert container["required"] == ["name"]
    assert container["description"].startswith("A single application container")
    assert container["properties"]["image"]["description"].startswith("Container image name.")
    inline = builtin_schema("Pod")
    assert inline is not None
    assert "description" not in inline["properties"]["spec"]["properties"]["containers"]["items"]
