"""Health agent, fault injection, eviction and node recovery on simulated p5 nodes (in-process)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from hyperpod.api import health as h
from hyperpod.api import pytorchjob as api
from hyperpod.apiserver.patching import PatchType
from hyperpod.apiserver.registry import CRD_RESOURCE, Registry
from hyperpod.controllers.node_lifecycle import NodeLifecycle
from hyperpod.controllers.pytorchjob import PyTorchJobOperator, validate
from hyperpod.controlplane.health import _run as run_health
from hyperpod.kubelet.simulated import SimulatedKubelet
from hyperpod.runtime.context import ControlPlaneContext
from hyperpod.scheduler.scheduler import Scheduler

pytestmark = pytest.mark.timeout(120)


def config(recovery: str = "Automatic", **health: Any) -> dict[str, Any]:
    return {
        "nodes": {
            "local": {"enabled": False},
            "simulated": [{"group": "p5", "instanceType": "ml.p5.48xlarge", "count": 3}],
        },
        "nodeLifecycle": {"gracePeriodSeconds": 2, "monitorPeriodSeconds": 0.2},
        "kubelet": {"simulatedHeartbeatSeconds": 0.2},
        "nodeRecovery": recovery,
        "health": {
            "pollSeconds": 0.2,
            "rebootSeconds": 0.3,
            "replaceSeconds": 0.3,
            "deepHealthCheckSeconds": 0.5,
            "kubeletStaleSeconds": 1,
            "unresponsiveSeconds": 1,
            "evictionTimeoutSeconds": 1,
            **health,
        },
    }


@contextlib.asynccontextmanager
async def cluster(tmp: Path, cfg: dict[str, Any]) -> AsyncIterator[ControlPlaneContext]:
    reg = Registry(tmp / "state.db")
    reg.ensure_system_namespaces()
    for crd in api.crds():
        reg.create(CRD_RESOURCE, crd)
    reg.add_admission(api.RESOURCE, api.default, validate)
    ctx = ControlPlaneContext(reg=reg, config=cfg, data_dir=tmp)
    loop = asyncio.get_running_loop()
    tasks = [
        loop.create_task(PyTorchJobOperator(reg).run(ctx.stopping)),
        loop.create_task(SimulatedKubelet(ctx).run()),
        loop.create_task(Scheduler(ctx).run()),
        loop.create_task(NodeLifecycle(ctx).run()),
        loop.create_task(run_health(ctx)),
    ]
    while len(reg.list("nodes")) < 3:
        await asyncio.sleep(0.01)
    try:
        yield ctx
    finally:
        ctx.stopping.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        reg.close()


async def until(pred: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition not met in {timeout}s")


def label(reg: Registry, node: str, key: str = h.HEALTH_LABEL) -> str | None:
    obj = reg.try_get("nodes", node)
    return None if obj is None else (obj["metadata"].get("labels") or {}).get(key)


def inject(reg: Registry, node: str, fault: str) -> None:
    reg.patch(
        "nodes", node, {"metadata": {"annotations": {h.INJECT_ANNOTATION: fault}}}, PatchType.MERGE
    )


def reasons(reg: Registry, name: str) -> list[str]:
    evs = [e for e in reg.list("events", "default") if e["involvedObject"].get("name") == name]
    evs.sort(key=lambda e: e["metadata"]["name"])
    return [e["reason"] for e in evs]


def test_xid_79_without_recovery_labels_and_taints_the_node(tmp_path: Path) -> None:
    asyncio.run(_xid_79_without_recovery(tmp_path))


async def _xid_79_without_recovery(tmp_path: Path) -> None:
    async with cluster(tmp_path, config("None")) as ctx:
        reg = ctx.reg
        inject(reg, "p5-1", "gpu-xid-79:3")
        await until(lambda: label(reg, "p5-1") == h.PENDING_REPLACEMENT)
        node = reg.get("nodes", "p5-1")
        taints = {(t["key"], t.get("value"), t["effect"]) for t in node["spec"]["taints"]}
        assert (h.HEALTH_LABEL, h.PENDING_REPLACEMENT, "NoSchedule") in taints
        assert (h.HEALTH_LABEL, h.PENDING_REPLACEMENT, "NoExecute") in taints
        gpu = next(c for c in node["status"]["conditions"] if c["type"] == h.GPU_CONDITION)
        assert gpu["status"] == "True" and "XID 79 on GPU 3" in gpu["message"]
        assert h.INJECT_ANNOTATION not in node["metadata"]["annotations"]
        seen = reasons(reg, "p5-1")
        assert (
            seen.index("FaultInjected")
            < seen.index("GpuXidError")
            < seen.index("NodeHealthStatusChanged")
        )
        await asyncio.sleep(1)
        assert label(reg, "p5-1") == h.PENDING_REPLACEMENT  # None: only labelled


def training_job(name: str, *, auto_resume: bool, seconds: str = "4s") -> dict[str, Any]:
    """A 2-pod PyTorchJob (master + worker, 8 GPUs each) on p5 nodes that runs ``seconds``."""

    def template() -> dict[str, Any]:
        return {
            "metadata": {
                "annotations": {"hyperpod.local/simulate-duration": seconds},
            },
            "spec": {
                "nodeSelector": {h.HEALTH_LABEL: h.SCHEDULABLE},
                "containers": [
                    {
                        "name": "pytorch",
                        "image": "python",
                        "resources": {"limits": {"nvidia.com/gpu": "8"}},
                    }
                ],
            },
        }

    ann = {}
    if auto_resume:
        ann = {
            "sagemaker.amazonaws.com/enable-job-auto-resume": "true",
            "sagemaker.amazonaws.com/job-max-retry-count": "2",
        }
    return {
        "apiVersion": api.API_VERSION,
        "kind": api.KIND,
        "metadata": {"name": name, "namespace": "default", "annotations": ann},
        "spec": {
            "pytorchReplicaSpecs": {
                "Master": {"replicas": 1, "restartPolicy": "OnFailure", "template": template()},
                "Worker": {"replicas": 1, "restartPolicy": "OnFailure", "template": template()},
            }
        },
    }


def job_pods(reg: Registry, job: str) -> list[dict[str, Any]]:
    return reg.list("pods", "default", label_selector=f"training.kubeflow.org/job-name={job}")


def job_condition(reg: Registry, job: str, type_: str) -> dict[str, Any] | None:
    obj = reg.get(api.RESOURCE, job, "default")
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c["type"] == type_ and c["status"] == "True":
            return dict(c)
    return None


def test_xid_79_under_an_auto_resume_job_replaces_the_node_and_the_job_completes(
    tmp_path: Path,
) -> None:
    asyncio.run(_xid_79_auto_resume(tmp_path))


async def _xid_79_auto_resume(tmp_path: Path) -> None:
    async with cluster(tmp_path, config("Automatic")) as ctx:
        reg = ctx.reg
        reg.create(api.RESOURCE, training_job("llm", auto_resume=True, seconds="3s"), "default")
        pods = await until(
            lambda: (
                [p for p in job_pods(reg, "llm") if p["status"].get("phase") == "Running"]
                if len([p for p in job_pods(reg, "llm") if p["status"].get("phase") == "Running"])
                == 2
                else None
            )
        )
        victim = pods[0]["spec"]["nodeName"]
        first_uids = {p["metadata"]["uid"] for p in pods}
        inject(reg, victim, "gpu-xid-79:0")
        await until(lambda: label(reg, victim) in (h.PENDING_REPLACEMENT, None))
        # The job's pods come back, none on the faulty node, and the job completes.
        await until(lambda: job_condition(reg, "llm", "Succeeded"), timeout=60)
        job = reg.get(api.RESOURCE, "llm", "default")
        assert job["status"]["restartCount"] == 1
        restarting = [
            e for e in reg.list("events", "default") if e["reason"] == "PyTorchJobRestarting"
        ]
        assert restarting and victim in restarting[0]["message"]
        assert "XID 79" in restarting[0]["message"]
        # The faulty node is gone; a new p5 node replaced it and passed deep health checks.
        await until(lambda: reg.try_get("nodes", victim) is None)
        new = await until(
            lambda: [
                n
                for n in reg.list("nodes")
                if victim in (n["metadata"].get("annotations") or {}).get(h.REPLACED_ANNOTATION, "")
            ]
        )
        name = new[0]["metadata"]["name"]
        assert name.startswith("p5-") and name != victim
        await until(lambda: label(reg, name, h.DEEP_HEALTH_LABEL) == h.DEEP_PASSED)
        assert label(reg, name) == h.SCHEDULABLE
        assert new[0]["metadata"]["labels"]["sagemaker.amazonaws.com/instance-group-name"] == "p5"
        assert not [
            t
            for t in reg.get("nodes", name)["spec"].get("taints") or []
            if t["key"] == h.HEALTH_LABEL
        ]
        # The events tell the story in order.
        story = reasons(reg, victim) + reasons(reg, name)
        want = [
            "FaultInjected",
            "GpuXidError",
            "NodeHealthStatusChanged",
            "ReplacingNode",
            "RemovingNode",
            "RegisteredNode",
            "DeepHealthCheckStarted",
            "DeepHealthCheckPassed",
        ]
        assert [r for r in story if r in want] == want
        evicted = [e for e in reg.list("events", "default") if e["reason"] == "Evicted"]
        assert {e["involvedObject"]["uid"] for e in evicted} & first_uids


def test_without_auto_resume_a_node_fault_fails_the_job_naming_node_and_fault(
    tmp_path: Path,
) -> None:
    asyncio.run(_no_auto_resume(tmp_path))


async def _no_auto_resume(tmp_path: Path) -> None:
    async with cluster(tmp_path, config("None")) as ctx:
        reg = ctx.reg
        reg.create(api.RESOURCE, training_job("plain", auto_resume=False, seconds="1h"), "default")
        pods = await until(
            lambda: [p for p in job_pods(reg, "plain") if p["status"].get("phase") == "Running"]
        )
        victim = pods[0]["spec"]["nodeName"]
        inject(reg, victim, "gpu-xid-79")
        failed = await until(lambda: job_condition(reg, "plain", "Failed"))
        assert victim in failed["message"] and "XID 79" in failed["message"]


def test_a_crashed_kubelet_means_reboot_and_the_node_comes_back_schedulable(
    tmp_path: Path,
) -> None:
    asyncio.run(_kubelet_crash(tmp_path))


async def _kubelet_crash(tmp_path: Path) -> None:
    async with cluster(tmp_path, config("Automatic")) as ctx:
        reg = ctx.reg
        inject(reg, "p5-2", "kubelet-crash")
        await until(lambda: label(reg, "p5-2") == h.PENDING_REBOOT)
        await until(lambda: "NodeRebooted" in reasons(reg, "p5-2"))
        await until(lambda: label(reg, "p5-2") == h.SCHEDULABLE)
        node = reg.get("nodes", "p5-2")
        assert h.HEARTBEAT_ANNOTATION not in node["metadata"]["annotations"]
        story = reasons(reg, "p5-2")
        assert story.index("KubeletUnhealthy") < story.index("RebootingNode")
        assert story.index("RebootingNode") < story.index("NodeRebooted")


def test_an_unresponsive_node_is_replaced_and_its_pods_are_not_stuck_terminating(
    tmp_path: Path,
) -> None:
    asyncio.run(_unresponsive(tmp_path))


async def _unresponsive(tmp_path: Path) -> None:
    async with cluster(tmp_path, config("Automatic", deepHealthCheckSeconds=0.2)) as ctx:
        reg = ctx.reg
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "sleeper", "namespace": "default"},
            "spec": {
                "nodeName": "p5-0",
                "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "c", "image": "python"}],
            },
        }
        reg.create("pods", pod, "default")
        await until(
            lambda: reg.get("pods", "sleeper", "default")["status"].get("phase") == "Running"
        )
        inject(reg, "p5-0", "node-unresponsive")
        await until(lambda: reg.try_get("pods", "sleeper", "default") is None, timeout=60)
        await until(lambda: reg.try_get("nodes", "p5-0") is None, timeout=60)
        new = await until(
            lambda: [
                n
                for n in reg.list("nodes")
                if (n["metadata"].get("annotations") or {}).get(h.REPLACED_ANNOTATION) == "p5-0"
            ]
        )
        name = new[0]["metadata"]["name"]
        await until(lambda: label(reg, name) == h.SCHEDULABLE)
        assert "NodeUnresponsive" in reasons(reg, "p5-0")


def test_a_failed_deep_health_check_marks_the_node_for_replacement(tmp_path: Path) -> None:
    asyncio.run(_deep_fail(tmp_path))


async def _deep_fail(tmp_path: Path) -> None:
    async with cluster(tmp_path, config("None")) as ctx:
        reg = ctx.reg
        reg.patch(
            "nodes",
            "p5-1",
            {
                "metadata": {
                    "annotations": {
                        h.DEEP_HEALTH_SIMULATE_ANNOTATION: "fail",
                        h.DEEP_HEALTH_REQUEST_ANNOTATION: "requested",
                    }
                }
            },
            PatchType.MERGE,
        )
        await until(lambda: label(reg, "p5-1", h.DEEP_HEALTH_LABEL) == h.DEEP_IN_PROGRESS)
        assert label(reg, "p5-1") == h.UNSCHEDULABLE
        await until(lambda: label(reg, "p5-1", h.DEEP_HEALTH_LABEL) == h.DEEP_FAILED)
        assert label(reg, "p5-1") == h.PENDING_REPLACEMENT
        await asyncio.sleep(1)
        assert reg.try_get("nodes", "p5-1") is not None  # nodeRecovery None: only labelled
