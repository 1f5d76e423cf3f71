"""The Kueue controller against a real registry: admission, messages, preemption, jobs, status."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hyperpod.api import kueue as api
from hyperpod.api import pytorchjob as ptj
from hyperpod.api.controlplane_config import KueueConfig
from hyperpod.apiserver.errors import Invalid
from hyperpod.apiserver.registry import CRD_RESOURCE, Registry
from hyperpod.controllers.kueue.component import kueue
from hyperpod.controllers.kueue.jobs import JobIntegration, workload_name
from hyperpod.controllers.kueue.manager import KueueManager

Obj = dict[str, Any]
NS = "team-a"
WL = "workloads.kueue.x-k8s.io"


@pytest.fixture
def reg(tmp_path: Path) -> Iterator[Registry]:
    registry = Registry(tmp_path / "state.db")
    registry.ensure_system_namespaces()
    comp = kueue()
    for crd in [*api.crds(), *ptj.crds()]:
        registry.create(CRD_RESOURCE, crd)
    for resource, (default, validate) in comp.admission.items():
        registry.add_admission(resource, default, validate)  # type: ignore[arg-type]
    registry.add_admission(ptj.RESOURCE, ptj.default, ptj.validate)
    registry.create(
        "namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}
    )
    yield registry
    registry.close()


def run(
    reg: Registry,
    body: Callable[[KueueManager], Awaitable[None]],
    config: KueueConfig | None = None,
) -> None:
    async def main() -> None:
        stopping = asyncio.Event()
        mgr = KueueManager(reg, config)
        jobs = JobIntegration(mgr)
        task = asyncio.gather(mgr.run(stopping), jobs.run(stopping))
        try:
            await asyncio.wait_for(body(mgr), timeout=30)
        finally:
            stopping.set()
            await asyncio.wait_for(task, timeout=10)

    asyncio.run(main())


async def eventually(check: Callable[[], Any], what: str, seconds: float = 10) -> Any:
    for _ in range(int(seconds * 100)):
        value = check()
        if value:
            return value
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def setup_queue(reg: Registry, cpu: str = "4", **cq_spec: Any) -> None:
    reg.create(
        f"resourceflavors.{api.GROUP}",
        {
            "apiVersion": api.API_VERSION,
            "kind": "ResourceFlavor",
            "metadata": {"name": "default"},
            "spec": {"nodeLabels": {"pool": "cpu"}},
        },
    )
    spec = {
        "namespaceSelector": {},
        "resourceGroups": [
            {
                "coveredResources": ["cpu"],
                "flavors": [
                    {"name": "default", "resources": [{"name": "cpu", "nominalQuota": cpu}]}
                ],
            }
        ],
        **cq_spec,
    }
    reg.create(
        f"clusterqueues.{api.GROUP}",
        {
            "apiVersion": api.API_VERSION,
            "kind": "ClusterQueue",
            "metadata": {"name": "cq"},
            "spec": spec,
        },
    )
    reg.create(
        f"localqueues.{api.GROUP}",
        {
            "apiVersion": api.API_VERSION,
            "kind": "LocalQueue",
            "metadata": {"name": "lq", "namespace": NS},
            "spec": {"clusterQueue": "cq"},
        },
    )


def workload(reg: Registry, name: str, cpu: str = "1", queue: str = "lq", **spec: Any) -> Obj:
    return reg.create(
        WL,
        {
            "apiVersion": api.API_VERSION,
            "kind": "Workload",
            "metadata": {"name": name, "namespace": NS},
            "spec": {
                "queueName": queue,
                "podSets": [
                    {
                        "name": "main",
                        "count": 1,
                        "template": {
                            "spec": {
                                "containers": [
                                    {
                                        "name": "c",
                                        "image": "x",
                                        "resources": {"requests": {"cpu": cpu}},
                                    }
                                ]
                            }
                        },
                    }
                ],
                **spec,
            },
        },
    )


def cond(reg: Registry, name: str, type_: str) -> Obj | None:
    obj = reg.get(WL, name, NS)
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c["type"] == type_:
            return c
    return None


def admitted(reg: Registry, name: str) -> bool:
    c = cond(reg, name, "Admitted")
    return c is not None and c["status"] == "True"


def finish(reg: Registry, name: str) -> None:
    obj = reg.get(WL, name, NS)
    obj["status"]["conditions"].append(
        {
            "type": "Finished",
            "status": "True",
            "reason": "Succeeded",
            "message": "done",
            "lastTransitionTime": "2026-01-01T00:00:00Z",
        }
    )
    reg.update(f"{WL}/status", obj, NS)


def test_workloads_are_admitted_in_order_and_the_rest_wait_with_a_reason(reg: Registry) -> None:
    setup_queue(reg)

    async def body(mgr: KueueManager) -> None:
        workload(reg, "w1", "3")
        await eventually(lambda: admitted(reg, "w1"), "w1 admitted")
        workload(reg, "w2", "3")
        msg = await eventually(
            lambda: (cond(reg, "w2", "QuotaReserved") or {}).get("message"), "w2 message"
        )
        assert (
            msg
            == "couldn't assign flavors to pod set main: insufficient unused quota for cpu in flavor default, 2 more needed"
        )
        adm = reg.get(WL, "w1", NS)["status"]["admission"]
        assert adm == {
            "clusterQueue": "cq",
            "podSetAssignments": [
                {
                    "name": "main",
                    "flavors": {"cpu": "default"},
                    "resourceUsage": {"cpu": "3"},
                    "count": 1,
                }
            ],
        }
        cq_status = await eventually(
            lambda: (
                reg.get(f"clusterqueues.{api.GROUP}", "cq")
                .get("status", {})
                .get("pendingWorkloads")
                == 1
                and reg.get(f"clusterqueues.{api.GROUP}", "cq")["status"]
            ),
            "cq status",
        )
        assert cq_status["admittedWorkloads"] == 1
        assert cq_status["flavorsUsage"] == [
            {"name": "default", "resources": [{"name": "cpu", "total": "3", "borrowed": "0"}]}
        ]
        finish(reg, "w1")
        await eventually(lambda: admitted(reg, "w2"), "w2 admitted after w1 finished")
        lq = await eventually(
            lambda: (
                reg.get(f"localqueues.{api.GROUP}", "lq", NS)
                .get("status", {})
                .get("pendingWorkloads")
                == 0
                and reg.get(f"localqueues.{api.GROUP}", "lq", NS)["status"]
            ),
            "lq status",
        )
        assert lq["admittedWorkloads"] == 1
        assert lq["flavorUsage"] == [
            {"name": "default", "resources": [{"name": "cpu", "total": "3"}]}
        ]

    run(reg, body)


def test_a_missing_local_queue_is_named_and_the_workload_goes_once_it_exists(reg: Registry) -> None:
    async def body(mgr: KueueManager) -> None:
        workload(reg, "w", "1")
        msg = await eventually(
            lambda: (cond(reg, "w", "QuotaReserved") or {}).get("message"), "message"
        )
        assert msg == f"LocalQueue lq doesn't exist in namespace {NS}"
        setup_queue(reg)
        await eventually(lambda: admitted(reg, "w"), "admitted")

    run(reg, body)


def test_a_missing_priority_class_holds_the_workload_until_it_is_created(reg: Registry) -> None:
    setup_queue(reg)

    async def body(mgr: KueueManager) -> None:
        workload(reg, "w", "1", priorityClassName="urgent")
        msg = await eventually(
            lambda: (cond(reg, "w", "QuotaReserved") or {}).get("message"), "message"
        )
        assert msg.startswith("WorkloadPriorityClass urgent doesn't exist")
        reg.create(
            f"workloadpriorityclasses.{api.GROUP}",
            {
                "apiVersion": api.API_VERSION,
                "kind": "WorkloadPriorityClass",
                "metadata": {"name": "urgent"},
                "value": 1000,
            },
        )
        await eventually(lambda: admitted(reg, "w"), "admitted")
        assert reg.get(WL, "w", NS)["spec"]["priority"] == 1000

    run(reg, body)


def test_a_higher_priority_workload_preempts_and_the_victim_waits_in_line(reg: Registry) -> None:
    setup_queue(reg, preemption={"withinClusterQueue": "LowerPriority"})

    async def body(mgr: KueueManager) -> None:
        workload(reg, "low", "4", priority=1)
        await eventually(lambda: admitted(reg, "low"), "low admitted")
        workload(reg, "high", "4", priority=10)
        await eventually(lambda: admitted(reg, "high"), "high admitted")
        evicted = cond(reg, "low", "Evicted")
        assert evicted is not None and (evicted["status"], evicted["reason"]) == (
            "True",
            "Preempted",
        )
        assert (cond(reg, "low", "Preempted") or {}).get("reason") == "InClusterQueue"
        assert "admission" not in reg.get(WL, "low", NS)["status"]
        finish(reg, "high")
        await eventually(lambda: admitted(reg, "low"), "the victim resumes")

    run(reg, body)


def test_a_cluster_queue_with_a_borrowing_limit_and_no_cohort_is_refused(reg: Registry) -> None:
    spec = {
        "resourceGroups": [
            {
                "coveredResources": ["cpu"],
                "flavors": [
                    {
                        "name": "f",
                        "resources": [{"name": "cpu", "nominalQuota": "1", "borrowingLimit": "1"}],
                    }
                ],
            }
        ]
    }
    with pytest.raises(Invalid, match="borrowingLimit must be nil when cohort is empty"):
        reg.create(
            f"clusterqueues.{api.GROUP}",
            {
                "apiVersion": api.API_VERSION,
                "kind": "ClusterQueue",
                "metadata": {"name": "bad"},
                "spec": spec,
            },
        )


def _job(name: str, cpu: str = "1", workers: int = 1, queue: str = "lq") -> Obj:
    def template() -> Obj:
        return {
            "spec": {
                "containers": [
                    {"name": "pytorch", "image": "python", "resources": {"requests": {"cpu": cpu}}}
                ]
            }
        }

    return {
        "apiVersion": ptj.API_VERSION,
        "kind": ptj.KIND,
        "metadata": {"name": name, "namespace": NS, "labels": {api.QUEUE_NAME_LABEL: queue}},
        "spec": {
            "pytorchReplicaSpecs": {
                "Master": {"replicas": 1, "template": template()},
                "Worker": {"replicas": workers, "template": template()},
            }
        },
    }


def test_a_queued_pytorchjob_is_suspended_until_admitted_then_runs_on_its_flavor(
    reg: Registry,
) -> None:
    setup_queue(reg, preemption={"withinClusterQueue": "LowerPriority"})

    async def body(mgr: KueueManager) -> None:
        job = reg.create(ptj.RESOURCE, _job("train", "1", workers=2))
        assert job["spec"]["runPolicy"]["suspend"] is True
        wl_name = workload_name("train")
        assert (
            wl_name.startswith("pytorchjob-train-") and len(wl_name) == len("pytorchjob-train-") + 5
        )
        await eventually(
            lambda: reg.try_get(WL, wl_name, NS) is not None and admitted(reg, wl_name),
            "job workload admitted",
        )
        wl = reg.get(WL, wl_name, NS)
        assert [(p["name"], p["count"]) for p in wl["spec"]["podSets"]] == [
            ("master", 1),
            ("worker", 2),
        ]
        assert wl["metadata"]["ownerReferences"][0]["name"] == "train"
        started = await eventually(
            lambda: (
                (j := reg.get(ptj.RESOURCE, "train", NS))
                and not j["spec"]["runPolicy"]["suspend"]
                and j
            ),
            "job unsuspended",
        )
        for rtype in ("Master", "Worker"):
            assert started["spec"]["pytorchReplicaSpecs"][rtype]["template"]["spec"][
                "nodeSelector"
            ] == {"pool": "cpu"}
        # a higher-priority plain workload takes the quota: the job is suspended and restored
        workload(reg, "urgent", "4", priority=100)
        stopped = await eventually(
            lambda: (
                (j := reg.get(ptj.RESOURCE, "train", NS))
                and j["spec"]["runPolicy"]["suspend"]
                and j
            ),
            "job suspended",
        )
        assert (
            "nodeSelector"
            not in stopped["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
        )
        finish(reg, "urgent")
        await eventually(
            lambda: not reg.get(ptj.RESOURCE, "train", NS)["spec"]["runPolicy"]["suspend"],
            "job resumed",
        )
        # the operator reports success: the workload is finished and the quota released
        j = reg.get(ptj.RESOURCE, "train", NS)
        j["status"] = {
            "conditions": [
                {
                    "type": "Succeeded",
                    "status": "True",
                    "reason": "PyTorchJobSucceeded",
                    "message": "done",
                    "lastUpdateTime": "2026-01-01T00:00:00Z",
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                }
            ]
        }
        reg.update(f"{ptj.RESOURCE}/status", j, NS)
        await eventually(
            lambda: (cond(reg, wl_name, "Finished") or {}).get("status") == "True",
            "workload finished",
        )

    run(reg, body)


def test_a_job_naming_a_missing_queue_stays_suspended_with_a_reason(reg: Registry) -> None:
    async def body(mgr: KueueManager) -> None:
        reg.create(ptj.RESOURCE, _job("lost", queue="nowhere"))
        wl_name = workload_name("lost")
        msg = await eventually(
            lambda: (
                reg.try_get(WL, wl_name, NS)
                and (cond(reg, wl_name, "QuotaReserved") or {}).get("message")
            ),
            "message",
        )
        assert msg == f"LocalQueue nowhere doesn't exist in namespace {NS}"
        assert reg.get(ptj.RESOURCE, "lost", NS)["spec"]["runPolicy"]["suspend"] is True
        # The job itself says why it waits (hyp describe and kubectl describe show events).
        event = await eventually(
            lambda: next(
                (
                    e
                    for e in reg.list("events", NS)
                    if e["involvedObject"].get("kind") == "PyTorchJob"
                    and e["involvedObject"].get("name") == "lost"
                    and e["reason"] == "Inadmissible"
                ),
                None,
            ),
            "event",
        )
        assert event["type"] == "Warning" and "LocalQueue nowhere doesn't exist" in event["message"]

    run(reg, body)


def test_wait_for_pods_ready_evicts_after_the_timeout_and_deactivates_past_the_limit(
    reg: Registry,
) -> None:
    setup_queue(reg)
    config = KueueConfig.model_validate(
        {
            "waitForPodsReady": {
                "enable": True,
                "timeout": "300ms",
                "requeuingStrategy": {"backoffLimitCount": 1, "backoffBaseSeconds": 0.2},
            }
        }
    )

    async def body(mgr: KueueManager) -> None:
        workload(reg, "stuck", "1")
        await eventually(
            lambda: reg.get(WL, "stuck", NS)["spec"].get("active") is False, "deactivated"
        )
        status = reg.get(WL, "stuck", NS)["status"]
        assert status["requeueState"]["count"] == 1
        assert "admission" not in status
        assert (cond(reg, "stuck", "Evicted") or {}).get("reason") == "Deactivated"
        reasons = [
            e["reason"] for e in reg.list("events", NS) if e["involvedObject"]["name"] == "stuck"
        ]
        assert reasons.count("PodsReadyTimeout") == 1 and "Deactivated" in reasons
        assert reasons.count("Admitted") == 2  # admitted, timed out, requeued, admitted again

    run(reg, body, config)


def test_hold_and_drain_evicts_admitted_workloads_and_admits_nothing(reg: Registry) -> None:
    setup_queue(reg)

    async def body(mgr: KueueManager) -> None:
        workload(reg, "running", "1")
        await eventually(lambda: admitted(reg, "running"), "admitted")
        cq = reg.get(f"clusterqueues.{api.GROUP}", "cq")
        cq["spec"]["stopPolicy"] = "HoldAndDrain"
        reg.update(f"clusterqueues.{api.GROUP}", cq)
        await eventually(
            lambda: (cond(reg, "running", "Evicted") or {}).get("reason") == "ClusterQueueStopped",
            "drained",
        )
        workload(reg, "new", "1")
        msg = await eventually(
            lambda: (cond(reg, "new", "QuotaReserved") or {}).get("message"), "message"
        )
        assert msg == "ClusterQueue cq is stopped (stopPolicy HoldAndDrain)"

    run(reg, body)


def test_a_job_unsuspended_by_hand_before_admission_is_suspended_again(reg: Registry) -> None:
    async def body(mgr: KueueManager) -> None:
        reg.create(ptj.RESOURCE, _job("eager", queue="nowhere"))
        wl_name = workload_name("eager")
        await eventually(lambda: reg.try_get(WL, wl_name, NS), "workload created")
        j = reg.get(ptj.RESOURCE, "eager", NS)
        j["spec"]["runPolicy"]["suspend"] = False
        reg.update(ptj.RESOURCE, j, NS)
        await eventually(
            lambda: reg.get(ptj.RESOURCE, "eager", NS)["spec"]["runPolicy"]["suspend"],
            "suspended again",
        )

    run(reg, body)


def test_deactivating_an_admitted_workload_evicts_it_and_frees_the_quota(reg: Registry) -> None:
    setup_queue(reg)

    async def body(mgr: KueueManager) -> None:
        workload(reg, "first", "4")
        await eventually(lambda: admitted(reg, "first"), "first admitted")
        workload(reg, "second", "4")
        wl = reg.get(WL, "first", NS)
        wl["spec"]["active"] = False
        reg.update(WL, wl, NS)
        await eventually(lambda: admitted(reg, "second"), "second admitted")
        assert (cond(reg, "first", "Evicted") or {}).get("reason") == "Deactivated"

    run(reg, body)


def test_the_cluster_policy_config_map_turns_fair_sharing_on(reg: Registry) -> None:
    setup_queue(reg, cohort="shared")

    async def body(mgr: KueueManager) -> None:
        assert mgr.fair_sharing is False
        reg.create(
            "configmaps",
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "hyperpod-cluster-policy", "namespace": "kube-system"},
                "data": {"fairSharing": "Enabled"},
            },
        )
        await eventually(lambda: mgr.fair_sharing, "fair sharing on")
        share = await eventually(
            lambda: (
                reg.get(f"clusterqueues.{api.GROUP}", "cq").get("status", {}).get("fairSharing")
            ),
            "weighted share in the status",
        )
        assert share == {"weightedShare": 0}

    run(reg, body)


def test_a_million_replica_job_gets_one_small_workload_and_waits_for_quota(reg: Registry) -> None:
    setup_queue(reg)

    async def body(mgr: KueueManager) -> None:
        reg.create(ptj.RESOURCE, _job("huge", "1", workers=1_000_000))
        wl_name = workload_name("huge")
        msg = await eventually(
            lambda: (
                reg.try_get(WL, wl_name, NS)
                and (cond(reg, wl_name, "QuotaReserved") or {}).get("message")
            ),
            "pending message",
        )
        wl = reg.get(WL, wl_name, NS)
        assert [p["count"] for p in wl["spec"]["podSets"]] == [1, 1_000_000]
        assert "insufficient" in msg.lower() or "quota" in msg.lower(), msg
        assert not admitted(reg, wl_name)
        assert reg.get(ptj.RESOURCE, "huge", NS)["spec"]["runPolicy"]["suspend"] is True
        assert reg.list("pods", NS) == []

    run(reg, body)
