"""The scheduler's incremental placement: per-shape heaps stay right as usage changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hyperpod.apiserver.registry import Registry
from hyperpod.runtime.context import ControlPlaneContext
from hyperpod.scheduler.placement import PodInfo
from hyperpod.scheduler.scheduler import Scheduler


def node(name: str, gpus: int) -> dict[str, Any]:
    alloc = {"cpu": "8", "memory": "32Gi", "pods": "110", "nvidia.com/gpu": str(gpus)}
    return {"metadata": {"name": name}, "spec": {}, "status": {"allocatable": alloc}}


def pod(name: str, uid: str, gpus: int, node_name: str | None = None) -> dict[str, Any]:
    res = {"nvidia.com/gpu": str(gpus), "cpu": "1"}
    spec: dict[str, Any] = {
        "containers": [{"name": "c", "resources": {"requests": res, "limits": res}}]
    }
    if node_name:
        spec["nodeName"] = node_name
    return {"metadata": {"name": name, "namespace": "d", "uid": uid}, "spec": spec, "status": {}}


def test_same_shape_pods_spread_fill_up_and_see_freed_room(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "state.db")
    sched = Scheduler(ControlPlaneContext(reg=reg, config={}, data_dir=tmp_path))
    for n in ("a", "b"):
        sched._on_node("ADDED", node(n, 2), None)
    placed = []
    for i in range(4):
        p = pod(f"p{i}", f"u{i}", 1)
        where = sched.place(PodInfo.from_pod(p)).node
        assert where is not None
        placed.append(where)
        sched._account(pod(f"p{i}", f"u{i}", 1, where))
    assert sorted(placed) == ["a", "a", "b", "b"] and placed[0] != placed[1]
    full = sched.place(PodInfo.from_pod(pod("p4", "u4", 1)))
    assert (
        full.node is None
        and full.message == "0/2 nodes are available: 2 Insufficient nvidia.com/gpu."
    )
    sched._on_pod("DELETED", pod("p0", "u0", 1, placed[0]), None)
    assert sched.place(PodInfo.from_pod(pod("p4", "u4", 1))).node == placed[0]
    reg.close()


def test_freed_room_is_seen_without_rebuilding_the_shape_heap(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "state.db")
    sched = Scheduler(ControlPlaneContext(reg=reg, config={}, data_dir=tmp_path))
    for n in ("a", "b", "c"):
        sched._on_node("ADDED", node(n, 1), None)
    for i in range(3):
        p = pod(f"p{i}", f"u{i}", 1)
        where = sched.place(PodInfo.from_pod(p)).node
        assert where is not None
        sched._account(pod(f"p{i}", f"u{i}", 1, where))
    heaps = dict(sched.heaps)
    assert sched.place(PodInfo.from_pod(pod("p3", "u3", 1))).node is None
    done = pod("p1", "u1", 1, sched.bound["u1"][0])
    done["status"] = {"phase": "Succeeded"}
    sched._on_pod("MODIFIED", done, None)
    assert sched.place(PodInfo.from_pod(pod("p3", "u3", 1))).node == done["spec"]["nodeName"]
    assert sched.heaps == heaps  # the same heap objects, updated in place
    reg.close()


def test_a_node_status_change_placement_does_not_read_keeps_the_caches(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "state.db")
    sched = Scheduler(ControlPlaneContext(reg=reg, config={}, data_dir=tmp_path))
    sched._on_node("ADDED", node("a", 2), None)
    assert sched.place(PodInfo.from_pod(pod("p0", "u0", 1))).node == "a"
    assert sched.heaps
    beat = node("a", 2)
    beat["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    sched._on_node("MODIFIED", beat, None)
    assert sched.heaps
    tainted = node("a", 2)
    tainted["spec"]["taints"] = [{"key": "k", "effect": "NoSchedule"}]
    sched._on_node("MODIFIED", tainted, None)
    assert not sched.heaps
    assert sched.place(PodInfo.from_pod(pod("p0", "u0", 1))).node is None
    reg.close()
