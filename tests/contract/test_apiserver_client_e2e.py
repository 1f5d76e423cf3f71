"""The operations the official Python client's own e2e suite runs, for the kinds served here.

Services, config maps, nodes, RBAC objects, namespaces, watch, and ``utils.create_from_yaml``
with multi-document files and conflicts, all through the official client over HTTPS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, utils, watch
from kubernetes.client.rest import ApiException

from support import RunningControlPlane


@pytest.fixture(scope="module")
def api(cluster: RunningControlPlane) -> Any:
    return cluster.api_client()


def test_service_create_read_patch_list_delete(api: Any) -> None:
    core = client.CoreV1Api(api)
    body = {
        "metadata": {"name": "frontend", "labels": {"name": "frontend"}},
        "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 80}], "selector": {"x": "y"}},
    }
    created = core.create_namespaced_service("default", body)
    assert created.spec.cluster_ip
    read = core.read_namespaced_service("frontend", "default")
    assert read.spec.ports[0].port == 80
    patched = core.patch_namespaced_service(
        "frontend", "default", {"metadata": {"labels": {"tier": "web"}}}
    )
    assert patched.metadata.labels == {"name": "frontend", "tier": "web"}
    assert patched.spec.cluster_ip == created.spec.cluster_ip
    names = [s.metadata.name for s in core.list_namespaced_service("default").items]
    assert "frontend" in names and "kubernetes" in names
    core.delete_namespaced_service("frontend", "default")
    with pytest.raises(ApiException) as err:
        core.read_namespaced_service("frontend", "default")
    assert err.value.status == 404


def test_config_map_create_patch_select_and_delete_collection(api: Any) -> None:
    core = client.CoreV1Api(api)
    for i in range(3):
        core.create_namespaced_config_map(
            "default",
            {"metadata": {"name": f"cfg-{i}", "labels": {"e2e": "cm"}}, "data": {"i": str(i)}},
        )
    patched = core.patch_namespaced_config_map("cfg-0", "default", {"data": {"extra": "yes"}})
    assert patched.data == {"i": "0", "extra": "yes"}
    listed = core.list_namespaced_config_map("default", label_selector="e2e=cm")
    assert sorted(c.metadata.name for c in listed.items) == ["cfg-0", "cfg-1", "cfg-2"]
    core.delete_collection_namespaced_config_map("default", label_selector="e2e=cm")
    assert core.list_namespaced_config_map("default", label_selector="e2e=cm").items == []


def test_nodes_are_listed_and_read(api: Any) -> None:
    core = client.CoreV1Api(api)
    nodes = core.list_node().items
    assert nodes
    node = core.read_node(nodes[0].metadata.name)
    assert node.status.capacity and node.metadata.labels["kubernetes.io/os"]


def test_rbac_objects_round_trip(api: Any) -> None:
    rbac = client.RbacAuthorizationV1Api(api)
    rule = {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}
    rbac.create_namespaced_role("default", {"metadata": {"name": "reader"}, "rules": [rule]})
    rbac.create_namespaced_role_binding(
        "default",
        {
            "metadata": {"name": "reader"},
            "subjects": [{"kind": "User", "name": "alice"}],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
        },
    )
    rbac.create_cluster_role({"metadata": {"name": "e2e-viewer"}, "rules": [rule]})
    binding = rbac.read_namespaced_role_binding("reader", "default")
    assert binding.subjects[0].api_group == "rbac.authorization.k8s.io"  # defaulted
    assert rbac.read_cluster_role("e2e-viewer").rules[0].verbs == ["get", "list"]
    rbac.delete_cluster_role("e2e-viewer")
    rbac.delete_namespaced_role_binding("reader", "default")
    rbac.delete_namespaced_role("reader", "default")


def test_namespace_watch_sees_creation_and_deletion(api: Any) -> None:
    core = client.CoreV1Api(api)
    rv = core.list_namespace().metadata.resource_version
    core.create_namespace({"metadata": {"name": "e2e-watched"}})
    core.delete_namespace("e2e-watched")
    seen: list[str] = []
    w = watch.Watch()
    for event in w.stream(core.list_namespace, resource_version=rv, timeout_seconds=5):
        if event["object"].metadata.name == "e2e-watched":
            seen.append(event["type"])
            if event["type"] == "DELETED":
                w.stop()
    assert seen[0] == "ADDED" and seen[-1] == "DELETED"


MULTI = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: yaml-one
data:
  a: "1"
---
apiVersion: v1
kind: Service
metadata:
  name: yaml-svc
spec:
  ports:
  - port: 8080
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: yaml-two
  data:
    b: "2"
"""


def test_create_from_yaml_with_several_documents_then_conflicts(api: Any, tmp_path: Path) -> None:
    path = tmp_path / "multi.yaml"
    path.write_text(MULTI)
    created = utils.create_from_yaml(api, str(path), namespace="default")
    kinds = sorted(o.kind for group in created for o in group)
    assert kinds == ["ConfigMap", "ConfigMap", "Service"]
    core = client.CoreV1Api(api)
    assert core.read_namespaced_config_map("yaml-two", "default").data == {"b": "2"}
    with pytest.raises(utils.FailToCreateError) as err:
        utils.create_from_yaml(api, str(path), namespace="default")
    statuses = sorted(e.status for e in err.value.api_exceptions)
    assert statuses == [409, 409, 409]
