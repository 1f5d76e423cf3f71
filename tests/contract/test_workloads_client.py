"""The official Python client's own e2e operations for workloads, against a real control plane:
create-from-YAML of multi-resource files (Deployment, Service, ReplicationController, Job,
DaemonSet, a List), conflicts, server-side apply; DaemonSets and ReplicationControllers
with kubectl. Pods run on two simulated nodes (``nodeSelector: {type: kwok}``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, utils

from support import KUBECTL, RunningControlPlane, start_control_plane

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="needs kubectl")

CONFIG = {"nodes": {"simulated": [{"group": "sim", "instanceType": "ml.m5.2xlarge", "count": 2}]}}
SIM = {"nodeSelector": {"type": "kwok"}}


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    plane = start_control_plane(tmp_path_factory.mktemp("client"), CONFIG)
    yield plane
    plane.stop()


@pytest.fixture(scope="module")
def api(cp: RunningControlPlane) -> client.ApiClient:
    return cp.api_client()


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


def template(app: str, **extra: Any) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": app}},
        "spec": {"containers": [{"name": app, "image": "nginx:1.15.4"}], **SIM, **extra},
    }


def multi_resource(tmp_path: Path, prefix: str) -> Path:
    docs = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": f"{prefix}-deploy"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": f"{prefix}-deploy"}},
                "template": template(f"{prefix}-deploy"),
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": f"{prefix}-svc"},
            "spec": {"selector": {"app": f"{prefix}-rc"}, "ports": [{"port": 80}]},
        },
        {
            "apiVersion": "v1",
            "kind": "ReplicationController",
            "metadata": {"name": f"{prefix}-rc"},
            "spec": {"replicas": 2, "template": template(f"{prefix}-rc")},
        },
        {
            "apiVersion": "v1",
            "kind": "List",
            "items": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "metadata": {"name": f"{prefix}-job"},
                    "spec": {
                        "template": {
                            "metadata": {
                                "annotations": {"hyperpod.local/simulate-duration": "100ms"}
                            },
                            "spec": {
                                "restartPolicy": "Never",
                                "containers": [{"name": "w", "image": "busybox"}],
                                **SIM,
                            },
                        }
                    },
                },
                {
                    "apiVersion": "apps/v1",
                    "kind": "DaemonSet",
                    "metadata": {"name": f"{prefix}-ds"},
                    "spec": {
                        "selector": {"matchLabels": {"app": f"{prefix}-ds"}},
                        "template": template(f"{prefix}-ds"),
                    },
                },
            ],
        },
    ]
    path = tmp_path / f"{prefix}.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return path


def test_create_from_yaml_creates_every_kind_of_a_multi_resource_file(
    cp: RunningControlPlane, api: client.ApiClient, tmp_path: Path
) -> None:
    utils.create_from_yaml(api, str(multi_resource(tmp_path, "multi")), namespace="default")
    apps, core, batch = client.AppsV1Api(api), client.CoreV1Api(api), client.BatchV1Api(api)
    assert apps.read_namespaced_deployment("multi-deploy", "default").spec.replicas == 2
    assert core.read_namespaced_service("multi-svc", "default").spec.ports[0].port == 80
    rc = core.read_namespaced_replication_controller("multi-rc", "default")
    assert rc.spec.selector == {"app": "multi-rc"}
    assert batch.read_namespaced_job("multi-job", "default").spec.completions == 1
    assert apps.read_namespaced_daemon_set("multi-ds", "default").spec.update_strategy.type == (
        "RollingUpdate"
    )
    wait_for(
        "every workload to run",
        lambda: (
            (apps.read_namespaced_deployment("multi-deploy", "default").status.ready_replicas or 0)
            == 2
            and (
                core.read_namespaced_replication_controller(
                    "multi-rc", "default"
                ).status.ready_replicas
                or 0
            )
            == 2
            and (batch.read_namespaced_job("multi-job", "default").status.succeeded or 0) == 1
            and (apps.read_namespaced_daemon_set("multi-ds", "default").status.number_ready or 0)
            == 2
        ),
    )


def test_create_from_yaml_reports_conflicts_and_still_creates_the_rest(
    cp: RunningControlPlane, api: client.ApiClient, tmp_path: Path
) -> None:
    path = multi_resource(tmp_path, "clash")
    client.AppsV1Api(api).create_namespaced_deployment(
        "default", yaml.safe_load_all(path.read_text()).__next__()
    )
    with pytest.raises(utils.FailToCreateError) as err:
        utils.create_from_yaml(api, str(path), namespace="default")
    (failure,) = err.value.api_exceptions
    assert failure.status == 409
    assert json.loads(failure.body)["reason"] == "AlreadyExists"
    assert client.CoreV1Api(api).read_namespaced_replication_controller("clash-rc", "default")
    assert client.AppsV1Api(api).read_namespaced_daemon_set("clash-ds", "default")


def test_server_side_apply_from_yaml_creates_then_updates_a_deployment(
    cp: RunningControlPlane, api: client.ApiClient, tmp_path: Path
) -> None:
    doc = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "ssa", "namespace": "default"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "ssa"}},
            "template": template("ssa"),
        },
    }
    utils.create_from_dict(api, doc, apply=True)
    doc["spec"]["replicas"] = 3
    utils.create_from_dict(api, doc, apply=True)
    assert client.AppsV1Api(api).read_namespaced_deployment("ssa", "default").spec.replicas == 3


def test_a_daemon_set_runs_one_pod_per_eligible_node_and_rolls_them(
    cp: RunningControlPlane,
) -> None:
    ds = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": template("agent")},
    }
    cp.kubectl("apply", "-f", "-", input=yaml.safe_dump(ds))
    cp.kubectl("rollout", "status", "ds/agent", "--timeout=60s")
    pods = get_json(cp, "pods", "-l", "app=agent")["items"]
    assert sorted(p["spec"]["nodeName"] for p in pods) == ["sim-0", "sim-1"]
    cp.kubectl("set", "image", "ds/agent", "agent=nginx:1.16")
    cp.kubectl("rollout", "status", "ds/agent", "--timeout=60s")
    live = [
        p
        for p in get_json(cp, "pods", "-l", "app=agent")["items"]
        if not p["metadata"].get("deletionTimestamp")
    ]
    assert sorted(p["spec"]["nodeName"] for p in live) == ["sim-0", "sim-1"]
    assert {p["spec"]["containers"][0]["image"] for p in live} == {"nginx:1.16"}
    revisions = get_json(cp, "controllerrevisions", "-l", "app=agent")["items"]
    assert sorted(r["revision"] for r in revisions) == [1, 2]
    history = cp.kubectl("rollout", "history", "ds/agent").stdout
    assert "1" in history and "2" in history
    status = get_json(cp, "ds", "agent")["status"]
    assert status["desiredNumberScheduled"] == status["updatedNumberScheduled"] == 2
    cp.kubectl("rollout", "undo", "ds/agent")
    cp.kubectl("rollout", "status", "ds/agent", "--timeout=60s")
    assert get_json(cp, "ds", "agent")["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "nginx:1.15.4"
    )
    wait_for(
        "the old image on every node",
        lambda: (
            {
                p["spec"]["containers"][0]["image"]
                for p in get_json(cp, "pods", "-l", "app=agent")["items"]
                if not p["metadata"].get("deletionTimestamp")
            }
            == {"nginx:1.15.4"}
        ),
    )


def test_a_daemon_set_skips_nodes_its_node_selector_does_not_match(
    cp: RunningControlPlane,
) -> None:
    ds = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "picky"},
        "spec": {
            "selector": {"matchLabels": {"app": "picky"}},
            "template": template("picky", nodeSelector={"kubernetes.io/hostname": "sim-1"}),
        },
    }
    cp.kubectl("apply", "-f", "-", input=yaml.safe_dump(ds))
    cp.kubectl("rollout", "status", "ds/picky", "--timeout=60s")
    pods = get_json(cp, "pods", "-l", "app=picky")["items"]
    assert [p["spec"]["nodeName"] for p in pods] == ["sim-1"]


def test_a_replication_controller_keeps_its_replicas_and_kubectl_scales_it(
    cp: RunningControlPlane,
) -> None:
    rc = {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": "legacy"},
        "spec": {"replicas": 2, "selector": {"app": "legacy"}, "template": template("legacy")},
    }
    cp.kubectl("apply", "-f", "-", input=yaml.safe_dump(rc))

    def running(n: int) -> Callable[[], bool]:
        def check() -> bool:
            pods = get_json(cp, "pods", "-l", "app=legacy")["items"]
            live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
            return len(live) == n and all(p["status"].get("phase") == "Running" for p in live)

        return check

    wait_for("two pods", running(2))
    victim = get_json(cp, "pods", "-l", "app=legacy")["items"][0]["metadata"]["name"]
    cp.kubectl("delete", "pod", victim, "--wait=false")
    wait_for("a replacement pod", running(2))
    cp.kubectl("scale", "rc/legacy", "--replicas=3")
    wait_for("three pods", running(3))
    assert "legacy" in cp.kubectl("get", "rc").stdout
