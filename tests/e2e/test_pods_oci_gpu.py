"""A real NVIDIA GPU inside a container: the device plugin finds it through NVML, the kubelet
passes it through the host's CDI spec, and ``nvidia-smi`` in the pod sees exactly that GPU.

Needs root, runc, an NVIDIA GPU with its driver, and a CDI spec (``nvidia-ctk cdi generate
--output=/etc/cdi/nvidia.yaml``). Without them it skips and says which is missing; GPU
passthrough is still tested with fake GPUs and a fake spec in test_pods_oci.py.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from hyperpod.kubelet import python_image
from hyperpod.kubelet.devices import discover_gpus
from hyperpod.kubelet.images import ImageStore
from oci_images import RUNC
from support import RunningControlPlane, start_control_plane

CDI_SPECS = [Path("/etc/cdi/nvidia.yaml"), Path("/var/run/cdi/nvidia.yaml")]
GPUS = discover_gpus({}) if RUNC is not None and os.geteuid() == 0 else []


def _missing() -> str:
    if RUNC is None or os.geteuid() != 0:
        return "root and runc"
    if not GPUS:
        return "an NVIDIA GPU with its driver (NVML found none)"
    if not any(p.exists() for p in CDI_SPECS):
        return "a CDI spec (nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml)"
    return ""


pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(
        bool(_missing()),
        reason=f"real GPU passthrough needs {_missing()}; fake GPUs are tested in test_pods_oci.py",
    ),
]
IMAGE = "localhost/hyperpod-python:gpu-test"


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    data = tmp_path_factory.mktemp("oci-gpu")
    archive = data / "python.tar"
    python_image.build(archive, tag=IMAGE)  # the C library nvidia-smi links against
    ImageStore(data).load(archive)
    archive.unlink()
    config = {"nodes": {"local": {"name": "gpunode"}}, "kubelet": {"runtime": "oci"}}
    plane = start_control_plane(data, config)
    yield plane
    plane.stop()


def test_nvidia_smi_in_a_container_sees_only_the_allocated_gpu(cp: RunningControlPlane) -> None:
    core = client.CoreV1Api(cp.api_client())
    container = {
        "name": "c",
        "image": IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "command": ["nvidia-smi", "-L"],
        "resources": {"limits": {"nvidia.com/gpu": "1"}},
    }
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "smi", "namespace": "default"},
        "spec": {"restartPolicy": "Never", "containers": [container]},
    }
    core.create_namespaced_pod("default", pod)
    deadline = time.monotonic() + 180
    got = core.read_namespaced_pod("smi", "default")
    while time.monotonic() < deadline and got.status.phase not in ("Succeeded", "Failed"):
        time.sleep(0.5)
        got = core.read_namespaced_pod("smi", "default")
    logs = core.read_namespaced_pod_log("smi", "default")
    assert got.status.phase == "Succeeded", (got.status, logs)
    listed = [line for line in logs.splitlines() if line.startswith("GPU ")]
    assert len(listed) == 1, logs  # one GPU allocated, one GPU visible
    assert any(gpu.id in listed[0] for gpu in GPUS), (listed, [g.id for g in GPUS])
