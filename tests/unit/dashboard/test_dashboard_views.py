"""What the pages show, read through the authorizer hook from a real registry."""

from __future__ import annotations

from typing import Any

import pytest

from hyperpod.api import kueue as kueue_api
from hyperpod.api import pytorchjob as ptj_api
from hyperpod.apiserver.patching import PatchType
from hyperpod.apiserver.registry import CRD_RESOURCE, Registry
from hyperpod.dashboard import pages, views
from hyperpod.dashboard.authz import ADMIN, admin_only
from hyperpod.dashboard.reader import Reader

WL = "workloads.kueue.x-k8s.io"


@pytest.fixture
def reg(registry: Registry) -> Registry:
    for crd in [*kueue_api.crds(), *ptj_api.crds()]:
        registry.create(CRD_RESOURCE, crd)
    for ns in ("team-a", "team-b"):
        registry.create("namespaces", {"metadata": {"name": ns}})
    return registry


def workload(
    reg: Registry, ns: str, name: str, priority: int, message: str | None
) -> dict[str, Any]:
    obj = {
        "apiVersion": "kueue.x-k8s.io/v1beta1",
        "kind": "Workload",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "queueName": "lq",
            "priority": priority,
            "podSets": [
                {
                    "name": "main",
                    "count": 1,
                    "template": {"spec": {"containers": [{"name": "c", "image": "x"}]}},
                }
            ],
        },
    }
    created = reg.create(WL, obj)
    if message is not None:
        cond = {
            "type": "QuotaReserved",
            "status": "False",
            "reason": "Pending",
            "message": message,
            "lastTransitionTime": "2026-12-06T00:00:00Z",
        }
        reg.patch(f"{WL}/status", name, {"status": {"conditions": [cond]}}, PatchType.MERGE, ns)
    return created


def local_queue(reg: Registry, ns: str) -> None:
    reg.create(
        "localqueues.kueue.x-k8s.io",
        {
            "apiVersion": "kueue.x-k8s.io/v1beta1",
            "kind": "LocalQueue",
            "metadata": {"name": "lq", "namespace": ns},
            "spec": {"clusterQueue": "cq"},
        },
    )


def test_pending_workloads_come_in_admission_order_with_the_reason_each_waits(
    reg: Registry,
) -> None:
    local_queue(reg, "team-a")
    workload(reg, "team-a", "low", 10, "insufficient quota for nvidia.com/gpu")
    workload(reg, "team-a", "high", 100, "insufficient quota for cpu")
    workload(reg, "team-a", "later", 0, None)
    d = views.queues(Reader(reg, ADMIN, admin_only))
    # Kueue's order: priority first (then creation time, then uid, for equal priorities).
    pending = d["unqueued"]  # no ClusterQueue "cq" exists: listed apart, still in order
    assert [w["name"] for w in pending] == ["high", "low", "later"]
    assert pending[0]["reason"] == "insufficient quota for cpu"
    assert pending[2]["reason"] == "not considered by Kueue yet"


def test_the_reader_shows_only_what_the_identity_may_list(reg: Registry) -> None:
    for ns in ("team-a", "team-b"):
        local_queue(reg, ns)
        workload(reg, ns, f"wl-{ns}", 0, "waiting")

    def team_a_only(identity: str, resource: str, namespace: str | None) -> bool:
        return identity == "alice" and namespace == "team-a"

    alice = Reader(reg, "alice", team_a_only)
    assert [w["metadata"]["namespace"] for w in alice.list(WL)] == ["team-a"]
    assert alice.list("nodes") == [] and "nodes" in alice.hidden
    d = views.queues(alice)
    assert [w["name"] for w in d["unqueued"]] == ["wl-team-a"]
    assert "clusterqueues.kueue.x-k8s.io" in alice.hidden
    assert "Not shown: you may not list" in pages.queues(d, alice.hidden)
    nobody = Reader(reg, "mallory", admin_only)
    assert nobody.list(WL) == [] and WL in nobody.hidden
    assert nobody.get(WL, "wl-team-a", "team-a") is None


def test_a_queued_job_shows_its_workloads_reason_and_a_running_one_its_progress(
    reg: Registry,
) -> None:
    job = {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": "train", "namespace": "team-a"},
        "spec": {
            "pytorchReplicaSpecs": {
                "Master": {
                    "replicas": 1,
                    "template": {"spec": {"containers": [{"name": "pytorch", "image": "x"}]}},
                }
            }
        },
    }
    created = reg.create(ptj_api.RESOURCE, job)
    wl = workload(reg, "team-a", "wl-train", 0, "insufficient quota for nvidia.com/gpu")
    owner = {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "name": "train",
        "uid": created["metadata"]["uid"],
        "controller": True,
    }
    reg.patch(
        WL,
        wl["metadata"]["name"],
        {"metadata": {"ownerReferences": [owner]}},
        PatchType.MERGE,
        "team-a",
    )
    rows = views.jobs(Reader(reg, ADMIN, admin_only))
    assert rows[0]["state"] == "Queued"
    assert rows[0]["reason"] == "insufficient quota for nvidia.com/gpu"
    progress = {"percent": 45.0, "step": 180, "totalSteps": 400, "etaSeconds": 66}
    reg.patch(
        f"{ptj_api.RESOURCE}/status",
        "train",
        {"status": {"progress": progress}},
        PatchType.MERGE,
        "team-a",
    )
    reg.delete(WL, "wl-train", "team-a")
    row = views.jobs(Reader(reg, ADMIN, admin_only))[0]
    assert (row["percent"], row["step"], row["eta"]) == (45.0, 180, 66)
    html = pages.jobs([row], set())
    assert "(180/400)" in html and "1m 06s" in html


def test_names_are_escaped_in_the_html() -> None:
    row = {
        "name": "<script>x</script>",
        "instanceType": "",
        "ready": True,
        "unschedulable": False,
        "health": "",
        "gpus": 0,
        "gpusUsed": 0,
        "pods": 0,
        "gpuSamples": [],
    }
    html = pages.nodes([row], set())
    assert "<script>x" not in html and "&lt;script&gt;" in html


def test_the_dashboards_event_streams_count_as_long_running_requests() -> None:
    from hyperpod.apiserver.metrics import request_labels

    assert request_labels("GET", "/dashboard/stream", {"page": "jobs"})["verb"] == "WATCH"
    assert request_labels("GET", "/dashboard/logs", {})["verb"] == "WATCH"
    assert request_labels("GET", "/dashboard/jobs", {})["verb"] == "GET"
