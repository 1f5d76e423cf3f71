"""ResourceQuota and LimitRange on a real control plane: admission refuses what exceeds a
team namespace's caps with upstream's 403 messages, LimitRange defaults fill containers, and
the quota controller keeps ``status.used`` current (kubectl and the official client)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from support import KUBECTL, RunningControlPlane, start_control_plane

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="needs kubectl")


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    plane = start_control_plane(tmp_path_factory.mktemp("quota"))
    yield plane
    plane.stop()


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def apply(cp: RunningControlPlane, *objs: dict[str, Any]) -> None:
    cp.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objs))


def namespace(cp: RunningControlPlane, name: str) -> str:
    cp.kubectl("create", "namespace", name)
    return name


def quota(ns: str, **hard: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "team", "namespace": ns},
        "spec": {"hard": hard},
    }


def pod(name: str, ns: str, **resources: dict[str, str]) -> dict[str, Any]:
    """A pod no node selects (it stays Pending, so it keeps counting against the quota)."""
    container: dict[str, Any] = {"name": "main", "image": "local/python"}
    if resources:
        container["resources"] = resources
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"nodeSelector": {"type": "nowhere"}, "containers": [container]},
    }


def refused(cp: RunningControlPlane, obj: dict[str, Any]) -> str:
    res = cp.kubectl("create", "-f", "-", input=yaml.safe_dump(obj), check=False)
    assert res.returncode != 0, f"{obj['metadata']['name']} was admitted"
    assert "Error from server (Forbidden)" in res.stderr
    return res.stderr.strip()


def used(cp: RunningControlPlane, ns: str) -> dict[str, str]:
    out = json.loads(cp.kubectl("get", "quota", "team", "-n", ns, "-o", "json").stdout)
    return dict((out.get("status") or {}).get("used") or {})


def test_a_pod_count_quota_refuses_the_pod_past_the_cap_with_upstreams_message(
    cp: RunningControlPlane,
) -> None:
    ns = namespace(cp, "count-cap")
    cp.kubectl("create", "quota", "team", "-n", ns, "--hard=pods=2")
    wait_for("the quota status", lambda: used(cp, ns) == {"pods": "0"})
    apply(cp, pod("a", ns), pod("b", ns))
    message = refused(cp, pod("c", ns))
    assert message.endswith(
        'pods "c" is forbidden: exceeded quota: team, requested: pods=1, used: pods=2, '
        "limited: pods=2"
    )
    wait_for("used to count both pods", lambda: used(cp, ns) == {"pods": "2"})
    row = cp.kubectl("get", "quota", "-n", ns, "--no-headers").stdout.split()
    assert row[0] == "team" and row[2:] == ["pods:", "2/2"]
    cp.kubectl("delete", "pod", "b", "-n", ns, "--grace-period=0", "--force")
    apply(cp, pod("c", ns))


def test_compute_and_gpu_quotas_sum_requests_and_limits(cp: RunningControlPlane) -> None:
    ns = namespace(cp, "compute-cap")
    apply(
        cp,
        quota(
            ns,
            **{
                "requests.cpu": "1",
                "requests.memory": "1Gi",
                "limits.cpu": "2",
                "limits.memory": "2Gi",
                "requests.nvidia.com/gpu": "1",
            },
        ),
    )
    big: dict[str, str] = {"cpu": "600m", "memory": "512Mi", "nvidia.com/gpu": "1"}
    apply(cp, pod("first", ns, requests=big, limits=big))
    message = refused(cp, pod("second", ns, requests=big, limits=big))
    assert (
        'pods "second" is forbidden: exceeded quota: team, requested: '
        "requests.cpu=600m,requests.nvidia.com/gpu=1, used: requests.cpu=600m,"
        "requests.nvidia.com/gpu=1, limited: requests.cpu=1,requests.nvidia.com/gpu=1"
    ) in message
    message = refused(cp, pod("bare", ns))
    assert message.endswith(
        'pods "bare" is forbidden: failed quota: team: must specify limits.cpu for: main; '
        "limits.memory for: main; requests.cpu for: main; requests.memory for: main"
    )
    wait_for(
        "the used resources",
        lambda: (
            used(cp, ns)
            == {
                "requests.cpu": "600m",
                "requests.memory": "512Mi",
                "limits.cpu": "600m",
                "limits.memory": "512Mi",
                "requests.nvidia.com/gpu": "1",
            }
        ),
    )


def test_object_count_quotas_cover_other_kinds(cp: RunningControlPlane) -> None:
    ns = namespace(cp, "objects-cap")
    apply(cp, quota(ns, **{"count/configmaps": "1", "persistentvolumeclaims": "1"}))
    apply(
        cp, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "one", "namespace": ns}}
    )
    message = refused(
        cp, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "two", "namespace": ns}}
    )
    assert (
        'configmaps "two" is forbidden: exceeded quota: team, requested: count/configmaps=1'
        in message
    )
    core = client.CoreV1Api(cp.api_client())
    claim: Any = {
        "metadata": {"name": "c"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    core.create_namespaced_persistent_volume_claim(ns, claim)
    claim["metadata"]["name"] = "d"
    with pytest.raises(ApiException) as info:
        core.create_namespaced_persistent_volume_claim(ns, claim)
    assert info.value.status == 403
    body = json.loads(str(info.value.body))
    assert body["reason"] == "Forbidden" and "persistentvolumeclaims=1" in body["message"]


def test_limit_range_defaults_fill_containers_and_bounds_refuse_the_rest(
    cp: RunningControlPlane,
) -> None:
    ns = namespace(cp, "limits")
    apply(
        cp,
        {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": {"name": "defaults", "namespace": ns},
            "spec": {
                "limits": [
                    {
                        "type": "Container",
                        "default": {"cpu": "500m", "memory": "256Mi"},
                        "defaultRequest": {"cpu": "250m"},
                        "max": {"cpu": "1"},
                        "min": {"cpu": "100m"},
                    },
                    {"type": "PersistentVolumeClaim", "max": {"storage": "2Gi"}},
                ]
            },
        },
    )
    stored = json.loads(cp.kubectl("get", "limits", "defaults", "-n", ns, "-o", "json").stdout)
    item = stored["spec"]["limits"][0]
    assert item["defaultRequest"] == {"cpu": "250m", "memory": "256Mi"}
    apply(cp, pod("plain", ns))
    got = json.loads(cp.kubectl("get", "pod", "plain", "-n", ns, "-o", "json").stdout)
    assert got["spec"]["containers"][0]["resources"] == {
        "limits": {"cpu": "500m", "memory": "256Mi"},
        "requests": {"cpu": "250m", "memory": "256Mi"},
    }
    assert got["status"]["qosClass"] == "Burstable"
    assert "LimitRanger plugin set" in got["metadata"]["annotations"]["kubernetes.io/limit-ranger"]
    message = refused(cp, pod("greedy", ns, limits={"cpu": "4"}))
    assert message.endswith(
        'pods "greedy" is forbidden: maximum cpu usage per Container is 1, but limit is 4'
    )
    message = refused(cp, pod("tiny", ns, requests={"cpu": "10m"}, limits={"cpu": "20m"}))
    assert "minimum cpu usage per Container is 100m, but request is 10m" in message
    big_claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "big", "namespace": ns},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}},
    }
    message = refused(cp, big_claim)
    assert "maximum storage usage per PersistentVolumeClaim is 2Gi, but request is 5Gi" in message
    assert "defaults" in cp.kubectl("get", "limitrange", "-n", ns).stdout


def test_invalid_quotas_and_limit_ranges_are_rejected(cp: RunningControlPlane) -> None:
    bad = quota("default", pods="many")
    res = cp.kubectl("create", "-f", "-", input=yaml.safe_dump(bad), check=False)
    assert res.returncode != 0 and "spec.hard[pods]" in res.stderr
    bad_range = {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": "bad"},
        "spec": {"limits": [{"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"}}]},
    }
    res = cp.kubectl("create", "-f", "-", input=yaml.safe_dump(bad_range), check=False)
    assert res.returncode != 0 and "is greater than max value" in res.stderr
