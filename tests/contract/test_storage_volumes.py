"""PersistentVolumeClaims on a real control plane: the default StorageClass, local-path
provisioning, binding, reclaim policies, the kubelet mounting the bound volume into a real
process, and StatefulSet volumeClaimTemplates."""

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

CONFIG = {"nodes": {"simulated": [{"group": "sim", "instanceType": "ml.m5.2xlarge", "count": 1}]}}


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    plane = start_control_plane(tmp_path_factory.mktemp("storage"), CONFIG)
    yield plane
    plane.stop()


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


def apply(cp: RunningControlPlane, *objs: dict[str, Any]) -> None:
    cp.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objs))


def claim(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}},
            **spec,
        },
    }


def writer(name: str, claim_name: str, text: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "nodeSelector": {"node.kubernetes.io/instance-type": "local"},
            "containers": [
                {
                    "name": "w",
                    "image": "local/python",
                    "command": [
                        "python",
                        "-c",
                        f"open('/data/out.txt', 'w').write({text!r})",
                    ],
                    "volumeMounts": [{"name": "d", "mountPath": "/data"}],
                }
            ],
            "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": claim_name}}],
        },
    }


def phase(cp: RunningControlPlane, *args: str) -> str:
    return str((get_json(cp, *args).get("status") or {}).get("phase"))


def test_the_default_storage_class_is_local_path_and_waits_for_a_consumer(
    cp: RunningControlPlane,
) -> None:
    out = cp.kubectl("get", "storageclass").stdout
    assert "hyperpod-local-path (default)" in out and "WaitForFirstConsumer" in out
    apply(cp, claim("lazy"))
    pvc = get_json(cp, "pvc", "lazy")
    assert pvc["spec"]["storageClassName"] == "hyperpod-local-path"
    assert "kubernetes.io/pvc-protection" in pvc["metadata"]["finalizers"]
    wait_for(
        "the WaitForFirstConsumer event",
        lambda: (
            "waiting for first consumer"
            in cp.kubectl("get", "events", "--field-selector", "involvedObject.name=lazy").stdout
        ),
    )
    assert phase(cp, "pvc", "lazy") == "Pending"
    cp.kubectl("delete", "pvc", "lazy")


def test_a_pod_writes_into_a_provisioned_volume_that_delete_reclaims(
    cp: RunningControlPlane,
) -> None:
    apply(cp, claim("data"), writer("writer", "data", "hello from a pod"))
    wait_for("the pod to finish", lambda: phase(cp, "pod", "writer") == "Succeeded")
    pvc = get_json(cp, "pvc", "data")
    assert pvc["status"]["phase"] == "Bound" and pvc["status"]["capacity"]["storage"] == "1Gi"
    pv = get_json(cp, "pv", pvc["spec"]["volumeName"])
    assert pv["status"]["phase"] == "Bound"
    assert pv["spec"]["claimRef"]["name"] == "data"
    assert pv["spec"]["claimRef"]["uid"] == pvc["metadata"]["uid"]
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
    directory = Path(pv["spec"]["hostPath"]["path"])
    assert directory.is_relative_to(cp.data_dir / "storage")
    assert (directory / "out.txt").read_text() == "hello from a pod"
    row = cp.kubectl("get", "pvc", "data", "--no-headers").stdout.split()
    assert row[:6] == ["data", "Bound", pv["metadata"]["name"], "1Gi", "RWO", "hyperpod-local-path"]
    cp.kubectl("delete", "pod", "writer")
    cp.kubectl("delete", "pvc", "data")
    wait_for("the volume to be deleted", lambda: not directory.exists())
    wait_for(
        "the PersistentVolume to go",
        lambda: cp.kubectl("get", "pv", pv["metadata"]["name"], check=False).returncode != 0,
    )


def test_a_claim_in_use_by_a_running_pod_is_deleted_only_after_the_pod(
    cp: RunningControlPlane,
) -> None:
    pod = writer("sleeper", "busy", "x")
    pod["spec"]["containers"][0]["command"] = ["python", "-c", "import time; time.sleep(600)"]
    apply(cp, claim("busy"), pod)
    wait_for("the pod to run", lambda: phase(cp, "pod", "sleeper") == "Running")
    cp.kubectl("delete", "pvc", "busy", "--wait=false")
    time.sleep(1)
    still = get_json(cp, "pvc", "busy")
    assert still["metadata"].get("deletionTimestamp")
    assert still["status"]["phase"] == "Bound"
    cp.kubectl("delete", "pod", "sleeper", "--grace-period=1")
    wait_for(
        "the claim to go",
        lambda: cp.kubectl("get", "pvc", "busy", check=False).returncode != 0,
    )


def test_a_static_volume_binds_and_retain_keeps_its_directory(
    cp: RunningControlPlane, tmp_path: Path
) -> None:
    directory = tmp_path / "static"
    directory.mkdir()
    (directory / "keep.txt").write_text("keep me")
    apply(
        cp,
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": "static-pv"},
            "spec": {
                "capacity": {"storage": "5Gi"},
                "accessModes": ["ReadWriteOnce", "ReadWriteMany"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": "manual",
                "hostPath": {"path": str(directory)},
            },
        },
    )
    wait_for("the volume to be Available", lambda: phase(cp, "pv", "static-pv") == "Available")
    apply(cp, claim("manual-claim", storageClassName="manual"))
    wait_for("the claim to bind", lambda: phase(cp, "pvc", "manual-claim") == "Bound")
    assert get_json(cp, "pvc", "manual-claim")["spec"]["volumeName"] == "static-pv"
    pv_row = cp.kubectl("get", "pv", "static-pv", "--no-headers").stdout.split()
    assert pv_row[:6] == ["static-pv", "5Gi", "RWO,RWX", "Retain", "Bound", "default/manual-claim"]
    cp.kubectl("delete", "pvc", "manual-claim")
    wait_for("the volume to be Released", lambda: phase(cp, "pv", "static-pv") == "Released")
    assert (directory / "keep.txt").read_text() == "keep me"
    cp.kubectl("delete", "pv", "static-pv")


def test_a_pod_whose_claim_cannot_bind_waits_with_the_reason(cp: RunningControlPlane) -> None:
    apply(
        cp,
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": "external"},
            "provisioner": "ebs.csi.aws.com",
        },
        claim("ebs", storageClassName="external"),
        writer("waiter", "ebs", "never"),
    )

    def waiting() -> str:
        statuses = (get_json(cp, "pod", "waiter").get("status") or {}).get("containerStatuses")
        state = ((statuses or [{}])[0].get("state") or {}).get("waiting") or {}
        return str(state.get("message") or "")

    message = wait_for("the pod to wait on its claim", waiting)
    assert 'persistentvolumeclaim "ebs" is not bound yet' in message
    events = cp.kubectl("get", "events", "--field-selector", "involvedObject.name=ebs").stdout
    assert "ExternalProvisioning" in events and "ebs.csi.aws.com" in events
    cp.kubectl("delete", "pod", "waiter", "--grace-period=0", "--force")
    cp.kubectl("delete", "pvc", "ebs")


def test_invalid_claims_volumes_and_classes_are_rejected(cp: RunningControlPlane) -> None:
    core = client.CoreV1Api(cp.api_client())
    bad_claim: Any = {"metadata": {"name": "bad"}, "spec": {"accessModes": ["ReadWriteSometimes"]}}
    with pytest.raises(ApiException) as info:
        core.create_namespaced_persistent_volume_claim("default", bad_claim)
    assert info.value.status == 422
    body = json.loads(str(info.value.body))
    fields = {c["field"] for c in body["details"]["causes"]}
    assert {"spec.accessModes[0]", "spec.resources[storage]"} <= fields
    bad_volume: Any = {
        "metadata": {"name": "bad"},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]},
    }
    with pytest.raises(ApiException) as info:
        core.create_persistent_volume(bad_volume)
    assert info.value.status == 422 and "must specify a volume type" in str(info.value.body)
    res = cp.kubectl(
        "patch", "sc", "hyperpod-local-path", "-p", '{"reclaimPolicy":"Retain"}', check=False
    )
    assert res.returncode != 0 and "updates to reclaimPolicy are forbidden" in res.stderr


def test_statefulset_claim_templates_make_one_claim_per_replica_kept_on_scale_down(
    cp: RunningControlPlane,
) -> None:
    apply(
        cp,
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "db"},
            "spec": {
                "serviceName": "db",
                "replicas": 2,
                "podManagementPolicy": "Parallel",
                "selector": {"matchLabels": {"app": "db"}},
                "template": {
                    "metadata": {"labels": {"app": "db"}},
                    "spec": {
                        "nodeSelector": {"type": "kwok"},
                        "containers": [
                            {
                                "name": "db",
                                "image": "postgres:16",
                                "volumeMounts": [{"name": "data", "mountPath": "/var/lib/db"}],
                            }
                        ],
                    },
                },
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data"},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "2Gi"}},
                        },
                    }
                ],
            },
        },
    )
    for i in (0, 1):
        wait_for(f"claim data-db-{i} to bind", lambda: phase(cp, "pvc", f"data-db-{i}") == "Bound")  # noqa: B023
        pod = get_json(cp, "pod", f"db-{i}")
        vol = next(v for v in pod["spec"]["volumes"] if v["name"] == "data")
        assert vol["persistentVolumeClaim"]["claimName"] == f"data-db-{i}"
    assert get_json(cp, "pvc", "data-db-0")["metadata"]["labels"] == {"app": "db"}
    cp.kubectl("scale", "statefulset", "db", "--replicas=1")
    wait_for("db-1 to go", lambda: cp.kubectl("get", "pod", "db-1", check=False).returncode != 0)
    assert phase(cp, "pvc", "data-db-1") == "Bound"
    cp.kubectl("delete", "statefulset", "db")
    assert phase(cp, "pvc", "data-db-0") == "Bound"


def test_statefulset_claims_go_with_scale_down_when_the_policy_says_delete(
    cp: RunningControlPlane,
) -> None:
    apply(
        cp,
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "cache"},
            "spec": {
                "serviceName": "cache",
                "replicas": 2,
                "podManagementPolicy": "Parallel",
                "persistentVolumeClaimRetentionPolicy": {
                    "whenScaled": "Delete",
                    "whenDeleted": "Delete",
                },
                "selector": {"matchLabels": {"app": "cache"}},
                "template": {
                    "metadata": {"labels": {"app": "cache"}},
                    "spec": {
                        "nodeSelector": {"type": "kwok"},
                        "containers": [{"name": "c", "image": "redis:7"}],
                    },
                },
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data"},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "1Gi"}},
                        },
                    }
                ],
            },
        },
    )
    for i in (0, 1):
        wait_for(f"data-cache-{i}", lambda: phase(cp, "pvc", f"data-cache-{i}") == "Bound")  # noqa: B023
    cp.kubectl("scale", "statefulset", "cache", "--replicas=1")
    wait_for(
        "data-cache-1 to go",
        lambda: cp.kubectl("get", "pvc", "data-cache-1", check=False).returncode != 0,
    )
    assert phase(cp, "pvc", "data-cache-0") == "Bound"
    cp.kubectl("delete", "statefulset", "cache")
    wait_for(
        "data-cache-0 to go with the set",
        lambda: cp.kubectl("get", "pvc", "data-cache-0", check=False).returncode != 0,
    )


def test_a_claims_data_survives_a_control_plane_restart(tmp_path: Path) -> None:
    plane = start_control_plane(tmp_path / "restart")
    try:
        apply(plane, claim("ckpt"), writer("first", "ckpt", "epoch 3"))
        wait_for("the writer", lambda: phase(plane, "pod", "first") == "Succeeded")
        volume = get_json(plane, "pvc", "ckpt")["spec"]["volumeName"]
    finally:
        plane.stop()
    plane = start_control_plane(tmp_path / "restart")
    try:
        assert get_json(plane, "pvc", "ckpt")["spec"]["volumeName"] == volume
        reader = writer("second", "ckpt", "")
        reader["spec"]["containers"][0]["command"] = [
            "python",
            "-c",
            "print(open('/data/out.txt').read())",
        ]
        apply(plane, reader)
        wait_for("the reader", lambda: phase(plane, "pod", "second") == "Succeeded")
        assert plane.kubectl("logs", "second").stdout.strip() == "epoch 3"
        classes = get_json(plane, "storageclass")["items"]
        assert [c["metadata"]["name"] for c in classes] == ["hyperpod-local-path"]
    finally:
        plane.stop()


def test_a_data_directory_from_before_claims_is_adopted_by_its_claim(
    cp: RunningControlPlane,
) -> None:
    legacy = cp.data_dir / "volumes" / "default" / "old-ckpt"
    legacy.mkdir(parents=True)
    (legacy / "out.txt").write_text("from an older release")
    reader = writer("old-reader", "old-ckpt", "")
    reader["spec"]["containers"][0]["command"] = [
        "python",
        "-c",
        "print(open('/data/out.txt').read())",
    ]
    apply(cp, claim("old-ckpt"), reader)
    wait_for("the reader", lambda: phase(cp, "pod", "old-reader") == "Succeeded")
    assert cp.kubectl("logs", "old-reader").stdout.strip() == "from an older release"
    pv = get_json(cp, "pv", get_json(cp, "pvc", "old-ckpt")["spec"]["volumeName"])
    assert pv["spec"]["hostPath"]["path"] == str(legacy)
