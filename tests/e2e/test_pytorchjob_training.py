"""PyTorchJobs train for real on this machine: auto-resume after kill -9, suspend, delete, elastic.

(The example manifest's run to Succeeded through kubectl is in test_pytorchjob_kubectl.py.)

One event loop runs the registry, the garbage collector, the process kubelet, a binder (the
scheduler's part: every pod goes to the one local node) and the operator; pods are real
processes running ``python -m hyperpod.examples.digits``.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from hyperpod.api import pytorchjob as api
from hyperpod.apiserver.errors import ApiError
from hyperpod.apiserver.patching import PatchType
from hyperpod.apiserver.registry import CRD_RESOURCE, Registry
from hyperpod.controllers.garbage_collector import GarbageCollector
from hyperpod.controllers.pytorchjob import PyTorchJobOperator, validate
from hyperpod.controllers.pytorchjob_rules import CANNOT_START_REASONS
from hyperpod.kubelet.agent import Kubelet
from hyperpod.runtime.context import ControlPlaneContext

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
NODE = "trainer"
NS = "default"
Obj = dict[str, Any]


@dataclass
class Cluster:
    reg: Registry
    data_dir: Path

    def job(self, name: str) -> Obj:
        return self.reg.get(api.RESOURCE, name, NS)

    def state(self, name: str) -> str:
        conditions = (self.job(name).get("status") or {}).get("conditions") or []
        return str(conditions[-1]["type"]) if conditions else ""

    def condition(self, name: str, type_: str) -> Obj | None:
        for cond in (self.job(name).get("status") or {}).get("conditions") or []:
            if cond["type"] == type_:
                return dict(cond)
        return None

    def pods(self, name: str) -> list[Obj]:
        return self.reg.list("pods", NS, label_selector=f"{api.LABEL_JOB_NAME}={name}")

    def log(self, pod: Obj) -> str:
        """Every attempt's output of the pod's ``pytorch`` container."""
        folder = self.data_dir / "pods" / pod["metadata"]["uid"] / "pytorch"
        return "".join(p.read_text(errors="replace") for p in sorted(folder.glob("*.log")))

    def main_pids(self) -> list[int]:
        """The container processes the kubelet started (from the shims' records)."""
        pids = []
        for record in (self.data_dir / "pods").glob("*/*/*.json"):
            with contextlib.suppress(OSError, ValueError):
                data = json.loads(record.read_text())
                if data.get("pid") and "finishedAt" not in data:
                    pids.append(int(data["pid"]))
        return pids

    def events(self, name: str) -> list[Obj]:
        return [
            e
            for e in self.reg.list("events", NS)
            if e["involvedObject"].get("kind") == api.KIND and e["involvedObject"]["name"] == name
        ]


async def _bind_pending(reg: Registry, stopping: asyncio.Event) -> None:
    """Stands in for the scheduler: binds every unbound pod to the local node."""
    while not stopping.is_set():
        for pod in reg.list("pods", NS):
            if not pod["spec"].get("nodeName") and not pod["metadata"].get("deletionTimestamp"):
                binding = {
                    "apiVersion": "v1",
                    "kind": "Binding",
                    "metadata": {"name": pod["metadata"]["name"]},
                    "target": {"apiVersion": "v1", "kind": "Node", "name": NODE},
                }
                with contextlib.suppress(ApiError):
                    reg.create("pods/binding", binding, NS)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), 0.05)


@contextlib.asynccontextmanager
async def local_cluster(tmp: Path) -> AsyncIterator[Cluster]:
    reg = Registry(tmp / "state.db")
    reg.ensure_system_namespaces()
    for crd in api.crds():
        reg.create(CRD_RESOURCE, crd)
    reg.add_admission(api.RESOURCE, api.default, validate)
    config = {"nodes": {"local": {"name": NODE}}, "kubelet": {"backoffBaseSeconds": 0.5}}
    ctx = ControlPlaneContext(reg=reg, config=config, data_dir=tmp)
    loop = asyncio.get_running_loop()
    tasks = [
        loop.create_task(Kubelet(ctx).run()),
        loop.create_task(GarbageCollector(reg).run(ctx.stopping)),
        loop.create_task(_bind_pending(reg, ctx.stopping)),
        loop.create_task(PyTorchJobOperator(reg).run(ctx.stopping)),
    ]
    try:
        yield Cluster(reg, tmp)
    finally:
        ctx.stopping.set()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 20)
        for pid in Cluster(reg, tmp).main_pids():  # never leave a process behind
            with contextlib.suppress(OSError):
                os.killpg(os.getpgid(pid), signal.SIGKILL)
        reg.close()


async def eventually(check: Callable[[], bool], what: str, timeout: float = 200) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def digits_job(
    name: str, *args: str, workers: int = 2, annotations: dict[str, str] | None = None
) -> Obj:
    command = [sys.executable, "-m", "hyperpod.examples.digits", *args]

    def template() -> Obj:
        return {"spec": {"containers": [{"name": "pytorch", "image": "local", "command": command}]}}

    return {
        "apiVersion": api.API_VERSION,
        "kind": api.KIND,
        "metadata": {"name": name, "namespace": NS, "annotations": annotations or {}},
        "spec": {
            "pytorchReplicaSpecs": {
                "Master": {"replicas": 1, "restartPolicy": "OnFailure", "template": template()},
                "Worker": {
                    "replicas": workers,
                    "restartPolicy": "OnFailure",
                    "template": template(),
                },
            }
        },
    }


def run(tmp_path: Path, body: Callable[[Cluster], Any]) -> None:
    async def main() -> None:
        async with local_cluster(tmp_path) as cluster:
            await body(cluster)

    asyncio.run(main())


def test_kill_9_of_a_worker_under_auto_resume_restarts_the_job_from_its_checkpoint(
    tmp_path: Path,
) -> None:
    checkpoints = tmp_path / "checkpoints"
    annotations = {api.ANNOTATION_AUTO_RESUME: "true", api.ANNOTATION_MAX_RETRY: "2"}
    job = digits_job(
        "resume",
        "--epochs",
        "8",
        "--max-steps-per-second",
        "20",
        "--checkpoint-every",
        "5",
        "--checkpoint-dir",
        str(checkpoints),
        annotations=annotations,
    )

    async def body(c: Cluster) -> None:
        c.reg.create(api.RESOURCE, job, NS)
        await eventually(lambda: any(checkpoints.glob("ckpt-*.pt")), "a first checkpoint")
        worker = c.reg.get("pods", "resume-worker-1", NS)
        folder = c.data_dir / "pods" / worker["metadata"]["uid"] / "pytorch"
        record = json.loads(sorted(folder.glob("*.json"))[-1].read_text())
        os.kill(int(record["pid"]), signal.SIGKILL)
        await eventually(
            lambda: int(c.job("resume")["status"].get("restartCount") or 0) == 1, "a restart"
        )
        restarting = c.condition("resume", "Restarting")
        # The killed rank's peer aborts in gloo within milliseconds (SIGABRT, 134), and each pod
        # reports on its own tick, so either worker may be the failure the restart names.
        assert restarting is not None
        assert re.search(r"pod resume-worker-[01]: \w+ with code 13[47]", restarting["message"]), (
            restarting["message"]
        )
        await eventually(lambda: c.state("resume") in ("Succeeded", "Failed"), "the job to finish")
        assert c.state("resume") == "Succeeded", c.job("resume")["status"]
        out = c.log(c.reg.get("pods", "resume-master-0", NS))
        resumed = re.search(r"resumed from checkpoint \S+ at step (\d+)", out)
        assert resumed is not None and int(resumed.group(1)) > 0, out
        assert "final test accuracy" in out
        messages = [
            e["message"] for e in c.events("resume") if e["reason"] == "PyTorchJobRestarting"
        ]
        assert messages and "auto-resume 1 of 2" in messages[0]

    run(tmp_path, body)


def test_suspend_stops_the_processes_resume_restarts_them_and_delete_leaves_nothing(
    tmp_path: Path,
) -> None:
    job = digits_job("pausable", "--epochs", "200", "--max-steps-per-second", "5", workers=1)

    async def body(c: Cluster) -> None:
        c.reg.create(api.RESOURCE, job, NS)
        await eventually(lambda: c.state("pausable") == "Running", "Running")
        await eventually(lambda: len(c.main_pids()) == 2, "two processes")
        pids = c.main_pids()
        patch = {"spec": {"runPolicy": {"suspend": True}}}
        c.reg.patch(api.RESOURCE, "pausable", patch, PatchType.MERGE, NS)
        await eventually(lambda: c.pods("pausable") == [], "the pods to go")
        assert c.state("pausable") == "Suspended"
        assert not any(psutil.pid_exists(p) for p in pids)
        patch = {"spec": {"runPolicy": {"suspend": False}}}
        c.reg.patch(api.RESOURCE, "pausable", patch, PatchType.MERGE, NS)
        await eventually(lambda: c.state("pausable") == "Running", "Running again")
        await eventually(lambda: len(c.main_pids()) == 2, "two processes again")
        pids = c.main_pids()
        c.reg.delete(api.RESOURCE, "pausable", NS)
        await eventually(
            lambda: c.pods("pausable") == [] and not any(psutil.pid_exists(p) for p in pids),
            "every pod and process to go",
        )
        assert c.reg.list("services", NS, label_selector=f"{api.LABEL_JOB_NAME}=pausable") == []

    run(tmp_path, body)


def test_a_command_that_cannot_start_fails_the_job_with_the_kubelet_reason(tmp_path: Path) -> None:
    job = digits_job("broken")
    for spec in job["spec"]["pytorchReplicaSpecs"].values():
        spec["template"]["spec"]["containers"][0]["command"] = ["/no/such/trainer"]

    async def body(c: Cluster) -> None:
        c.reg.create(api.RESOURCE, job, NS)
        await eventually(lambda: c.state("broken") == "Failed", "Failed", timeout=60)
        failed = c.condition("broken", "Failed")
        assert failed is not None
        assert any(reason in failed["message"] for reason in CANNOT_START_REASONS), failed
        assert "/no/such/trainer" in failed["message"]

    run(tmp_path, body)


def test_a_workers_only_elastic_job_rendezvouses_under_torchrun_and_succeeds(
    tmp_path: Path,
) -> None:
    command = [sys.executable, "-m", "torch.distributed.run", "-m", "hyperpod.examples.digits"]
    template = {
        "spec": {
            "containers": [
                {"name": "pytorch", "image": "local", "command": [*command, "--epochs", "5"]}
            ]
        }
    }
    job = {
        "apiVersion": api.API_VERSION,
        "kind": api.KIND,
        "metadata": {"name": "elastic", "namespace": NS},
        "spec": {
            "nprocPerNode": "1",
            # min = max: the rendezvous closes when all three agents joined, however slowly
            # a loaded machine starts them (a 2:3 range would wait 30 s for the third).
            "elasticPolicy": {"rdzvBackend": "c10d", "minReplicas": 3, "maxReplicas": 3},
            "pytorchReplicaSpecs": {
                "Worker": {"replicas": 3, "restartPolicy": "OnFailure", "template": template}
            },
        },
    }

    async def body(c: Cluster) -> None:
        c.reg.create(api.RESOURCE, job, NS)
        await eventually(lambda: c.state("elastic") in ("Succeeded", "Failed"), "the job to finish")
        assert c.state("elastic") == "Succeeded", c.job("elastic")["status"]
        worker = c.reg.get("pods", "elastic-worker-1", NS)
        env = {e["name"]: e["value"] for e in worker["spec"]["containers"][0]["env"]}
        assert env["PET_NNODES"] == "3:3" and env["PET_RDZV_ENDPOINT"].startswith(
            "elastic-worker-0:"
        )
        logs = "".join(c.log(pod) for pod in c.pods("elastic"))
        assert "world_size=3" in logs
        assert "final test accuracy" in logs

    run(tmp_path, body)


def test_two_jobs_train_at_once_without_colliding_on_a_port(tmp_path: Path) -> None:
    async def body(c: Cluster) -> None:
        for name in ("left", "right"):
            c.reg.create(api.RESOURCE, digits_job(name, "--epochs", "5", workers=1), NS)
        await eventually(
            lambda: all(c.state(n) in ("Succeeded", "Failed") for n in ("left", "right")),
            "both jobs to finish",
        )
        assert [c.state(n) for n in ("left", "right")] == ["Succeeded", "Succeeded"]
        ports = {
            c.job(n)["metadata"]["annotations"][api.ANNOTATION_MASTER_PORT]
            for n in ("left", "right")
        }
        assert len(ports) == 2

    run(tmp_path, body)
