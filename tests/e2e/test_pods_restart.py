"""A control-plane restart leaves running containers alone; the new kubelet re-adopts them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from kubernetes import client

from support import start_control_plane

pytestmark = pytest.mark.timeout(180)
CONFIG = {
    "nodes": {"local": {"name": "restart-node"}},
    "addons": {"trainingOperator": False, "kueue": False, "healthAgent": False},
}


def test_a_running_pod_survives_a_control_plane_restart(tmp_path: Path) -> None:
    cp = start_control_plane(tmp_path, CONFIG)
    try:
        v1 = client.CoreV1Api(cp.api_client())
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "long"},
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "main",
                        "image": "busybox",
                        "command": ["sh", "-c", "echo a; sleep 4; echo b"],
                    }
                ],
            },
        }
        v1.create_namespaced_pod("default", body)
        deadline = time.monotonic() + 60
        while v1.read_namespaced_pod("long", "default").status.phase != "Running":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        pod_ip = v1.read_namespaced_pod("long", "default").status.pod_ip
        assert pod_ip.startswith("127.") and pod_ip != "127.0.0.1"
    finally:
        cp.stop(keep_pods=True)
    cp = start_control_plane(tmp_path, CONFIG)
    try:
        v1 = client.CoreV1Api(cp.api_client())
        deadline = time.monotonic() + 60
        while (pod := v1.read_namespaced_pod("long", "default")).status.phase != "Succeeded":
            assert pod.status.phase == "Running", pod.status
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert pod.status.container_statuses[0].restart_count == 0
        assert pod.status.pod_ip == pod_ip  # the address was kept in the sandbox
        assert v1.read_namespaced_pod_log("long", "default") == "a\nb\n"
    finally:
        cp.stop()
