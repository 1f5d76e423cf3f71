"""The operator drives a real registry: admission, pods, services, ports, status and events.

No kubelet runs here: tests play its part by writing pod status through ``pods/status``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hyperpod.api import pytorchjob as api
from hyperpod.apiserver.errors import Invalid
from hyperpod.apiserver.registry import CRD_RESOURCE, Registry
from hyperpod.controllers.pytorchjob import PyTorchJobOperator, choose_port, port_is_free, validate

Obj = dict[str, Any]
NS = "default"


@pytest.fixture
def reg(tmp_path: Path) -> Iterator[Registry]:
    registry = Registry(tmp_path / "state.db")
    registry.ensure_system_namespaces()
    for crd in api.crds():
        registry.create(CRD_RESOURCE, crd)
    registry.add_admission(api.RESOURCE, api.default, validate)
    yield registry
    registry.close()


def job_manifest(name: str = "digits", workers: int = 2, **run_policy: Any) -> Obj:
    def template() -> Obj:
        return {
            "spec": {
                "containers": [
                    {"name": "pytorch", "image": "python", "command": ["python", "-c", "pass"]}
                ]
            }
        }

    return {
        "apiVersion": api.API_VERSION,
        "kind": api.KIND,
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "runPolicy": run_policy,
            "pytorchReplicaSpecs": {
                "Master": {"replicas": 1, "template": template()},
                "Worker": {"replicas": workers, "template": template()},
            },
        },
    }


def with_operator(reg: Registry, body: Callable[[], Awaitable[None]]) -> None:
    async def main() -> None:
        stopping = asyncio.Event()
        task = asyncio.create_task(PyTorchJobOperator(reg).run(stopping))
        try:
            await asyncio.wait_for(body(), timeout=20)
        finally:
            stopping.set()
            await asyncio.wait_for(task, timeout=10)

    asyncio.run(main())


async def eventually(check: Callable[[], bool], what: str) -> None:
    for _ in range(1000):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def job_pods(reg: Registry, name: str = "digits") -> list[Obj]:
    return reg.list("pods", NS, label_selector=f"{api.LABEL_JOB_NAME}={name}")


def set_pod_phase(reg: Registry, name: str, phase: str, exit_code: int | None = None) -> None:
    pod = reg.get("pods", name, NS)
    state: Obj = {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
    if exit_code is not None:
        state = {
            "terminated": {
                "exitCode": exit_code,
                "reason": "Completed" if exit_code == 0 else "Error",
            }
        }
    pod["status"] = {
        "phase": phase,
        "podIP": "127.0.0.1",
        "containerStatuses": [
            {"name": "pytorch", "restartCount": 0, "state": state, "ready": phase == "Running"}
        ],
    }
    reg.update("pods/status", pod, NS)


def state(reg: Registry, name: str = "digits") -> str:
    conditions = (reg.get(api.RESOURCE, name, NS).get("status") or {}).get("conditions") or []
    return str(conditions[-1]["type"]) if conditions else ""


def event_reasons(reg: Registry, name: str = "digits") -> list[str]:
    return [
        e["reason"]
        for e in reg.list("events", NS)
        if e["involvedObject"].get("kind") == api.KIND and e["involvedObject"]["name"] == name
    ]


def test_admission_rejects_two_masters_with_a_422_naming_the_field(reg: Registry) -> None:
    manifest = job_manifest()
    manifest["spec"]["pytorchReplicaSpecs"]["Master"]["replicas"] = 2
    with pytest.raises(Invalid) as caught:
        reg.create(api.RESOURCE, manifest, NS)
    assert (
        "spec.pytorchReplicaSpecs.Master.replicas: Invalid value: 2: must be 1"
        in caught.value.message
    )
    assert caught.value.code == 422


def test_a_template_that_could_never_be_a_pod_is_rejected_at_create(reg: Registry) -> None:
    manifest = job_manifest()
    container = manifest["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][
        0
    ]
    container["env"] = [{"name": "1BAD", "value": "x"}]
    with pytest.raises(Invalid) as caught:
        reg.create(api.RESOURCE, manifest, NS)
    fields = [c["field"] for c in caught.value.causes]
    assert fields == ["spec.pytorchReplicaSpecs.Worker.template.spec.containers[0].env[0].name"]


def test_a_missing_image_is_reported_once(reg: Registry) -> None:
    manifest = job_manifest()
    del manifest["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0][
        "image"
    ]
    with pytest.raises(Invalid) as caught:
        reg.create(api.RESOURCE, manifest, NS)
    fields = [c["field"] for c in caught.value.causes]
    assert fields == ["spec.pytorchReplicaSpecs.Master.template.spec.containers[0].image"]


def test_admission_defaults_are_stored(reg: Registry) -> None:
    stored = reg.create(api.RESOURCE, job_manifest(), NS)
    assert stored["spec"]["runPolicy"]["cleanPodPolicy"] == "None"
    assert stored["spec"]["pytorchReplicaSpecs"]["Worker"]["restartPolicy"] == "OnFailure"


def test_a_job_gets_its_pods_services_a_private_port_and_events(reg: Registry) -> None:
    async def body() -> None:
        reg.create(api.RESOURCE, job_manifest(), NS)
        await eventually(lambda: len(job_pods(reg)) == 3, "three pods")
        job = reg.get(api.RESOURCE, "digits", NS)
        port = job["metadata"]["annotations"][api.ANNOTATION_MASTER_PORT]
        master = reg.get("pods", "digits-master-0", NS)
        env = {e["name"]: e["value"] for e in master["spec"]["containers"][0]["env"]}
        assert env["MASTER_PORT"] == port and env["MASTER_ADDR"] == "digits-master-0"
        assert master["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]
        services = reg.list("services", NS, label_selector=f"{api.LABEL_JOB_NAME}=digits")
        assert sorted(s["metadata"]["name"] for s in services) == [
            "digits-master-0",
            "digits-worker-0",
            "digits-worker-1",
        ]
        await eventually(lambda: state(reg) == "Created", "Created condition")
        await eventually(lambda: event_reasons(reg).count("SuccessfulCreatePod") == 3, "pod events")
        for pod in job_pods(reg):
            set_pod_phase(reg, pod["metadata"]["name"], "Running")
        await eventually(lambda: state(reg) == "Running", "Running")
        set_pod_phase(reg, "digits-master-0", "Succeeded", exit_code=0)
        await eventually(lambda: state(reg) == "Succeeded", "Succeeded")
        status = reg.get(api.RESOURCE, "digits", NS)["status"]
        assert status["replicaStatuses"]["Master"]["succeeded"] == 1
        assert "completionTime" in status
        assert "PyTorchJobSucceeded" in event_reasons(reg)

    with_operator(reg, body)


def test_two_jobs_at_once_never_share_a_master_port(reg: Registry) -> None:
    async def body() -> None:
        reg.create(api.RESOURCE, job_manifest("one", workers=1), NS)
        reg.create(api.RESOURCE, job_manifest("two", workers=1), NS)
        await eventually(
            lambda: len(job_pods(reg, "one")) == 2 and len(job_pods(reg, "two")) == 2, "pods"
        )
        ports = {
            reg.get(api.RESOURCE, n, NS)["metadata"]["annotations"][api.ANNOTATION_MASTER_PORT]
            for n in ("one", "two")
        }
        assert len(ports) == 2

    with_operator(reg, body)


def test_suspend_deletes_the_pods_and_resume_recreates_them(reg: Registry) -> None:
    async def body() -> None:
        reg.create(api.RESOURCE, job_manifest(), NS)
        await eventually(lambda: len(job_pods(reg)) == 3, "three pods")
        reg.patch(api.RESOURCE, "digits", {"spec": {"runPolicy": {"suspend": True}}}, _merge(), NS)
        await eventually(lambda: job_pods(reg) == [] and state(reg) == "Suspended", "suspended")
        assert "PyTorchJobSuspended" in event_reasons(reg)
        reg.patch(api.RESOURCE, "digits", {"spec": {"runPolicy": {"suspend": False}}}, _merge(), NS)
        await eventually(lambda: len(job_pods(reg)) == 3, "pods again")
        assert "PyTorchJobResumed" in event_reasons(reg)

    with_operator(reg, body)


def test_a_job_created_suspended_creates_no_pods(reg: Registry) -> None:
    async def body() -> None:
        reg.create(api.RESOURCE, job_manifest(suspend=True), NS)
        await eventually(lambda: state(reg) == "Suspended", "Suspended")
        assert job_pods(reg) == []

    with_operator(reg, body)


def test_chosen_ports_are_free_and_avoid_taken_ones() -> None:
    port = choose_port(set())
    assert port_is_free(port)
    assert choose_port({port}) != port


def _merge() -> Any:
    from hyperpod.apiserver.patching import PatchType

    return PatchType.MERGE


def test_an_evicted_pod_under_auto_resume_restarts_the_job_exactly_once(reg: Registry) -> None:
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}
    reg.create("nodes", node)
    manifest = job_manifest()
    manifest["metadata"]["annotations"] = {
        api.ANNOTATION_AUTO_RESUME: "true",
        api.ANNOTATION_MAX_RETRY: "3",
    }

    def bind_all() -> None:
        for pod in job_pods(reg):
            if not pod["spec"].get("nodeName"):
                binding = {
                    "apiVersion": "v1",
                    "kind": "Binding",
                    "metadata": {"name": pod["metadata"]["name"]},
                    "target": {"apiVersion": "v1", "kind": "Node", "name": "n1"},
                }
                reg.create("pods/binding", binding, NS)
                set_pod_phase(reg, pod["metadata"]["name"], "Running")

    def restarts() -> int:
        return int(reg.get(api.RESOURCE, "digits", NS)["status"].get("restartCount") or 0)

    async def body() -> None:
        reg.create(api.RESOURCE, manifest, NS)
        await eventually(lambda: len(job_pods(reg)) == 3, "three pods")
        first = {p["metadata"]["uid"] for p in job_pods(reg)}
        bind_all()
        await eventually(lambda: state(reg) == "Running", "Running")
        eviction = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": "digits-worker-1"},
        }
        reg.create("pods/eviction", eviction, NS)
        await eventually(
            lambda: all(p["metadata"].get("deletionTimestamp") for p in job_pods(reg)),
            "every pod to be stopping",
        )
        assert restarts() == 1 and state(reg) == "Restarting"
        await asyncio.sleep(0.3)  # more reconciles must not count the same eviction again
        assert restarts() == 1
        for pod in job_pods(reg):  # what the kubelet does once the processes are gone
            reg.delete("pods", pod["metadata"]["name"], NS, grace_period_seconds=0)
        await eventually(
            lambda: (
                len(job_pods(reg)) == 3
                and not first & {p["metadata"]["uid"] for p in job_pods(reg)}
            ),
            "three new pods",
        )
        bind_all()
        await eventually(lambda: state(reg) == "Running", "Running again")
        assert restarts() == 1

    with_operator(reg, body)


def test_a_finished_job_past_its_ttl_is_deleted_with_its_pods(reg: Registry) -> None:
    async def body() -> None:
        reg.create(api.RESOURCE, job_manifest(ttlSecondsAfterFinished=0, cleanPodPolicy="All"), NS)
        await eventually(lambda: len(job_pods(reg)) == 3, "three pods")
        set_pod_phase(reg, "digits-master-0", "Succeeded", exit_code=0)
        await eventually(lambda: reg.try_get(api.RESOURCE, "digits", NS) is None, "the job to go")
        assert "TTLExpired" in event_reasons(reg)

    with_operator(reg, body)
