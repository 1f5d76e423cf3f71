"""kubectl explain and validation against /openapi/v3 and /openapi/v2 (JSON and gnostic protobuf)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from support import RunningControlPlane
from tools import kubectl_binaries

pytestmark = [pytest.mark.kubectl, pytest.mark.timeout(300)]

KUBECTLS = kubectl_binaries()


@pytest.fixture(params=sorted(KUBECTLS))
def kubectl(request: pytest.FixtureRequest) -> str:
    path = KUBECTLS[request.param]
    if path is None:
        pytest.skip(f"kubectl {request.param} is not installed (scripts/test.sh installs it)")
    return path


def run(
    cluster: RunningControlPlane, kubectl: str, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    res = subprocess.run([kubectl, *args], env=env, capture_output=True, text=True, timeout=60)
    if check:
        assert res.returncode == 0, f"{' '.join(args)}:\n{res.stdout}\n{res.stderr}"
    return res


@pytest.mark.parametrize(
    ("path", "expect"),
    [
        ("pods.spec.containers.resources", "FIELD: resources <ResourceRequirements>"),
        ("services.spec.ports", "FIELD: ports <[]ServicePort>"),
        ("pytorchjob.spec.pytorchReplicaSpecs", "FIELD: pytorchReplicaSpecs"),
        ("nodes.status.conditions.lastHeartbeatTime", "FIELD: lastHeartbeatTime <string>"),
    ],
)
def test_kubectl_explain_walks_nested_fields(
    cluster: RunningControlPlane, kubectl: str, path: str, expect: str
) -> None:
    out = run(cluster, kubectl, "explain", path).stdout
    assert expect in out


def test_kubectl_explain_reads_the_protobuf_openapi_v2(
    cluster: RunningControlPlane, kubectl: str
) -> None:
    out = run(
        cluster,
        kubectl,
        "explain",
        "pods.spec.containers.resources",
        "--output=plaintext-openapiv2",
    ).stdout
    assert "ResourceRequirements describes the compute resource requirements" in out
    assert "limits" in out and "requests" in out


def test_an_unknown_kind_says_no_matches_for_kind(
    cluster: RunningControlPlane, kubectl: str, tmp_path: Path
) -> None:
    manifest = tmp_path / "widget.json"
    manifest.write_text(
        json.dumps({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})
    )
    res = run(cluster, kubectl, "create", "-f", str(manifest), check=False)
    assert res.returncode != 0
    assert 'no matches for kind "Widget" in version "example.com/v1"' in res.stderr
    assert "ensure CRDs are installed first" in res.stderr


def test_validation_of_known_kinds_still_rejects_unknown_fields(
    cluster: RunningControlPlane, kubectl: str, tmp_path: Path
) -> None:
    manifest = tmp_path / "cm.json"
    manifest.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "strict", "bogus": 1},
                "data": {"a": "b"},
            }
        )
    )
    res = run(cluster, kubectl, "apply", "-f", str(manifest), check=False)
    assert res.returncode != 0
    assert 'unknown field "metadata.bogus"' in res.stderr


def test_openapi_v2_json_is_swagger_2_with_upstream_definitions(
    cluster: RunningControlPlane,
) -> None:
    status, body = cluster.get("/openapi/v2")
    assert status == 200
    doc = json.loads(body)
    assert doc["swagger"] == "2.0"
    defs = doc["definitions"]
    pod = defs["io.k8s.api.core.v1.Pod"]
    assert pod["x-kubernetes-group-version-kind"] == [{"group": "", "kind": "Pod", "version": "v1"}]
    assert defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["format"] == "int-or-string"
    assert "org.kubeflow.v1.PyTorchJob" in defs

    def refs(node: object) -> set[str]:
        if isinstance(node, dict):
            out = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
            for v in node.values():
                out |= refs(v)
            return out
        if isinstance(node, list):
            return set().union(*(refs(v) for v in node)) if node else set()
        return set()

    assert {r for r in refs(doc) if r.removeprefix("#/definitions/") not in defs} == set()
    patch = doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"]["kind"] == "Pod"
    assert any(p["name"] == "fieldValidation" for p in patch["parameters"])


def test_kubectl_explain_works_for_every_crd(cluster: RunningControlPlane, kubectl: str) -> None:
    from kubernetes import client

    crds = client.ApiextensionsV1Api(cluster.api_client()).list_custom_resource_definition()
    assert crds.items
    for crd in crds.items:
        plural, group = crd.spec.names.plural, crd.spec.group
        out = run(cluster, kubectl, "explain", f"{plural}.{group}").stdout
        assert f"KIND:       {crd.spec.names.kind}" in out, out
