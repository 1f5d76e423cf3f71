"""The CLI's lean read path answers exactly what the official client answers, on a real server."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hyperpod.client import lean
from hyperpod.client.errors import ClusterUnreachable, JobNotFound
from hyperpod.client.jobs import Jobs, event_time
from hyperpod.client.kube import Kube
from support import RunningControlPlane

JOB = {
    "apiVersion": "kubeflow.org/v1",
    "kind": "PyTorchJob",
    "metadata": {"name": "lean", "namespace": "default"},
    "spec": {
        "pytorchReplicaSpecs": {
            "Master": {
                "replicas": 1,
                "template": {
                    "spec": {"containers": [{"name": "pytorch", "image": "x", "command": ["true"]}]}
                },
            }
        }
    },
}


def official(path: Path) -> Kube:
    kube = Kube(str(path))
    kube._lean = None  # as if the context needed the official client
    return kube


def agree(read: Callable[[Jobs], Any], lean_jobs: Jobs, ref: Jobs) -> None:
    """Both paths read the same; the operator may update the job between two reads, so a
    difference is read again a few times before it counts."""
    for _ in range(10):
        mine, theirs = read(lean_jobs), read(ref)
        if mine == theirs:
            return
        time.sleep(0.2)
    assert mine == theirs


def test_job_lists_and_gets_match_the_official_client(cluster: RunningControlPlane) -> None:
    kube = Kube(str(cluster.kubeconfig))
    assert kube.lean() is not None
    jobs = Jobs(kube)
    created = jobs.create(JOB)
    try:
        ref = Jobs(official(cluster.kubeconfig))
        agree(lambda j: j.list_jobs(None), jobs, ref)
        agree(lambda j: j.list_jobs("default", page_size=1), jobs, ref)
        agree(lambda j: j.get("lean", "default"), jobs, ref)
        assert jobs.get("lean", "default")["metadata"]["uid"] == created["metadata"]["uid"]
    finally:
        jobs.delete("lean", "default", wait=None)


def test_a_missing_job_is_job_not_found_on_the_lean_path(cluster: RunningControlPlane) -> None:
    with pytest.raises(JobNotFound):
        Jobs(Kube(str(cluster.kubeconfig))).get("nope", "default")


def test_a_stopped_server_is_cluster_unreachable(
    tmp_path: Path, cluster: RunningControlPlane
) -> None:
    doc = yaml.safe_load(cluster.kubeconfig.read_text())
    for entry in doc["clusters"]:
        entry["cluster"]["server"] = "https://127.0.0.1:1"
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    kube = Kube(str(path))
    assert kube.lean() is not None
    with pytest.raises(ClusterUnreachable, match=r"127\.0\.0\.1:1"):
        Jobs(kube).list_jobs(None)


def test_contexts_it_cannot_serve_fall_back_to_the_official_client(tmp_path: Path) -> None:
    doc = {
        "clusters": [{"name": "c", "cluster": {"server": "https://example.invalid"}}],
        "users": [{"name": "u", "user": {"exec": {"command": "aws"}}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    assert lean.from_kubeconfig(str(path), None) is None
    doc["users"][0]["user"] = {"token": "t"}
    path.write_text(yaml.safe_dump(doc))
    assert lean.from_kubeconfig(str(path), None) is not None
    assert lean.from_kubeconfig(str(path), "no-such-context") is None
    assert lean.from_kubeconfig(str(tmp_path / "missing"), None) is None


def _pod_view(pod: object) -> tuple[object, ...]:
    md, st, sp = pod.metadata, pod.status, pod.spec  # type: ignore[attr-defined]
    restarts = [c.restart_count for c in st.container_statuses or []]
    conds = [(c.type, c.status, c.reason, c.message) for c in st.conditions or []]
    return md.name, md.creation_timestamp, st.phase, sp.node_name, restarts, conds


def test_pods_and_events_read_like_the_official_models(cluster: RunningControlPlane) -> None:
    jobs = Jobs(Kube(str(cluster.kubeconfig)))
    ref = Jobs(official(cluster.kubeconfig))
    job = json.loads(json.dumps(JOB))
    job["metadata"]["name"] = "leanpods"
    spec = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
    spec["containers"][0]["command"] = ["sleep", "300"]  # a steady state to read twice
    jobs.create(job)
    jobs.create(JOB)  # another job's pods must not show up
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(
            p.status.phase == "Running" for p in jobs.pods("leanpods", "default")
        ):
            time.sleep(0.2)
        mine, theirs = jobs.pods("leanpods", "default"), ref.pods("leanpods", "default")
        assert mine, "the operator made no pod"
        assert [_pod_view(p) for p in mine] == [_pod_view(p) for p in theirs]
        assert {p.metadata.name for p in mine} == {"leanpods-master-0"}  # the selector was sent
        assert mine[0].status.pod_ip == theirs[0].status.pod_ip
        ev_mine, ev_theirs = jobs.events("leanpods", "default"), ref.events("leanpods", "default")
        assert [(e.reason, e.involved_object.name, e.count, event_time(e)) for e in ev_mine] == [
            (e.reason, e.involved_object.name, e.count, event_time(e)) for e in ev_theirs
        ]
    finally:
        jobs.delete("leanpods", "default", wait=None)
        jobs.delete("lean", "default", wait=None)
