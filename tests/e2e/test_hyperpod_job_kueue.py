"""Kueue manages HyperPodPyTorchJobs: queued by the template's queue-name label (as the real
CLI writes it), admitted as a whole within quota, kept suspended when it does not fit."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from support import RunningControlPlane, start_control_plane

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
Obj = dict[str, Any]


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    control = start_control_plane(tmp_path_factory.mktemp("hpkueue"))
    queues: list[Obj] = [
        {
            "apiVersion": "kueue.x-k8s.io/v1beta1",
            "kind": "ResourceFlavor",
            "metadata": {"name": "f"},
        },
        {
            "apiVersion": "kueue.x-k8s.io/v1beta1",
            "kind": "ClusterQueue",
            "metadata": {"name": "cq"},
            "spec": {
                "namespaceSelector": {},
                "resourceGroups": [
                    {
                        "coveredResources": ["cpu"],
                        "flavors": [
                            {"name": "f", "resources": [{"name": "cpu", "nominalQuota": "1"}]}
                        ],
                    }
                ],
            },
        },
        {
            "apiVersion": "kueue.x-k8s.io/v1beta1",
            "kind": "LocalQueue",
            "metadata": {"name": "lq", "namespace": "default"},
            "spec": {"clusterQueue": "cq"},
        },
    ]
    for obj in queues:
        control.kubectl("apply", "-f", "-", input=json.dumps(obj))
    yield control
    control.stop()


def hpjob(name: str, replicas: int) -> Obj:
    container = {
        "name": "pytorch",
        "image": "local/python",
        "command": ["sleep", "2"],
        "resources": {"requests": {"cpu": "500m"}, "limits": {"cpu": "500m"}},
    }
    template = {
        "metadata": {"labels": {"kueue.x-k8s.io/queue-name": "lq"}},
        "spec": {"containers": [container]},
    }
    return {
        "apiVersion": "sagemaker.amazonaws.com/v1",
        "kind": "HyperPodPyTorchJob",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicaSpecs": [{"name": "worker", "replicas": replicas, "template": template}]},
    }


def wait_for(fn: Callable[[], Any], what: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def job(cp: RunningControlPlane, name: str) -> Obj:
    return json.loads(cp.kubectl("get", "hpjob", name, "-o", "json").stdout)


def last_condition(cp: RunningControlPlane, name: str) -> str:
    conds = (job(cp, name).get("status") or {}).get("conditions") or []
    return str(conds[-1]["type"]) if conds else ""


def workloads(cp: RunningControlPlane) -> list[Obj]:
    return json.loads(cp.kubectl("get", "workloads", "-n", "default", "-o", "json").stdout)["items"]


def test_a_job_that_fits_its_queue_is_admitted_and_runs_to_completion(
    cp: RunningControlPlane,
) -> None:
    cp.kubectl("apply", "-f", "-", input=json.dumps(hpjob("fits", 2)))
    wait_for(lambda: last_condition(cp, "fits") == "Completed", "fits to complete")
    wl = next(w for w in workloads(cp) if w["metadata"]["ownerReferences"][0]["name"] == "fits")
    assert wl["spec"]["podSets"][0]["name"] == "worker" and wl["spec"]["podSets"][0]["count"] == 2
    name = wl["metadata"]["name"]

    def finished() -> bool:
        now = next(w for w in workloads(cp) if w["metadata"]["name"] == name)
        conds = (now.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Finished" and c["status"] == "True" for c in conds)

    wait_for(finished, "workload finished")


def test_a_job_bigger_than_its_quota_stays_suspended_without_pods(cp: RunningControlPlane) -> None:
    cp.kubectl("apply", "-f", "-", input=json.dumps(hpjob("toobig", 3)))
    wait_for(lambda: last_condition(cp, "toobig") == "Suspended", "toobig suspended")
    assert job(cp, "toobig")["spec"]["runPolicy"]["suspend"] is True
    wl = wait_for(
        lambda: [
            w for w in workloads(cp) if w["metadata"]["ownerReferences"][0]["name"] == "toobig"
        ],
        "toobig workload",
    )[0]
    assert not (wl.get("status") or {}).get("admission")
    pods = cp.kubectl("get", "pods", "-l", "HPJob=toobig", "-o", "name").stdout
    assert pods.strip() == ""
