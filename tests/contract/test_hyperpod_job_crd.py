"""HyperPodPyTorchJob is served through the CRD path: kubectl and the official client."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from kubernetes import client as k8s

from support import RunningControlPlane

pytestmark = pytest.mark.usefixtures("kubectl_required")


def job(name: str, **spec: Any) -> dict[str, Any]:
    container = {"name": "pytorch", "image": "local/python", "command": ["sleep", "60"]}
    return {
        "apiVersion": "sagemaker.amazonaws.com/v1",
        "kind": "HyperPodPyTorchJob",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicaSpecs": [{"name": "pod", "template": {"spec": {"containers": [container]}}}],
            "runPolicy": {"suspend": True},
            **spec,
        },
    }


def test_kubectl_knows_the_kind_by_its_short_name(cluster: RunningControlPlane) -> None:
    lines = cluster.kubectl("api-resources", "--api-group=sagemaker.amazonaws.com").stdout
    assert "hpjob" in lines and "HyperPodPyTorchJob" in lines
    explained = cluster.kubectl("explain", "hyperpodpytorchjob.spec.runPolicy.restartPolicy")
    assert "numRestartBeforeFullJobRestart" in explained.stdout


def test_a_bad_job_is_refused_with_the_field_named(cluster: RunningControlPlane) -> None:
    bad = job("bad", nprocPerNode="lots")
    res = cluster.kubectl("apply", "-f", "-", input=json.dumps(bad), check=False)
    assert res.returncode != 0
    assert "spec.nprocPerNode" in res.stderr and "must be auto, cpu, gpu" in res.stderr
    unknown = job("unknown")
    unknown["spec"]["replicaSpecs"][0]["replicas"] = "two"
    res = cluster.kubectl("apply", "-f", "-", input=json.dumps(unknown), check=False)
    assert res.returncode != 0 and "replicas" in res.stderr


def test_the_official_client_creates_a_job_and_sees_its_defaults_and_status(
    cluster: RunningControlPlane,
) -> None:
    api = k8s.CustomObjectsApi(cluster.api_client())
    args = ("sagemaker.amazonaws.com", "v1", "default", "hyperpodpytorchjobs")
    made = api.create_namespaced_custom_object(*args, job("paused", nprocPerNode=4))
    assert made["spec"]["nprocPerNode"] == "4"
    assert made["spec"]["runPolicy"]["cleanPodPolicy"] == "Running"
    status: dict[str, Any] = {}
    for _ in range(100):
        status = api.get_namespaced_custom_object_status(*args, "paused").get("status") or {}
        if status.get("conditions", [{}])[-1].get("type") == "Suspended":
            break
        time.sleep(0.1)
    assert status["conditions"][-1]["type"] == "Suspended"
    pods = k8s.CoreV1Api(cluster.api_client()).list_namespaced_pod(
        "default", label_selector="HPJob=paused"
    )
    assert pods.items == []
    operator = k8s.CoreV1Api(cluster.api_client()).list_namespaced_pod(
        "aws-hyperpod", label_selector="hp-training-control-plane"
    )
    assert [p.status.phase for p in operator.items] == ["Running"]
