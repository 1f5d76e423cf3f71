"""Deployments and ReplicaSets on a real control plane, driven by kubectl and the official client.

Pods run on simulated nodes (``nodeSelector: {type: kwok}``) unless a test says otherwise; one
test rolls real local processes on the process kubelet.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from support import KUBECTL, RunningControlPlane, start_control_plane

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="needs kubectl")

CONFIG = {"nodes": {"simulated": [{"group": "sim", "instanceType": "ml.m5.2xlarge", "count": 2}]}}


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    plane = start_control_plane(tmp_path_factory.mktemp("deploy"), CONFIG)
    yield plane
    plane.stop()


@pytest.fixture(scope="module")
def apps(cp: RunningControlPlane) -> client.AppsV1Api:
    return client.AppsV1Api(cp.api_client())


def deployment(
    name: str, replicas: int = 2, *, simulated: bool = True, **spec: Any
) -> dict[str, Any]:
    pod_spec: dict[str, Any] = {
        "containers": [
            {
                "name": "app",
                "image": "local/python",
                "command": ["python", "-c", "import time; time.sleep(600)"],
            }
        ]
    }
    if simulated:
        pod_spec["nodeSelector"] = {"type": "kwok"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec},
            **spec,
        },
    }


def apply(cp: RunningControlPlane, obj: dict[str, Any]) -> None:
    cp.kubectl("apply", "-f", "-", input=yaml.safe_dump(obj))


def get_json(cp: RunningControlPlane, *args: str) -> Any:
    return json.loads(cp.kubectl("get", *args, "-o", "json").stdout)


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def replica_sets(cp: RunningControlPlane, app: str) -> list[dict[str, Any]]:
    items = get_json(cp, "rs", "-l", f"app={app}")["items"]
    return sorted(
        items,
        key=lambda rs: int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]),
    )


def test_kubectl_rollout_status_waits_until_every_replica_is_available(
    cp: RunningControlPlane,
) -> None:
    apply(cp, deployment("web", 3))
    out = cp.kubectl("rollout", "status", "deploy/web", "--timeout=60s").stdout
    assert 'deployment "web" successfully rolled out' in out
    status = get_json(cp, "deploy", "web")["status"]
    assert status["replicas"] == status["readyReplicas"] == status["availableReplicas"] == 3
    assert status["updatedReplicas"] == 3
    conds = {c["type"]: c["reason"] for c in status["conditions"]}
    assert conds == {
        "Available": "MinimumReplicasAvailable",
        "Progressing": "NewReplicaSetAvailable",
    }
    (rs,) = replica_sets(cp, "web")
    h = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{h}"
    pods = get_json(cp, "pods", "-l", f"app=web,pod-template-hash={h}")["items"]
    assert len(pods) == 3
    assert all(p["metadata"]["ownerReferences"][0]["name"] == rs["metadata"]["name"] for p in pods)


def test_kubectl_scale_changes_the_replica_count_through_the_scale_subresource(
    cp: RunningControlPlane, apps: client.AppsV1Api
) -> None:
    apply(cp, deployment("scaled", 1))
    cp.kubectl("rollout", "status", "deploy/scaled", "--timeout=60s")
    cp.kubectl("scale", "deploy/scaled", "--replicas=4")
    cp.kubectl("rollout", "status", "deploy/scaled", "--timeout=60s")
    scale = apps.read_namespaced_deployment_scale("scaled", "default")
    assert (scale.spec.replicas, scale.status.replicas) == (4, 4)
    apps.patch_namespaced_deployment_scale("scaled", "default", {"spec": {"replicas": 2}})
    wait_for(
        "two pods",
        lambda: (
            len(
                [
                    p
                    for p in get_json(cp, "pods", "-l", "app=scaled")["items"]
                    if not p["metadata"].get("deletionTimestamp")
                ]
            )
            == 2
        ),
    )


def test_a_rolling_update_keeps_revisions_and_rollout_undo_returns_to_the_old_template(
    cp: RunningControlPlane,
) -> None:
    apply(
        cp, deployment("roll", 4, strategy={"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}})
    )
    cp.kubectl("rollout", "status", "deploy/roll", "--timeout=60s")
    cp.kubectl("set", "image", "deploy/roll", "app=local/python:v2")
    cp.kubectl("annotate", "deploy/roll", "kubernetes.io/change-cause=image v2")
    cp.kubectl("rollout", "status", "deploy/roll", "--timeout=60s")
    first, second = replica_sets(cp, "roll")
    assert first["spec"]["replicas"] == 0 and second["spec"]["replicas"] == 4
    assert second["spec"]["template"]["spec"]["containers"][0]["image"] == "local/python:v2"
    history = cp.kubectl("rollout", "history", "deploy/roll").stdout
    assert "image v2" in history
    # maxSurge 1 / maxUnavailable 0: the new set never ran more than one pod ahead.
    events = get_json(cp, "events", "--field-selector", "involvedObject.name=roll")["items"]
    scaled = [e["message"] for e in events if e["reason"] == "ScalingReplicaSet"]
    assert any("Scaled up replica set" in m and "from 0 to 1" in m for m in scaled)

    cp.kubectl("rollout", "undo", "deploy/roll")
    cp.kubectl("rollout", "status", "deploy/roll", "--timeout=60s")
    sets = replica_sets(cp, "roll")
    assert [rs["metadata"]["name"] for rs in sets] == [
        second["metadata"]["name"],
        first["metadata"]["name"],
    ]
    assert sets[-1]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    live = get_json(cp, "deploy", "roll")
    assert live["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "local/python"


def test_rollout_pause_holds_template_changes_until_resume_and_restart_rolls_new_pods(
    cp: RunningControlPlane,
) -> None:
    apply(cp, deployment("paused", 2))
    cp.kubectl("rollout", "status", "deploy/paused", "--timeout=60s")
    cp.kubectl("rollout", "pause", "deploy/paused")
    cp.kubectl("set", "image", "deploy/paused", "app=local/python:v2")
    wait_for(
        "the Paused condition",
        lambda: any(
            c["reason"] == "DeploymentPaused"
            for c in get_json(cp, "deploy", "paused")["status"]["conditions"]
        ),
    )
    assert len(replica_sets(cp, "paused")) == 1
    cp.kubectl("rollout", "resume", "deploy/paused")
    cp.kubectl("rollout", "status", "deploy/paused", "--timeout=60s")
    assert len(replica_sets(cp, "paused")) == 2
    cp.kubectl("rollout", "restart", "deploy/paused")
    cp.kubectl("rollout", "status", "deploy/paused", "--timeout=60s")
    sets = replica_sets(cp, "paused")
    assert len(sets) == 3
    assert "kubectl.kubernetes.io/restartedAt" in sets[-1]["spec"]["template"]["metadata"].get(
        "annotations", {}
    )


def test_recreate_stops_every_old_pod_before_starting_new_ones(cp: RunningControlPlane) -> None:
    apply(cp, deployment("rec", 2, strategy={"type": "Recreate"}))
    cp.kubectl("rollout", "status", "deploy/rec", "--timeout=60s")
    cp.kubectl("set", "image", "deploy/rec", "app=local/python:v2")
    cp.kubectl("rollout", "status", "deploy/rec", "--timeout=60s")
    old, new = replica_sets(cp, "rec")
    events = get_json(cp, "events", "--field-selector", "involvedObject.name=rec")["items"]
    order = [e["message"] for e in sorted(events, key=lambda e: e["metadata"]["name"])]
    down = order.index(f"Scaled down replica set {old['metadata']['name']} from 2 to 0")
    up = order.index(f"Scaled up replica set {new['metadata']['name']} from 0 to 2")
    assert down < up


def test_a_deployment_that_cannot_progress_reports_the_deadline_and_rollout_status_fails(
    cp: RunningControlPlane,
) -> None:
    stuck = deployment("stuck", 1, progressDeadlineSeconds=2)
    stuck["spec"]["template"]["spec"]["nodeSelector"] = {"type": "nowhere"}
    apply(cp, stuck)
    res = cp.kubectl("rollout", "status", "deploy/stuck", "--timeout=60s", check=False)
    assert res.returncode != 0
    assert 'deployment "stuck" exceeded its progress deadline' in res.stderr
    cond = next(
        c
        for c in get_json(cp, "deploy", "stuck")["status"]["conditions"]
        if c["type"] == "Progressing"
    )
    assert (cond["status"], cond["reason"]) == ("False", "ProgressDeadlineExceeded")


def test_invalid_deployments_are_rejected_with_the_field_named(apps: client.AppsV1Api) -> None:
    bad = deployment("bad")
    bad["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    with pytest.raises(ApiException) as err:
        apps.create_namespaced_deployment("default", bad)
    assert err.value.status == 422
    assert "spec.template.metadata.labels" in json.loads(err.value.body)["message"]
    zero = deployment("zero", strategy={"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}})
    with pytest.raises(ApiException) as err:
        apps.create_namespaced_deployment("default", zero)
    assert err.value.status == 422


def test_the_official_client_creates_reads_lists_and_deletes_deployments(
    cp: RunningControlPlane, apps: client.AppsV1Api
) -> None:
    body = deployment("client-made", 2)
    body["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 80}]
    apps.create_namespaced_deployment("default", body)
    got = apps.read_namespaced_deployment("client-made", "default")
    assert got.spec.replicas == 2
    assert got.spec.selector.match_labels == {"app": "client-made"}
    assert got.spec.template.spec.containers[0].ports[0].container_port == 80
    assert got.spec.strategy.rolling_update.max_surge == "25%"
    names = [d.metadata.name for d in apps.list_namespaced_deployment("default").items]
    assert "client-made" in names
    wait_for(
        "ready replicas",
        lambda: (
            (
                apps.read_namespaced_deployment_status(
                    "client-made", "default"
                ).status.ready_replicas
                or 0
            )
            == 2
        ),
    )
    apps.delete_namespaced_deployment("client-made", "default", body=client.V1DeleteOptions())
    wait_for(
        "the replica set and its pods to be collected",
        lambda: (
            not get_json(cp, "rs", "-l", "app=client-made")["items"]
            and not get_json(cp, "pods", "-l", "app=client-made")["items"]
        ),
    )


def test_controller_revisions_are_served(apps: client.AppsV1Api) -> None:
    rev = {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {"name": "snap-1"},
        "data": {"spec": {"template": {}}},
        "revision": 1,
    }
    apps.create_namespaced_controller_revision("default", rev)
    got = apps.read_namespaced_controller_revision("snap-1", "default")
    assert got.revision == 1
    assert [r.metadata.name for r in apps.list_namespaced_controller_revision("default").items] == [
        "snap-1"
    ]


def test_a_deployment_rolls_real_local_processes(cp: RunningControlPlane, tmp_path: Path) -> None:
    apply(cp, deployment("real", 2, simulated=False))
    cp.kubectl("rollout", "status", "deploy/real", "--timeout=90s")
    cp.kubectl("set", "env", "deploy/real", "GREETING=hello")
    cp.kubectl("rollout", "status", "deploy/real", "--timeout=90s")
    pods = [
        p
        for p in get_json(cp, "pods", "-l", "app=real")["items"]
        if not p["metadata"].get("deletionTimestamp")
    ]
    assert len(pods) == 2
    assert all(p["spec"]["nodeName"] != "" and p["status"]["phase"] == "Running" for p in pods)
    env = pods[0]["spec"]["containers"][0]["env"]
    assert {"name": "GREETING", "value": "hello"} in env


def test_a_replace_with_a_stale_resource_version_is_a_409_conflict(
    cp: RunningControlPlane, apps: client.AppsV1Api
) -> None:
    apps.create_namespaced_deployment("default", deployment("contested", 1))
    cp.kubectl("rollout", "status", "deploy/contested", "--timeout=60s")  # controller idle
    stale = apps.read_namespaced_deployment("contested", "default")
    fresh = apps.read_namespaced_deployment("contested", "default")
    fresh.spec.replicas = 2
    apps.replace_namespaced_deployment("contested", "default", fresh)
    stale.spec.replicas = 3
    with pytest.raises(ApiException) as err:
        apps.replace_namespaced_deployment("contested", "default", stale)
    assert err.value.status == 409
    assert json.loads(err.value.body)["reason"] == "Conflict"
    assert apps.read_namespaced_deployment("contested", "default").spec.replicas == 2
