"""Scheduler, simulated nodes and node lifecycle against a real registry (no processes)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from hyperpod.apiserver.patching import PatchType
from hyperpod.apiserver.registry import Registry
from hyperpod.controllers.node_lifecycle import NodeLifecycle
from hyperpod.kubelet.simulated import SimulatedKubelet, parse_duration
from hyperpod.runtime.context import ControlPlaneContext
from hyperpod.scheduler.scheduler import Scheduler

pytestmark = pytest.mark.timeout(120)
CONFIG: dict[str, Any] = {
    "nodes": {
        "local": {"enabled": False},
        "simulated": [
            {"group": "p5", "instanceType": "ml.p5.48xlarge", "count": 2},
            {"group": "cpu", "instanceType": "ml.m5.2xlarge", "count": 1},
        ],
    },
    "nodeLifecycle": {"gracePeriodSeconds": 1, "monitorPeriodSeconds": 0.2},
    "kubelet": {"simulatedHeartbeatSeconds": 0.2},
}


@contextlib.asynccontextmanager
async def cluster(tmp: Path) -> AsyncIterator[ControlPlaneContext]:
    reg = Registry(tmp / "state.db")
    reg.ensure_system_namespaces()
    ctx = ControlPlaneContext(reg=reg, config=CONFIG, data_dir=tmp)
    loop = asyncio.get_running_loop()
    tasks = [
        loop.create_task(SimulatedKubelet(ctx).run()),
        loop.create_task(Scheduler(ctx).run()),
        loop.create_task(NodeLifecycle(ctx).run()),
    ]
    while len(reg.list("nodes")) < 3:
        await asyncio.sleep(0.01)
    try:
        yield ctx
    finally:
        ctx.stopping.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        reg.close()


def pod(
    name: str,
    requests: dict[str, str] | None = None,
    *,
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    c = {
        "name": "main",
        "image": "trainer:1",
        "resources": {"requests": requests or {}, "limits": requests or {}},
    }
    spec.setdefault("restartPolicy", "Never")
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "annotations": annotations or {}},
        "spec": {"containers": [c], **spec},
    }


async def until(
    ctx: ControlPlaneContext, name: str, test: Callable[[dict[str, Any]], bool], timeout: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = ctx.reg.try_get("pods", name, "default")
        if last is not None and test(last):
            return last
        await asyncio.sleep(0.02)
    raise AssertionError(f"pod {name}: condition not reached; last: {last}")


def phase(p: dict[str, Any]) -> str:
    return str((p.get("status") or {}).get("phase"))


def scheduled_cond(p: dict[str, Any]) -> dict[str, Any]:
    return next(
        (c for c in (p.get("status") or {}).get("conditions") or [] if c["type"] == "PodScheduled"),
        {},
    )


def events(ctx: ControlPlaneContext, name: str) -> list[tuple[str, str]]:
    return [
        (e["reason"], e["message"])
        for e in ctx.reg.list("events", "default")
        if e["involvedObject"]["name"] == name
    ]


def test_simulated_nodes_carry_instance_capacity_and_labels(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path) as ctx:
            node = ctx.reg.get("nodes", "p5-0")
            labels = node["metadata"]["labels"]
            assert labels["hyperpod.local/simulated"] == "true" and labels["type"] == "kwok"
            assert labels["node.kubernetes.io/instance-type"] == "ml.p5.48xlarge"
            assert labels["sagemaker.amazonaws.com/instance-group-name"] == "p5"
            assert labels["sagemaker.amazonaws.com/node-health-status"] == "Schedulable"
            cap = node["status"]["capacity"]
            assert cap["nvidia.com/gpu"] == "8" and cap["vpc.amazonaws.com/efa"] == "32"
            assert cap["cpu"] == "192" and not node["spec"].get("taints")

    asyncio.run(scenario())


def test_a_gpu_pod_is_bound_runs_and_finishes_after_its_simulated_duration(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path) as ctx:
            ann = {"hyperpod.local/simulate-duration": "300ms"}
            ctx.reg.create("pods", pod("ok", {"nvidia.com/gpu": "8"}, annotations=ann), "default")
            ann = {
                "hyperpod.local/simulate-duration": "300ms",
                "hyperpod.local/simulate-exit-code": "2",
            }
            ctx.reg.create(
                "pods",
                pod(
                    "bad",
                    {"cpu": "1"},
                    annotations=ann,
                    nodeSelector={"sagemaker.amazonaws.com/instance-group-name": "cpu"},
                ),
                "default",
            )
            running = await until(ctx, "ok", lambda p: phase(p) == "Running")
            assert running["spec"]["nodeName"].startswith("p5-")
            done = await until(ctx, "ok", lambda p: phase(p) == "Succeeded")
            assert done["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
            bad = await until(ctx, "bad", lambda p: phase(p) == "Failed")
            assert bad["spec"]["nodeName"] == "cpu-0"
            assert bad["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 2
            assert (
                "Scheduled",
                f"Successfully assigned default/ok to {done['spec']['nodeName']}",
            ) in events(ctx, "ok")

    asyncio.run(scenario())


def test_unschedulable_pods_say_why_and_are_retried_when_room_frees_up(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path) as ctx:
            for i in range(2):
                ctx.reg.create("pods", pod(f"big-{i}", {"nvidia.com/gpu": "8"}), "default")
            for i in range(2):
                await until(ctx, f"big-{i}", lambda p: phase(p) == "Running")
            ctx.reg.create("pods", pod("waiter", {"nvidia.com/gpu": "1"}), "default")
            waiting = await until(
                ctx, "waiter", lambda p: scheduled_cond(p).get("reason") == "Unschedulable"
            )
            msg = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
            assert scheduled_cond(waiting)["message"] == msg and phase(waiting) == "Pending"
            assert ("FailedScheduling", msg) in events(ctx, "waiter")
            ctx.reg.delete("pods", "big-0", "default")
            bound = await until(ctx, "waiter", lambda p: phase(p) == "Running")
            assert bound["spec"]["nodeName"].startswith("p5-")
            ctx.reg.create("pods", pod("huge", {"nvidia.com/gpu": "9"}), "default")
            huge = await until(
                ctx, "huge", lambda p: scheduled_cond(p).get("reason") == "Unschedulable"
            )
            assert scheduled_cond(huge)["message"] == msg

    asyncio.run(scenario())


def test_selectors_affinity_taints_and_scheduler_name_are_respected(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path) as ctx:
            taint = {
                "key": "sagemaker.amazonaws.com/node-health-status",
                "value": "Unschedulable",
                "effect": "NoSchedule",
            }
            ctx.reg.patch("nodes", "cpu-0", {"spec": {"taints": [taint]}}, PatchType.MERGE)
            sel = {"node.kubernetes.io/instance-type": "ml.m5.2xlarge"}
            ctx.reg.create("pods", pod("blocked", nodeSelector=sel), "default")
            blocked = await until(ctx, "blocked", lambda p: bool(scheduled_cond(p).get("message")))
            assert scheduled_cond(blocked)["message"] == (
                "0/3 nodes are available: 2 node(s) didn't match Pod's node affinity/selector, "
                "1 node(s) had untolerated taint {sagemaker.amazonaws.com/node-health-status: Unschedulable}."
            )
            tol = [{"key": taint["key"], "operator": "Exists", "effect": "NoSchedule"}]
            ctx.reg.create("pods", pod("tolerant", nodeSelector=sel, tolerations=tol), "default")
            assert (await until(ctx, "tolerant", lambda p: phase(p) == "Running"))["spec"][
                "nodeName"
            ] == "cpu-0"
            aff = {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {
                                        "key": "kubernetes.io/hostname",
                                        "operator": "In",
                                        "values": ["p5-1"],
                                    }
                                ]
                            }
                        ]
                    }
                }
            }
            ctx.reg.create("pods", pod("pinned", affinity=aff), "default")
            assert (await until(ctx, "pinned", lambda p: phase(p) == "Running"))["spec"][
                "nodeName"
            ] == "p5-1"
            ctx.reg.create("pods", pod("other", schedulerName="volcano"), "default")
            await asyncio.sleep(0.5)
            assert not ctx.reg.get("pods", "other", "default")["spec"].get("nodeName")

    asyncio.run(scenario())


def test_higher_priority_pods_are_placed_first(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path) as ctx:
            ctx.reg.create(
                "priorityclasses.scheduling.k8s.io", {"metadata": {"name": "high"}, "value": 1000}
            )
            for i in range(2):
                ctx.reg.create("pods", pod(f"fill-{i}", {"nvidia.com/gpu": "8"}), "default")
                await until(ctx, f"fill-{i}", lambda p: phase(p) == "Running")
            ctx.reg.create(
                "pods", pod("low", {"nvidia.com/gpu": "8"}, preemptionPolicy="Never"), "default"
            )
            ctx.reg.create(
                "pods",
                pod(
                    "high",
                    {"nvidia.com/gpu": "8"},
                    priorityClassName="high",
                    preemptionPolicy="Never",
                ),
                "default",
            )
            await until(ctx, "low", lambda p: scheduled_cond(p).get("reason") == "Unschedulable")
            await until(ctx, "high", lambda p: scheduled_cond(p).get("reason") == "Unschedulable")
            ctx.reg.delete("pods", "fill-0", "default")
            await until(ctx, "high", lambda p: phase(p) == "Running")
            assert not ctx.reg.get("pods", "low", "default")["spec"].get("nodeName")

    asyncio.run(scenario())


def test_a_node_that_stops_heartbeating_is_tainted_and_its_pods_evicted(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path) as ctx:
            sel = {"kubernetes.io/hostname": "cpu-0"}
            tol = [
                {
                    "key": "node.kubernetes.io/unreachable",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 1,
                }
            ]
            ctx.reg.create(
                "pods",
                pod("victim", nodeSelector=sel, tolerations=tol, terminationGracePeriodSeconds=1),
                "default",
            )
            await until(ctx, "victim", lambda p: phase(p) == "Running")
            ctx.reg.patch(
                "nodes",
                "cpu-0",
                {"metadata": {"annotations": {"hyperpod.local/simulate-heartbeat": "false"}}},
                PatchType.MERGE,
            )
            deadline = time.monotonic() + 30
            while True:
                node = ctx.reg.get("nodes", "cpu-0")
                ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
                taints = {(t["key"], t["effect"]) for t in node["spec"].get("taints") or []}
                if (
                    ready["status"] == "Unknown"
                    and ("node.kubernetes.io/unreachable", "NoExecute") in taints
                ):
                    break
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            assert ready["reason"] == "NodeStatusUnknown"
            while ctx.reg.try_get("pods", "victim", "default") is not None:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            assert any(r == "TaintManagerEviction" for r, _ in events(ctx, "victim"))
            ctx.reg.patch(
                "nodes",
                "cpu-0",
                {"metadata": {"annotations": {"hyperpod.local/simulate-heartbeat": "true"}}},
                PatchType.MERGE,
            )
            while any(
                t["key"] == "node.kubernetes.io/unreachable"
                for t in ctx.reg.get("nodes", "cpu-0")["spec"].get("taints") or []
            ):
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)

    asyncio.run(scenario())


def test_durations_parse_and_bad_ones_name_the_format() -> None:
    assert parse_duration("1h30m") == 5400 and parse_duration("500ms") == 0.5
    with pytest.raises(ValueError, match="examples: 500ms, 2s"):
        parse_duration("soon")


def test_a_higher_priority_pod_preempts_the_least_important_pods(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path) as ctx:
            reg = ctx.reg
            reg.create(
                "priorityclasses.scheduling.k8s.io", {"metadata": {"name": "low"}, "value": 10}
            )
            reg.create(
                "priorityclasses.scheduling.k8s.io", {"metadata": {"name": "lowest"}, "value": 1}
            )
            reg.create(
                "priorityclasses.scheduling.k8s.io", {"metadata": {"name": "urgent"}, "value": 1000}
            )
            reg.create(
                "pods", pod("keep", {"nvidia.com/gpu": "8"}, priorityClassName="low"), "default"
            )
            await until(ctx, "keep", lambda p: phase(p) == "Running")
            reg.create(
                "pods",
                pod("victim", {"nvidia.com/gpu": "8"}, priorityClassName="lowest"),
                "default",
            )
            await until(ctx, "victim", lambda p: phase(p) == "Running")
            reg.create(
                "pods",
                pod("urgent", {"nvidia.com/gpu": "8"}, priorityClassName="urgent"),
                "default",
            )
            bound = await until(ctx, "urgent", lambda p: phase(p) == "Running")
            deadline = time.monotonic() + 10
            while reg.try_get("pods", "victim", "default") is not None:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            assert reg.get("pods", "keep", "default")["status"]["phase"] == "Running"
            assert bound["status"].get("nominatedNodeName") in (None, bound["spec"]["nodeName"])
            assert any(r == "Preempted" for r, _ in events(ctx, "victim"))
            reg.create(
                "pods",
                pod(
                    "polite",
                    {"nvidia.com/gpu": "8"},
                    priorityClassName="urgent",
                    preemptionPolicy="Never",
                ),
                "default",
            )
            await until(ctx, "polite", lambda p: scheduled_cond(p).get("reason") == "Unschedulable")
            await asyncio.sleep(0.3)
            assert reg.get("pods", "keep", "default")["status"]["phase"] == "Running"

    asyncio.run(scenario())


def test_scheduling_gates_hold_a_pod_until_they_are_removed(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path) as ctx:
            gated = pod("gated", schedulingGates=[{"name": "example.com/wait"}])
            ctx.reg.create("pods", gated, "default")
            await asyncio.sleep(0.5)
            assert not ctx.reg.get("pods", "gated", "default")["spec"].get("nodeName")
            ctx.reg.patch(
                "pods", "gated", {"spec": {"schedulingGates": None}}, PatchType.MERGE, "default"
            )
            await until(ctx, "gated", lambda p: phase(p) == "Running")

    asyncio.run(scenario())


def test_pods_of_a_deleted_node_are_garbage_collected(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path) as ctx:
            ctx.reg.create("pods", pod("stray", nodeName="gone-node"), "default")
            deadline = time.monotonic() + 20
            while ctx.reg.try_get("pods", "stray", "default") is not None:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            assert any(r == "PodGC" for r, _ in events(ctx, "stray"))

    asyncio.run(scenario())


def test_a_malformed_simulation_annotation_fails_the_pod_with_the_annotation_named(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path) as ctx:
            ann = {"hyperpod.local/simulate-duration": "soon"}
            ctx.reg.create("pods", pod("confused", annotations=ann), "default")
            done = await until(ctx, "confused", lambda p: phase(p) == "Failed")
            assert done["status"]["reason"] == "InvalidSimulation"
            assert (
                "hyperpod.local/simulate-duration: 'soon' is not a duration"
                in done["status"]["message"]
            )

    asyncio.run(scenario())


def test_pod_anti_affinity_spreads_replicas_and_affinity_gathers_them(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path) as ctx:
            sel = {"sagemaker.amazonaws.com/instance-group-name": "p5"}
            anti = {
                "podAntiAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "labelSelector": {"matchLabels": {"app": "w"}},
                            "topologyKey": "kubernetes.io/hostname",
                        }
                    ]
                }
            }
            nodes_used = []
            for i in range(3):
                p = pod(f"w{i}", nodeSelector=sel, affinity=anti)
                p["metadata"]["labels"] = {"app": "w"}
                ctx.reg.create("pods", p, "default")
            for i in range(2):
                nodes_used.append(
                    (await until(ctx, f"w{i}", lambda p: phase(p) == "Running"))["spec"]["nodeName"]
                )
            assert sorted(nodes_used) == ["p5-0", "p5-1"]
            third = await until(
                ctx, "w2", lambda p: scheduled_cond(p).get("reason") == "Unschedulable"
            )
            assert scheduled_cond(third)["message"] == (
                "0/3 nodes are available: 2 node(s) didn't satisfy existing pods anti-affinity rules, "
                "1 node(s) didn't match Pod's node affinity/selector."
            )
            near = {
                "podAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "labelSelector": {"matchLabels": {"app": "w"}},
                            "topologyKey": "kubernetes.io/hostname",
                        }
                    ]
                }
            }
            ctx.reg.create("pods", pod("sidecar", affinity=near), "default")
            side = await until(ctx, "sidecar", lambda p: phase(p) == "Running")
            assert side["spec"]["nodeName"] in nodes_used

    asyncio.run(scenario())


def test_topology_spread_constraints_balance_replicas_across_nodes(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path) as ctx:
            spread = [
                {
                    "maxSkew": 1,
                    "topologyKey": "kubernetes.io/hostname",
                    "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": {"matchLabels": {"app": "s"}},
                }
            ]
            sel = {"sagemaker.amazonaws.com/instance-group-name": "p5"}
            used = []
            for i in range(4):
                # A strong preference for p5-0 would put every replica there without the constraint.
                prefer = {
                    "nodeAffinity": {
                        "preferredDuringSchedulingIgnoredDuringExecution": [
                            {
                                "weight": 100,
                                "preference": {
                                    "matchExpressions": [
                                        {
                                            "key": "kubernetes.io/hostname",
                                            "operator": "In",
                                            "values": ["p5-0"],
                                        }
                                    ]
                                },
                            }
                        ]
                    }
                }
                p = pod(
                    f"s{i}",
                    {"cpu": "1"},
                    nodeSelector=sel,
                    topologySpreadConstraints=spread,
                    affinity=prefer,
                )
                p["metadata"]["labels"] = {"app": "s"}
                ctx.reg.create("pods", p, "default")
                used.append(
                    (await until(ctx, f"s{i}", lambda p: phase(p) == "Running"))["spec"]["nodeName"]
                )
            assert sorted(used) == ["p5-0", "p5-0", "p5-1", "p5-1"]

    asyncio.run(scenario())
