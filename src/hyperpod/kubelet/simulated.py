"""The simulated kubelet: pods bound to simulated (kwok-like) nodes run no process.

A pod on a simulated node goes Running at once (containers running, Ready) and, after the
duration in the annotation ``hyperpod.local/simulate-duration`` (``"2s"``, ``"500ms"``,
``"1m"``, ``"1h"``; absent: runs until deleted), terminates with the exit code in
``hyperpod.local/simulate-exit-code`` (default 0): Succeeded, or Failed under restartPolicy
Never. A malformed annotation fails the pod at once (reason ``InvalidSimulation``, the message
names the annotation). Under OnFailure (non-zero) and Always it restarts like a real container (restartCount,
lastState). Each pod gets its own IP from ``kubelet.simulatedPodIPRange`` where nothing listens
(``runtime/simulated_net.py``). Deletion is immediate (there is nothing to stop). No events are written and no
logs kept, so thousands of pods stay cheap; timers are loop callbacks, not tasks. The simulated
kubelet also registers the nodes of ``nodes.simulated`` and renews their Leases; it follows
simulated nodes that join later (replacements made by node recovery) and skips config nodes that
an existing node's ``hyperpod.local/replaced-nodes`` says were replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
from datetime import UTC, datetime
from typing import Any

from hyperpod.apiserver.errors import ApiError, Conflict, NotFound
from hyperpod.runtime import nodes
from hyperpod.runtime.context import Component, ControlPlaneContext
from hyperpod.runtime.machinery import Informer, object_key
from hyperpod.runtime.simulated_net import SimulatedAddresses, simulated_range

log = logging.getLogger(__name__)
Obj = dict[str, Any]
DURATION = "hyperpod.local/simulate-duration"
EXIT_CODE = "hyperpod.local/simulate-exit-code"
REPLACED = "hyperpod.local/replaced-nodes"
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "": 1.0}


def parse_duration(text: str) -> float:
    """``"2s"``, ``"1.5m"``, ``"500ms"``, ``"1h30m"`` -> seconds; ValueError names the format."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|)", text.strip())
    if not parts or "".join(a + b for a, b in parts) != text.strip():
        raise ValueError(f"{DURATION}: {text!r} is not a duration (examples: 500ms, 2s, 1m, 1h30m)")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def _ts(t: float | None = None) -> str:
    return datetime.fromtimestamp(t if t is not None else time.time(), UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def _parse_ts(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def _conditions(phase: str, ready: bool, now: str) -> list[Obj]:
    """Initialized, Ready, ContainersReady and PodScheduled, all changed at ``now``."""
    conds: list[Obj] = [
        {
            "type": type_,
            "status": "True" if ok else "False",
            "lastProbeTime": None,
            "lastTransitionTime": now,
        }
        for type_, ok in (
            ("Initialized", True),
            ("Ready", ready),
            ("ContainersReady", ready),
            ("PodScheduled", True),
        )
    ]
    if not ready:
        for c in conds[1:3]:
            c["reason"] = (
                "PodCompleted" if phase in ("Succeeded", "Failed") else "ContainersNotReady"
            )
    return conds


def _init_status(c: Obj, now: str) -> Obj:
    """An init container of a simulated pod: completed at ``now``."""
    return {
        "name": c["name"],
        "state": {
            "terminated": {
                "exitCode": 0,
                "reason": "Completed",
                "startedAt": now,
                "finishedAt": now,
            }
        },
        "lastState": {},
        "ready": True,
        "restartCount": 0,
        "image": c.get("image", ""),
        "imageID": "",
        "started": False,
    }


class SimulatedKubelet:
    def __init__(self, ctx: ControlPlaneContext) -> None:
        self.ctx = ctx
        self.reg = ctx.reg
        self.heartbeat = ctx.config.kubelet.simulated_heartbeat_seconds
        self.node_objs = nodes.simulated_nodes(ctx.config)
        self.names = {n["metadata"]["name"] for n in self.node_objs}
        self.pods = Informer(self.reg, "pods")
        self.node_informer = Informer(
            self.reg, "nodes", label_selector=f"{nodes.SIMULATED_LABEL}=true"
        )
        self.timers: dict[str, asyncio.TimerHandle] = {}
        self.names_changed = False
        self.paused: set[str] = set()  # nodes whose heartbeat is switched off (annotation)
        self.ips = SimulatedAddresses(simulated_range(ctx.config.kubelet.simulated_pod_ip_range))

    # ------------------------------------------------------------------ pods
    def _on_pod(self, typ: str, pod: Obj, old: Obj | None) -> None:
        node = (pod.get("spec") or {}).get("nodeName")
        if node not in self.names:
            return
        key = object_key(pod)
        uid = str(pod["metadata"].get("uid") or "")
        if typ == "DELETED":
            self.ips.release(uid)
            t = self.timers.pop(key, None)
            if t is not None:
                t.cancel()
            return
        if pod["metadata"].get("deletionTimestamp"):
            t = self.timers.pop(key, None)
            if t is not None:
                t.cancel()
            if node in self.paused:
                return  # an unreachable node's kubelet cannot confirm anything
            with contextlib.suppress(NotFound, Conflict):
                self.reg.delete(
                    "pods",
                    pod["metadata"]["name"],
                    pod["metadata"]["namespace"],
                    grace_period_seconds=0,
                    preconditions={"uid": pod["metadata"]["uid"]},
                )
            return
        self.ips.keep(uid, (pod.get("status") or {}).get("podIP"))
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed") or key in self.timers:
            return
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        if phase == "Running" and statuses and "running" in statuses[0].get("state", {}):
            started = _parse_ts(statuses[0]["state"]["running"]["startedAt"])
            self._arm(pod, started)
            return
        self._start(pod, restarts=0, last_state={})

    def _status(self, pod: Obj, phase: str, state: Obj, restarts: int, last: Obj) -> Obj:
        ready = "running" in state
        ip = self.ips.take(str(pod["metadata"].get("uid") or ""))
        now = _ts()
        spec = pod.get("spec") or {}
        names = [c["name"] for c in spec.get("containers") or []]
        images = {c["name"]: c.get("image", "") for c in spec.get("containers") or []}
        status: Obj = {
            "phase": phase,
            "conditions": _conditions(phase, ready, now),
            "hostIP": "127.0.0.1",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": (pod.get("status") or {}).get("startTime") or now,
            "containerStatuses": [
                {
                    "name": n,
                    "state": state,
                    "lastState": last,
                    "ready": ready,
                    "restartCount": restarts,
                    "image": images[n],
                    "imageID": "",
                    "started": ready,
                    "containerID": f"simulated://{pod['metadata']['uid']}/{n}/{restarts}",
                }
                for n in names
            ],
        }
        inits = spec.get("initContainers") or []
        if inits:
            status["initContainerStatuses"] = [_init_status(c, now) for c in inits]
        return status

    def _write(self, pod: Obj, status: Obj) -> Obj | None:
        md = pod["metadata"]
        try:
            fresh = self.reg.get("pods", md["name"], md["namespace"])
        except NotFound:
            return None
        if fresh["metadata"].get("uid") != md.get("uid") or fresh["metadata"].get(
            "deletionTimestamp"
        ):
            return None
        fresh["status"] = status
        try:
            return self.reg.update("pods/status", fresh, md["namespace"])
        except ApiError as exc:
            log.warning("simulated pod %s: status update failed: %s", md["name"], exc)
            return None

    def _start(self, pod: Obj, restarts: int, last_state: Obj) -> None:
        now = time.time()
        state = {"running": {"startedAt": _ts(now)}}
        written = self._write(pod, self._status(pod, "Running", state, restarts, last_state))
        if written is not None:
            self._arm(written, now)

    def _arm(self, pod: Obj, started: float) -> None:
        ann = pod["metadata"].get("annotations") or {}
        raw = ann.get(DURATION)
        if raw is None:
            return
        try:
            duration = parse_duration(str(raw))
            int(ann.get(EXIT_CODE, 0))
        except ValueError as exc:
            message = (
                str(exc)
                if DURATION in str(exc)
                else (f"{EXIT_CODE}: {ann.get(EXIT_CODE)!r} is not a whole number")
            )
            term = {
                "terminated": {
                    "exitCode": 1,
                    "reason": "Error",
                    "message": message,
                    "startedAt": _ts(started),
                    "finishedAt": _ts(),
                }
            }
            status = self._status(pod, "Failed", term, 0, {})
            status.update(reason="InvalidSimulation", message=message)
            self._write(pod, status)
            return
        key = object_key(pod)
        delay = max(0.0, started + duration - time.time())
        loop = asyncio.get_running_loop()
        self.timers[key] = loop.call_later(delay, self._finish, key, started)

    def _finish(self, key: str, started: float) -> None:
        self.timers.pop(key, None)
        pod = self.pods.cache.get(key)
        if pod is None or pod["metadata"].get("deletionTimestamp"):
            return
        ann = pod["metadata"].get("annotations") or {}
        try:
            code = int(ann.get(EXIT_CODE, 0))
        except ValueError:
            code = 1
        policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
        statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
        restarts = int(statuses[0].get("restartCount", 0))
        term = {
            "terminated": {
                "exitCode": code,
                "reason": "Completed" if code == 0 else "Error",
                "startedAt": _ts(started),
                "finishedAt": _ts(),
                "containerID": f"simulated://{pod['metadata']['uid']}/{restarts}",
            }
        }
        if policy == "Always" or (policy == "OnFailure" and code != 0):
            self._start(pod, restarts + 1, term)
            return
        phase = "Succeeded" if code == 0 else "Failed"
        self._write(pod, self._status(pod, phase, term, restarts, {}))

    # ------------------------------------------------------------------ nodes
    def _beat(self, names: list[str]) -> None:
        for name in names:
            node = self.reg.try_get("nodes", name)
            if node is None:
                continue  # removed (replaced): no Lease for a node that is gone
            ann = (node.get("metadata") or {}).get("annotations") or {}
            if ann.get("hyperpod.local/simulate-heartbeat") == "false":
                self.paused.add(name)
                continue
            self.paused.discard(name)
            try:
                nodes.renew_lease(self.reg, name)
                if node is not None:
                    nodes.mark_ready(self.reg, node)
            except ApiError:
                log.exception("heartbeat of simulated node %s failed", name)

    def _on_node(self, typ: str, node: Obj, old: Obj | None) -> None:
        name = node["metadata"]["name"]
        before = len(self.names)
        if typ == "DELETED":
            self.names.discard(name)
        else:
            self.names.add(name)
        self.names_changed |= len(self.names) != before

    def _replaced(self) -> set[str]:
        out: set[str] = set()
        for node in self.reg.list("nodes", label_selector=f"{nodes.SIMULATED_LABEL}=true"):
            ann = node["metadata"].get("annotations") or {}
            out.update(n for n in (ann.get(REPLACED) or "").split(",") if n)
        return out

    async def run(self) -> None:
        replaced = self._replaced()
        self.node_objs = [n for n in self.node_objs if n["metadata"]["name"] not in replaced]
        self.names -= replaced
        for i, node in enumerate(self.node_objs):
            nodes.register(self.reg, node)
            if i % 50 == 49:
                await asyncio.sleep(0)  # let the API answer while hundreds of nodes register
        self.pods.add_handler(self._on_pod)
        self.pods.start()
        self.node_informer.add_handler(self._on_node)
        self.node_informer.start()
        order = sorted(self.names)
        # Spread the heartbeats: a slice of the nodes every tick, all of them per period.
        tick = min(1.0, self.heartbeat)
        per_tick = max(1, math.ceil(len(order) * tick / self.heartbeat))
        nxt = 0
        try:
            while not self.ctx.stopping.is_set():
                if self.names_changed:
                    self.names_changed = False
                    order = sorted(self.names)
                    per_tick = max(1, math.ceil(len(order) * tick / self.heartbeat))
                self._beat(
                    [order[(nxt + i) % len(order)] for i in range(min(per_tick, len(order)))]
                )
                nxt = (nxt + per_tick) % max(1, len(order))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.ctx.stopping.wait(), tick)
        finally:
            for t in self.timers.values():
                t.cancel()
            await self.pods.stop()
            await self.node_informer.stop()


async def _run(ctx: ControlPlaneContext) -> None:
    if not ctx.config.nodes.simulated:
        return
    try:
        kubelet = SimulatedKubelet(ctx)
    except (ValueError, TypeError) as exc:
        log.error("simulated nodes not started: bad cluster config: %s", exc)
        return
    await kubelet.run()


def component() -> Component:
    return Component(name="simulated-kubelet", start=_run)
