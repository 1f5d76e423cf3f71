"""The health monitoring agent: checks every node and turns findings into labels, taints, events.

One :class:`NodeMonitor` per node (the local machine and each simulated node) runs the checks of
:mod:`hyperpod.kubelet.health` every ``health.pollSeconds``: GPUs through NVML (the local
machine's driver, or :class:`~hyperpod.kubelet.nvml.FakeNvml` under ``HYPERPOD_FAKE_GPUS`` and on
simulated nodes, sized by the instance type), EFA devices, disk and memory, kubelet liveness
(its Lease), and, for a node whose heartbeat stopped, how long it has been NotReady.

Findings become, exactly as on HyperPod: the label ``sagemaker.amazonaws.com/node-health-status``
(``Schedulable`` / ``Unschedulable`` / ``UnschedulablePendingReboot`` /
``UnschedulablePendingReplacement``), taints with the same key and the status as value
(NoSchedule; NoExecute too for the pending statuses), node conditions (``GpuProblem``,
``EfaProblem``, ``KubeletProblem``, ``DiskPressure``, ``MemoryPressure``), Warning events, the
``hyperpod.local/faults`` record of recent faults, and pod evictions. A pending status sticks
until recovery (:mod:`hyperpod.controllers.node_recovery`) clears it; ``Unschedulable`` clears
by itself when the pressure is gone. A fault on one GPU whose action is ``device`` only marks that
GPU unhealthy: ``allocatable nvidia.com/gpu`` drops and the kubelet no longer hands it out.

Fault injection (testing tool): the Node annotation ``hyperpod.local/inject-fault``
(``<fault>[:<gpu>]``, comma separated; faults in :data:`hyperpod.api.health.FAULTS`) is consumed
here: GPU faults go into the fake NVML and come back through the ordinary NVML calls;
``node-unresponsive`` and ``kubelet-crash`` stop the node's heartbeat (both kubelets honour
``hyperpod.local/simulate-heartbeat``); ``efa-down`` and ``disk-full`` override those probes.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from hyperpod.api import health as h
from hyperpod.api.health import health_taints, with_health_taints
from hyperpod.api.instance_types import EFA, GPU
from hyperpod.api.meta import epoch_of as parse_time
from hyperpod.apiserver.errors import ApiError, Conflict, NotFound
from hyperpod.apiserver.metadata import now_rfc3339
from hyperpod.apiserver.patching import PatchType
from hyperpod.kubelet import devices as devmod
from hyperpod.kubelet import health as checks
from hyperpod.kubelet import nvml
from hyperpod.runtime import health_eviction
from hyperpod.runtime.context import ControlPlaneContext
from hyperpod.runtime.machinery import Informer, record_event
from hyperpod.runtime.nodes import LEASE_NS, SIMULATED_LABEL, local_config, local_node_name

log = logging.getLogger(__name__)
Obj = dict[str, Any]
COMPONENT = "health-agent"
NODE_WIDE = ("unschedulable", "reboot", "replace")


class InjectionError(ValueError):
    """An ``inject-fault`` annotation that names no known fault or a GPU that does not exist."""


def parse_injection(text: str) -> list[tuple[str, int | None]]:
    """``"gpu-xid-79:3,disk-full"`` -> ``[("gpu-xid-79", 3), ("disk-full", None)]``."""
    out: list[tuple[str, int | None]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        fault, _, gpu = part.partition(":")
        if fault not in h.FAULTS:
            raise InjectionError(f"unknown fault {fault!r} (known: {', '.join(h.FAULTS)})")
        if gpu and not gpu.isdigit():
            raise InjectionError(f"GPU index {gpu!r} is not a whole number")
        out.append((fault, int(gpu) if gpu else None))
    return out


def _cond(type_: str, problem: bool, reason: str, message: str, now: str) -> Obj:
    return {
        "type": type_,
        "status": "True" if problem else "False",
        "reason": reason,
        "message": message,
        "lastHeartbeatTime": now,
        "lastTransitionTime": now,
    }


def recent_faults(node: Obj) -> list[Obj]:
    raw = ((node.get("metadata") or {}).get("annotations") or {}).get(h.FAULTS_ANNOTATION)
    try:
        data = json.loads(raw) if raw else []
    except ValueError:
        return []
    return data if isinstance(data, list) else []


@dataclass
class NodeMonitor:
    name: str
    local: bool
    gpus: checks.GpuMonitor | None
    efa_expected: int
    injected: set[str] = field(
        default_factory=set
    )  # efa-down, disk-full, node-unresponsive, kubelet-crash
    reported: set[str] = field(default_factory=set)  # findings already announced
    consumed: str = ""  # resourceVersion of the node whose injection annotation was applied


class HealthAgent:
    def __init__(self, ctx: ControlPlaneContext) -> None:
        self.ctx = ctx
        self.reg = ctx.reg
        self.config = ctx.config.health
        self.data_dir = Path(ctx.data_dir)
        local = local_config(ctx.config)
        self.local_name = local_node_name(ctx.config) if local is not None else None
        self.nodes = Informer(self.reg, "nodes")
        self.leases = Informer(self.reg, "leases.coordination.k8s.io", LEASE_NS)
        self.pods = Informer(self.reg, "pods")
        self.monitors: dict[str, NodeMonitor] = {}
        self.busy: set[str] = set()  # nodes under recovery: the recovery controller owns them
        self.started = time.time()

    # ------------------------------------------------------------------ monitors
    def _new_monitor(self, node: Obj) -> NodeMonitor | None:
        name = node["metadata"]["name"]
        labels = node["metadata"].get("labels") or {}
        cap = (node.get("status") or {}).get("capacity") or {}
        expected_gpus = int(str(cap.get(GPU, "0")) or 0)
        expected_efa = int(str(cap.get(EFA, "0")) or 0)
        if name == self.local_name:
            if GPU not in cap and self.ctx.addon_enabled("devicePlugins"):
                return None  # the device plugins have not advertised the GPUs yet
            lib = nvml.load() if expected_gpus else None
            local = True
        elif labels.get(SIMULATED_LABEL) == "true":
            lib = nvml.FakeNvml(expected_gpus, seed=name) if expected_gpus else None
            local = False
        else:
            return None  # a node nobody here runs
        gpus = None
        if lib is not None:
            gpus = checks.GpuMonitor(lib, expected_gpus, self.config)
            try:
                gpus.start()
            except Exception:  # a driver that fails here must not stop the other checks
                log.exception("health agent: NVML start on %s failed", name)
        return NodeMonitor(name, local, gpus, expected_efa)

    def monitor(self, node: Obj) -> NodeMonitor | None:
        name = node["metadata"]["name"]
        mon = self.monitors.get(name)
        if mon is None:
            mon = self._new_monitor(node)
            if mon is not None:
                self.monitors[name] = mon
        return mon

    def reset(self, name: str) -> None:
        """After a reboot or replacement: a fresh device state and no remembered faults."""
        mon = self.monitors.pop(name, None)
        if mon is not None and mon.gpus is not None and isinstance(mon.gpus.lib, nvml.FakeNvml):
            mon.gpus.lib.reboot()

    # ------------------------------------------------------------------ injection
    def _inject(self, node: Obj, mon: NodeMonitor, text: str) -> None:
        name = node["metadata"]["name"]
        ref = {**node, "kind": "Node", "apiVersion": "v1"}
        annotations: dict[str, Any] = {h.INJECT_ANNOTATION: None}
        try:
            faults = parse_injection(text)
            for fault, gpu in faults:
                if fault in h.GPU_FAULTS:
                    lib = mon.gpus.lib if mon.gpus is not None else None
                    if not isinstance(lib, nvml.FakeNvml):
                        raise InjectionError(
                            f"{fault}: node {name} has no fake GPUs to inject into "
                            "(set HYPERPOD_FAKE_GPUS on the local node; real GPUs are never altered)"
                        )
                    index = gpu or 0
                    if fault == "gpu-xid-79":
                        lib.inject_xid(index, 79)
                    elif fault == "gpu-ecc-dbe":
                        lib.inject_ecc_dbe(index)
                    else:
                        lib.lose(index)
                else:
                    mon.injected.add(fault)
                    if fault in ("node-unresponsive", "kubelet-crash"):
                        annotations[h.HEARTBEAT_ANNOTATION] = "false"
                where = f" on GPU {gpu or 0}" if fault in h.GPU_FAULTS else ""
                record_event(
                    self.reg,
                    ref,
                    "Warning",
                    "FaultInjected",
                    f"Injected fault {fault}{where} (testing tool: hyp inject-fault)",
                    COMPONENT,
                )
        except (InjectionError, IndexError) as exc:
            record_event(self.reg, ref, "Warning", "FaultInjectionFailed", str(exc), COMPONENT)
        with contextlib.suppress(NotFound, Conflict):
            self.reg.patch(
                "nodes", name, {"metadata": {"annotations": annotations}}, PatchType.MERGE
            )

    # ------------------------------------------------------------------ checks
    def _lease_age(self, name: str, now: float) -> float | None:
        lease = self.leases.cache.get(f"{LEASE_NS}/{name}")
        renew = parse_time(((lease or {}).get("spec") or {}).get("renewTime"))
        if renew is None:
            return None
        return now - max(renew, self.started)

    def _not_ready_for(self, node: Obj, now: float) -> float:
        for c in (node.get("status") or {}).get("conditions") or []:
            if c.get("type") == "Ready" and c.get("status") == "Unknown":
                since = parse_time(c.get("lastTransitionTime")) or now
                return now - max(since, self.started)
        return 0.0

    def findings(self, node: Obj, mon: NodeMonitor, now: float) -> list[checks.Finding]:
        cfg = self.config
        out: list[checks.Finding] = []
        down = self._not_ready_for(node, now)
        if down >= cfg.unresponsive_seconds:
            out.append(
                checks.Finding(
                    "node", "replace", f"node has not responded for {down:.0f}s (heartbeat lost)"
                )
            )
        if "node-unresponsive" in mon.injected:
            return out  # the agent on that node is gone with it
        if mon.gpus is not None:
            try:
                out += mon.gpus.poll()
            except Exception as exc:  # NVML itself failing is a GPU problem on that node
                out.append(checks.Finding("gpu-count", cfg.gpu_count_action, f"NVML failed: {exc}"))
        efa_present = mon.efa_expected
        if "efa-down" in mon.injected:
            efa_present = 0
        elif mon.local and mon.efa_expected:
            efa_present = len(devmod.discover_efa())
        for f in (
            checks.efa_finding(efa_present, mon.efa_expected, cfg),
            checks.disk_finding(self._disk_used(mon), cfg),
            checks.memory_finding(self._memory_available(mon), cfg),
            checks.kubelet_finding(self._lease_age(mon.name, now), cfg),
        ):
            if f is not None:
                out.append(f)
        return out

    def _disk_used(self, mon: NodeMonitor) -> float:
        if "disk-full" in mon.injected:
            return 100.0
        if not mon.local:
            return 0.0
        try:
            return float(psutil.disk_usage(str(self.data_dir)).percent)
        except OSError:
            return 0.0

    def _memory_available(self, mon: NodeMonitor) -> float:
        if not mon.local:
            return 100.0
        vm = psutil.virtual_memory()
        return 100.0 * vm.available / max(1, vm.total)

    # ------------------------------------------------------------------ applying findings
    def apply(self, node: Obj, mon: NodeMonitor, found: list[checks.Finding]) -> None:
        name = node["metadata"]["name"]
        md = node["metadata"]
        labels = md.get("labels") or {}
        ann = md.get("annotations") or {}
        current = labels.get(h.HEALTH_LABEL, h.SCHEDULABLE)
        node_wide = [f for f in found if f.action in NODE_WIDE]
        wanted = h.STATUS_OF_ACTION[h.worst([f.action for f in node_wide])]
        rank = {s: i for i, s in enumerate(h.STATUSES)}
        if current in (h.PENDING_REBOOT, h.PENDING_REPLACEMENT) and rank[wanted] < rank[current]:
            wanted = current  # sticks until recovery clears it
        if (
            labels.get(h.DEEP_HEALTH_LABEL) in (h.DEEP_IN_PROGRESS, h.DEEP_FAILED)
            and rank[wanted] < rank[current]
        ):
            wanted = current  # the deep health check decides
        ref = {**node, "kind": "Node", "apiVersion": "v1"}
        new = [f for f in found if f"{f.check}|{f.message}" not in mon.reported]
        history = recent_faults(node)
        for f in new:
            mon.reported.add(f"{f.check}|{f.message}")
            if f.action == "none":
                continue
            record_event(
                self.reg, ref, "Warning", f.reason, f"{f.message}; action: {f.action}", COMPONENT
            )
            history.append(
                {"time": now_rfc3339(), "check": f.check, "message": f.message, "action": f.action}
            )
        # Faults that went away may be announced again if they come back.
        mon.reported &= {f"{f.check}|{f.message}" for f in found}
        meta: Obj = {}
        if history != recent_faults(node):
            meta.setdefault("annotations", {})[h.FAULTS_ANNOTATION] = json.dumps(
                history[-self.config.recent_faults :]
            )
        bad_gpus = sorted({f.gpu for f in found if f.gpu and f.action == "device"})
        old_bad = ann.get(h.UNHEALTHY_DEVICES_ANNOTATION)
        if json.dumps(bad_gpus) != (old_bad or "[]"):
            meta.setdefault("annotations", {})[h.UNHEALTHY_DEVICES_ANNOTATION] = (
                json.dumps(bad_gpus) if bad_gpus else None
            )
        patch: Obj = {}
        if wanted != current:
            meta.setdefault("labels", {})[h.HEALTH_LABEL] = wanted
            patch["spec"] = {"taints": with_health_taints(node, wanted)}
            cause = "; ".join(f.message for f in node_wide) or "no fault found"
            record_event(
                self.reg,
                ref,
                "Normal" if wanted == h.SCHEDULABLE else "Warning",
                "NodeHealthStatusChanged",
                f"Node {name} health status {current} -> {wanted}: {cause}",
                COMPONENT,
            )
        if meta:
            patch["metadata"] = meta
        if patch:
            node = self.reg.patch("nodes", name, patch, PatchType.MERGE)
        self._set_status(node, found, bad_gpus)
        if bad_gpus:
            self._evict_device_holders(name, found, set(bad_gpus))
        if wanted in (h.PENDING_REBOOT, h.PENDING_REPLACEMENT):
            cause = "; ".join(f.message for f in node_wide) or "fault recorded earlier"
            pods = list(self.pods.cache.values())
            health_eviction.evict(
                self.reg,
                pods,
                name,
                health_taints(wanted, now_rfc3339()),
                f"node {name} is {wanted} ({cause})",
                self.data_dir,
            )
            health_eviction.force_clear(self.reg, pods, name, self.config.eviction_timeout_seconds)

    def _evict_device_holders(self, name: str, found: list[checks.Finding], bad: set[str]) -> None:
        """Pods holding a GPU that turned unhealthy lose it: they are evicted like on a faulty node."""
        holders = []
        for pod in self.pods.cache.values():
            if (pod.get("spec") or {}).get("nodeName") != name:
                continue
            held = {uuid for per in devmod.allocation_of(pod).values() for uuid in per.get(GPU, [])}
            if held & bad:
                holders.append(pod)
        if not holders:
            return
        cause = "; ".join(f.message for f in found if f.gpu in bad)
        always = [{"key": h.HEALTH_LABEL, "value": "UnhealthyDevice", "effect": "NoExecute"}]
        health_eviction.evict(
            self.reg,
            holders,
            name,
            always,
            f"a GPU it holds on node {name} is unhealthy ({cause})",
            self.data_dir,
        )

    def _set_status(self, node: Obj, found: list[checks.Finding], bad_gpus: list[str]) -> None:
        """Conditions and allocatable; written only when they change (Conflict: next poll)."""
        node = copy.deepcopy(node)
        status = node.setdefault("status", {})
        now = now_rfc3339()

        def about(*kinds: str) -> list[checks.Finding]:
            return [f for f in found if f.check in kinds]

        wanted = {
            h.GPU_CONDITION: about(
                "gpu-xid", "gpu-ecc", "gpu-count", "gpu-temperature", "gpu-remap"
            ),
            h.EFA_CONDITION: about("efa"),
            h.KUBELET_CONDITION: about("kubelet"),
            "DiskPressure": about("disk"),
            "MemoryPressure": about("memory"),
        }
        ok_reason = {
            h.GPU_CONDITION: ("GpuHealthy", "all GPUs pass the health checks"),
            h.EFA_CONDITION: ("EfaHealthy", "all EFA devices present"),
            h.KUBELET_CONDITION: ("KubeletHealthy", "kubelet is renewing its Lease"),
            "DiskPressure": ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            "MemoryPressure": (
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
        }
        conds = list(status.get("conditions") or [])
        changed = False
        for type_, fs in wanted.items():
            problem = bool(fs)
            reason, message = (
                (fs[0].reason, "; ".join(f.message for f in fs)) if fs else ok_reason[type_]
            )
            old = next((c for c in conds if c.get("type") == type_), None)
            if (
                old is not None
                and old.get("status") == ("True" if problem else "False")
                and old.get("message") == message
            ):
                continue
            new = _cond(type_, problem, reason, message, now)
            if old is not None and old.get("status") == new["status"]:
                new["lastTransitionTime"] = old.get("lastTransitionTime", now)
            conds = [c for c in conds if c.get("type") != type_] + [new]
            changed = True
        cap = status.get("capacity") or {}
        alloc = dict(status.get("allocatable") or {})
        if GPU in cap:
            want_gpu = str(max(0, int(str(cap[GPU])) - len(bad_gpus)))
            if alloc.get(GPU) != want_gpu:
                alloc[GPU] = want_gpu
                status["allocatable"] = alloc
                changed = True
        if not changed:
            return
        status["conditions"] = conds
        with contextlib.suppress(Conflict, NotFound):
            self.reg.update("nodes/status", node)

    # ------------------------------------------------------------------ loop
    def check(self, node: Obj) -> None:
        name = node["metadata"]["name"]
        if name in self.busy or node["metadata"].get("deletionTimestamp"):
            return
        mon = self.monitor(node)
        if mon is None:
            return
        text = (node["metadata"].get("annotations") or {}).get(h.INJECT_ANNOTATION)
        rv = str(node["metadata"].get("resourceVersion"))
        if text and rv == mon.consumed:
            text = None  # already injected; the cache has not seen the annotation go yet
        if text:
            mon.consumed = rv
            self._inject(node, mon, text)
        found = self.findings(node, mon, time.time())
        # After an injection read the node back (the cache may still hold the annotation).
        fresh = self.reg.try_get("nodes", name) if text else node
        if fresh is not None:
            self.apply(fresh, mon, found)

    def poll(self) -> None:
        for node in list(self.nodes.cache.values()):
            try:
                self.check(node)
            except (Conflict, NotFound):
                continue
            except ApiError:
                log.exception("health agent: updating %s failed", node["metadata"]["name"])
        for gone in [n for n in self.monitors if n not in self.nodes.cache]:
            del self.monitors[gone]

    def _on_node(self, typ: str, node: Obj, old: Obj | None) -> None:
        ann = (node.get("metadata") or {}).get("annotations") or {}
        if typ != "DELETED" and ann.get(h.INJECT_ANNOTATION):
            # Injections act at once, not at the next poll.
            loop = asyncio.get_running_loop()
            loop.call_soon(self._check_now, node["metadata"]["name"])

    def _check_now(self, name: str) -> None:
        node = self.nodes.cache.get(name)
        if node is None:
            return
        try:
            self.check(node)
        except ApiError:
            log.exception("health agent: checking %s failed", name)

    async def start(self) -> None:
        self.nodes.add_handler(self._on_node)
        for inf in (self.nodes, self.leases, self.pods):
            inf.start()
        await asyncio.gather(self.nodes.synced.wait(), self.pods.synced.wait())

    async def stop(self) -> None:
        for inf in (self.nodes, self.leases, self.pods):
            await inf.stop()
