"""A real 2-rank digits PyTorchJob on the local node with 4 fake GPUs survives a GPU fault.

The health agent sees an ECC fault on the GPU the worker holds (through the fake NVML), marks
that GPU unhealthy (allocatable drops, the node stays Schedulable), evicts the worker; the job
auto-resumes on the remaining GPUs from its checkpoint and ends within 1 point of the test
accuracy of an uninterrupted run with the same seed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from hyperpod.api import health as h
from hyperpod.api import pytorchjob as api
from hyperpod.apiserver.patching import PatchType
from hyperpod.apiserver.registry import CRD_RESOURCE, Registry
from hyperpod.controllers.garbage_collector import GarbageCollector
from hyperpod.controllers.pytorchjob import PyTorchJobOperator, validate
from hyperpod.controlplane.health import _run as run_health
from hyperpod.kubelet.agent import Kubelet
from hyperpod.kubelet.device_plugins import _run as run_device_plugins
from hyperpod.runtime.context import ControlPlaneContext
from hyperpod.scheduler.scheduler import Scheduler

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]
NODE = "gpubox"
NS = "default"
Obj = dict[str, Any]


@contextlib.asynccontextmanager
async def local_cluster(tmp: Path) -> AsyncIterator[Registry]:
    tmp.mkdir(parents=True, exist_ok=True)
    reg = Registry(tmp / "state.db")
    reg.ensure_system_namespaces()
    for crd in api.crds():
        reg.create(CRD_RESOURCE, crd)
    reg.add_admission(api.RESOURCE, api.default, validate)
    config = {
        "nodes": {"local": {"name": NODE}},
        "kubelet": {"backoffBaseSeconds": 0.5},
        "health": {"pollSeconds": 0.5},
    }
    ctx = ControlPlaneContext(reg=reg, config=config, data_dir=tmp)
    loop = asyncio.get_running_loop()
    tasks = [
        loop.create_task(Kubelet(ctx).run()),
        loop.create_task(run_device_plugins(ctx)),
        loop.create_task(GarbageCollector(reg).run(ctx.stopping)),
        loop.create_task(Scheduler(ctx).run()),
        loop.create_task(PyTorchJobOperator(reg).run(ctx.stopping)),
        loop.create_task(run_health(ctx)),
    ]
    try:
        yield reg
    finally:
        ctx.stopping.set()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 20)
        for record in (tmp / "pods").glob("*/*/*.json"):  # never leave a process behind
            with contextlib.suppress(OSError, ValueError):
                data = json.loads(record.read_text())
                if data.get("pid") and "finishedAt" not in data:
                    os.killpg(os.getpgid(int(data["pid"])), signal.SIGKILL)
        reg.close()


async def eventually(check: Callable[[], Any], what: str, timeout: float = 300) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        value = check()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def digits_job(name: str, checkpoints: Path) -> Obj:
    command = [
        sys.executable,
        "-m",
        "hyperpod.examples.digits",
        "--epochs",
        "6",
        "--seed",
        "7",
        "--max-steps-per-second",
        "20",
        "--checkpoint-every",
        "5",
        "--checkpoint-dir",
        str(checkpoints),
    ]

    def template() -> Obj:
        return {
            "spec": {
                "terminationGracePeriodSeconds": 5,
                "containers": [
                    {
                        "name": "pytorch",
                        "image": "local",
                        "command": command,
                        "resources": {"limits": {"nvidia.com/gpu": "1"}},
                    }
                ],
            }
        }

    return {
        "apiVersion": api.API_VERSION,
        "kind": api.KIND,
        "metadata": {
            "name": name,
            "namespace": NS,
            "annotations": {api.ANNOTATION_AUTO_RESUME: "true", api.ANNOTATION_MAX_RETRY: "2"},
        },
        "spec": {
            "pytorchReplicaSpecs": {
                "Master": {"replicas": 1, "restartPolicy": "OnFailure", "template": template()},
                "Worker": {"replicas": 1, "restartPolicy": "OnFailure", "template": template()},
            }
        },
    }


def finished(reg: Registry, name: str) -> str | None:
    conds = (reg.get(api.RESOURCE, name, NS).get("status") or {}).get("conditions") or []
    done = [
        c["type"] for c in conds if c["type"] in ("Succeeded", "Failed") and c["status"] == "True"
    ]
    return done[0] if done else None


def master_log(tmp: Path, reg: Registry, name: str) -> str:
    pod = reg.get("pods", f"{name}-master-0", NS)
    folder = tmp / "pods" / pod["metadata"]["uid"] / "pytorch"
    return "".join(p.read_text(errors="replace") for p in sorted(folder.glob("*.log")))


def accuracy(log: str) -> float:
    found = re.findall(r"final test accuracy: ([0-9.]+)", log)
    assert found, log[-2000:]
    return float(found[-1])


def test_a_gpu_fault_under_a_digits_job_resumes_it_on_the_remaining_gpus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HYPERPOD_FAKE_GPUS", "4")

    async def main() -> tuple[float, float, str]:
        async with local_cluster(tmp_path / "ref") as reg:
            reg.create(api.RESOURCE, digits_job("ref", tmp_path / "ref-ckpt"), NS)
            await eventually(lambda: finished(reg, "ref"), "the reference run")
            assert finished(reg, "ref") == "Succeeded"
            reference = accuracy(master_log(tmp_path / "ref", reg, "ref"))
        async with local_cluster(tmp_path / "hit") as reg:
            ckpt = tmp_path / "hit-ckpt"
            reg.create(api.RESOURCE, digits_job("hit", ckpt), NS)
            await eventually(lambda: any(ckpt.glob("ckpt-*.pt")), "a first checkpoint")
            worker = reg.get("pods", "hit-worker-0", NS)
            held = json.loads(worker["metadata"]["annotations"]["hyperpod.local/devices"])
            uuid = held["pytorch"]["nvidia.com/gpu"][0]
            index = int(uuid.rsplit("-", 1)[1])
            reg.patch(
                "nodes",
                NODE,
                {"metadata": {"annotations": {h.INJECT_ANNOTATION: f"gpu-ecc-dbe:{index}"}}},
                PatchType.MERGE,
            )
            await eventually(lambda: finished(reg, "hit"), "the interrupted run")
            assert finished(reg, "hit") == "Succeeded", reg.get(api.RESOURCE, "hit", NS)["status"]
            job = reg.get(api.RESOURCE, "hit", NS)
            assert job["status"]["restartCount"] == 1
            node = reg.get("nodes", NODE)
            assert node["status"]["allocatable"]["nvidia.com/gpu"] == "3"
            assert node["metadata"]["labels"][h.HEALTH_LABEL] == h.SCHEDULABLE
            for pod in reg.list("pods", NS, label_selector=f"{api.LABEL_JOB_NAME}=hit"):
                ids = json.loads(pod["metadata"]["annotations"]["hyperpod.local/devices"])
                assert uuid not in ids["pytorch"]["nvidia.com/gpu"]
            log = master_log(tmp_path / "hit", reg, "hit")
            return reference, accuracy(log), log

    reference, resumed, log = asyncio.run(main())
    step = re.search(r"resumed from checkpoint \S+ at step (\d+)", log)
    assert step is not None and int(step.group(1)) > 0, log[-2000:]
    assert abs(reference - resumed) <= 0.01, (reference, resumed)
