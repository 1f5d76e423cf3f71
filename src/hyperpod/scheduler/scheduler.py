"""The scheduler component: binds pending pods to nodes through ``pods/binding``.

It keeps node views (:class:`NodeInfo`) with the requests of the pods bound to each node, updated
incrementally from the pod informer (and at once after each binding), so one placement costs a
pass over the nodes, not over the pods. Pods wait in a priority queue (PriorityClass value,
then age). A pod that fits nowhere gets ``PodScheduled=False`` / ``Unschedulable`` and a
``FailedScheduling`` event, and waits until a node or a pod changes (or 30 s pass). Every node
is considered (kube-scheduler's percentageOfNodesToScore = 100): static filters are cached per
pod shape and scores live in per-shape heaps that are refreshed only for nodes whose usage
changed (see :meth:`Scheduler.place`).

Preemption: an unschedulable pod (unless ``preemptionPolicy: Never``, on the pod or its
PriorityClass) evicts lower-priority pods from the node where the victims' highest priority,
then their number, is smallest (``Preempted`` event on each victim, ``nominatedNodeName`` on the
pod); it binds once they are gone.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import heapq
import logging
import time
from collections import Counter
from typing import Any

from hyperpod.apiserver.errors import ApiError, Conflict, NotFound
from hyperpod.runtime.context import Component, ControlPlaneContext
from hyperpod.runtime.machinery import Informer, object_key, record_event, set_condition
from hyperpod.scheduler.interpod import InterPodCheck, Placed, required_terms
from hyperpod.scheduler.placement import (
    DEFAULT_SCHEDULER,
    NodeInfo,
    Placement,
    PodInfo,
    filter_node,
    fit_error,
    matches_node_affinity,
    pod_requests,
    queue_order,
    score_node,
    signature,
    static_reason,
)
from hyperpod.scheduler.spread import SpreadCheck, constraints

log = logging.getLogger(__name__)
Obj = dict[str, Any]
COMPONENT = "default-scheduler"
RETRY_UNSCHEDULABLE_S = 30.0
FLUSH_EVERY_S = 0.5
SLICE_S = 0.005  # the most time spent placing pods before yielding to the event loop
TERMINAL = ("Succeeded", "Failed")


class ShapeHeap:
    """Nodes scored for one pod shape: (-score, node, node version) entries, best first.

    ``latest`` is the version of each node's newest entry (older ones are skipped when they
    surface); ``dirty`` names nodes whose usage went down since, to score again (they may newly
    fit, or score higher).
    """

    __slots__ = ("dirty", "entries", "latest")

    def __init__(self) -> None:
        self.entries: list[tuple[float, str, int]] = []
        self.latest: dict[str, int] = {}
        self.dirty: set[str] = set()


class Scheduler:
    def __init__(self, ctx: ControlPlaneContext, name: str = DEFAULT_SCHEDULER) -> None:
        self.ctx = ctx
        self.reg = ctx.reg
        self.name = name
        self.pods = Informer(self.reg, "pods")
        self.nodes_inf = Informer(self.reg, "nodes")
        self.classes = Informer(self.reg, "priorityclasses.scheduling.k8s.io")
        self.nodes: dict[str, NodeInfo] = {}
        self.order: list[str] = []
        self.bound: dict[str, tuple[str, dict[str, int]]] = {}  # pod uid -> (node, requests)
        self.bound_keys: dict[str, str] = {}  # pod uid -> namespace/name
        self.anti_holders: set[str] = set()  # uids of bound pods with required anti-affinity
        self.queue: list[tuple[tuple[int, str, str], str]] = []
        self.queued: set[str] = set()
        self.unschedulable: dict[str, float] = {}  # key -> when it was parked
        self.messages: dict[str, str] = {}
        self.wake = asyncio.Event()
        self.static_cache: dict[str, list[NodeInfo]] = {}
        self.static_names: dict[str, set[str]] = {}
        self.heaps: dict[str, ShapeHeap] = {}
        self.bindings = 0
        self.flush_wanted = False
        self.last_flush = 0.0

    # ------------------------------------------------------------------ caches
    def _account(self, pod: Obj) -> None:
        uid = str(pod["metadata"].get("uid"))
        node = (pod.get("spec") or {}).get("nodeName")
        active = node and (pod.get("status") or {}).get("phase") not in TERMINAL
        prev = self.bound.get(uid)
        if prev is not None and (not active or prev[0] != node):
            info = self.nodes.get(prev[0])
            if info is not None:
                info.add(prev[1], -1)
                self._freed(prev[0])
            del self.bound[uid]
            self.bound_keys.pop(uid, None)
            self.anti_holders.discard(uid)
            self._flush_unschedulable()
            prev = None
        if active and prev is None:
            req = pod_requests(pod)
            self.bound[uid] = (str(node), req)
            self.bound_keys[uid] = object_key(pod)
            if required_terms(pod, "podAntiAffinity"):
                self.anti_holders.add(uid)
            info = self.nodes.get(str(node))
            if info is not None:
                info.add(req)

    def _on_pod(self, typ: str, pod: Obj, old: Obj | None) -> None:
        if typ == "DELETED":
            uid = str(pod["metadata"].get("uid"))
            prev = self.bound.pop(uid, None)
            self.bound_keys.pop(uid, None)
            self.anti_holders.discard(uid)
            if prev is not None:
                info = self.nodes.get(prev[0])
                if info is not None:
                    info.add(prev[1], -1)
                    self._freed(prev[0])
                self._flush_unschedulable()
            key = object_key(pod)
            self.unschedulable.pop(key, None)
            self.messages.pop(key, None)
            return
        self._account(pod)
        if self._pending(pod):
            key = object_key(pod)
            if key not in self.unschedulable or old is None or old.get("spec") != pod.get("spec"):
                self.unschedulable.pop(key, None)
                self._push(pod)

    def _freed(self, node: str) -> None:
        """A node's usage went down: every shape's heap re-scores it at its next placement."""
        for heap in self.heaps.values():
            heap.dirty.add(node)

    def _on_node(self, typ: str, node: Obj, old: Obj | None) -> None:
        name = node["metadata"]["name"]
        prev = self.nodes.get(name)
        if typ == "DELETED":
            if prev is None:
                return
            del self.nodes[name]
            i = bisect.bisect_left(self.order, name)
            if i < len(self.order) and self.order[i] == name:
                del self.order[i]
        else:
            info = NodeInfo.from_node(node)
            if prev is not None and prev.same_view(info):
                return  # a status or annotation change placement does not read
            if prev is not None:
                info.requested = prev.requested
                info.version = prev.version + 1
            else:
                bisect.insort(self.order, name)
                for n, req in self.bound.values():
                    if n == name:
                        info.add(req)
            self.nodes[name] = info
        if self.static_cache or self.heaps:
            self.static_cache.clear()
            self.static_names.clear()
            self.heaps.clear()
        self._flush_unschedulable()

    def _pending(self, pod: Obj) -> bool:
        spec = pod.get("spec") or {}
        return (
            not spec.get("nodeName")
            and not spec.get("schedulingGates")
            and (spec.get("schedulerName") or DEFAULT_SCHEDULER) == self.name
            and not pod["metadata"].get("deletionTimestamp")
            and (pod.get("status") or {}).get("phase") not in TERMINAL
        )

    def _push(self, pod: Obj) -> None:
        key = object_key(pod)
        if key in self.queued:
            return
        info = PodInfo.from_pod(pod)
        info.priority = self._priority(pod)
        self.queued.add(key)
        heapq.heappush(self.queue, (queue_order(info), key))
        self.wake.set()

    def _priority(self, pod: Obj) -> int:
        spec = pod.get("spec") or {}
        if spec.get("priority") is not None:
            return int(spec["priority"])
        cls = spec.get("priorityClassName")
        if cls:
            pc = self.classes.cache.get(cls)
            return int(pc.get("value", 0)) if pc else 0
        for pc in self.classes.cache.values():
            if pc.get("globalDefault"):
                return int(pc.get("value", 0))
        return 0

    def _flush_unschedulable(self) -> None:
        """Ask for a retry of parked pods (done by the loop, at most every FLUSH_EVERY_S)."""
        if self.unschedulable:
            self.flush_wanted = True
            self.wake.set()

    def _retry_parked(self) -> None:
        self.flush_wanted = False
        self.last_flush = time.monotonic()
        keys = list(self.unschedulable)
        self.unschedulable.clear()
        for key in keys:
            pod = self.pods.cache.get(key)
            if pod is not None and self._pending(pod):
                self._push(pod)

    # ------------------------------------------------------------------ one pod
    def _candidates(self, info: PodInfo) -> list[NodeInfo]:
        """Nodes passing the static filters for pods like ``info`` (cached per signature)."""
        sig = signature(info)
        nodes = self.static_cache.get(sig)
        if nodes is None:
            nodes = [
                self.nodes[n] for n in self.order if static_reason(info, self.nodes[n]) is None
            ]
            self.static_cache[sig] = nodes
            self.static_names[sig] = {n.name for n in nodes}
        return nodes

    def _score(self, info: PodInfo, node: NodeInfo) -> float | None:
        """The node's score for ``info``, or None when the pod's requests do not fit."""
        alloc, used = node.allocatable, node.requested
        for k, v in info.requests.items():
            if v > 0 and alloc.get(k, 0) - used.get(k, 0) < v:
                return None
        return score_node(info, node)

    def _placed(self) -> list[Placed]:
        out = []
        for uid, (node, _req) in self.bound.items():
            key = self.bound_keys.get(uid)
            pod = self.pods.cache.get(key) if key else None
            info = self.nodes.get(node)
            if pod is None or info is None:
                continue
            md = pod["metadata"]
            out.append(
                Placed(
                    info.labels,
                    md.get("namespace", "default"),
                    md.get("labels") or {},
                    required_terms(pod, "podAntiAffinity"),
                )
            )
        return out

    def _place_interpod(self, info: PodInfo, pod: Obj) -> Placement:
        """Placement that depends on other pods (topology spread, inter-pod affinity): a full pass."""
        placed = self._placed()
        eligible = [n.labels for n in self.nodes.values() if matches_node_affinity(info, n)]
        spread = SpreadCheck(pod, placed, eligible)
        check = InterPodCheck(pod, placed)

        def reason(labels: dict[str, str]) -> str | None:
            return spread.reason(labels) or check.reason(labels)

        best: NodeInfo | None = None
        best_score = float("-inf")
        for node in self._candidates(info):
            score = self._score(info, node)
            if score is None or reason(node.labels) is not None:
                continue
            if score > best_score:
                best, best_score = node, score
        if best is not None:
            return Placement(best.name)
        reasons: Counter[str] = Counter()
        for name in self.order:
            node = self.nodes[name]
            why = filter_node(info, node)
            if not why:
                extra = reason(node.labels)
                why = [extra] if extra else []
            reasons.update(why)
        return Placement(None, fit_error(len(self.order), reasons), dict(reasons))

    def place(self, info: PodInfo, pod: Obj | None = None) -> Placement:
        """The best-scoring feasible node over all nodes.

        Pods of one shape (same static filters and requests, like the replicas of a job) share
        a heap of (score, node, node version); only nodes whose usage changed since they were
        scored are scored again, so a placement costs O(log n) instead of a pass over the nodes.
        Heaps are dropped when usage goes down or nodes change (a node may newly fit).
        """
        if pod is not None and (
            self.anti_holders
            or required_terms(pod, "podAffinity")
            or required_terms(pod, "podAntiAffinity")
            or constraints(pod)
        ):
            return self._place_interpod(info, pod)
        sig = signature(info)
        shape = sig + repr(sorted(info.requests.items()))
        heap = self.heaps.get(shape)
        if heap is None:
            if len(self.heaps) > 256:
                self.heaps.clear()
            heap = ShapeHeap()
            for node in self._candidates(info):
                score = self._score(info, node)
                if score is not None:
                    heap.entries.append((-score, node.name, node.version))
                    heap.latest[node.name] = node.version
            heapq.heapify(heap.entries)
            self.heaps[shape] = heap
        elif heap.dirty:
            self._candidates(info)
            names = self.static_names[sig]
            for name in heap.dirty:
                current = self.nodes.get(name)
                if current is None or name not in names:
                    continue
                if heap.latest.get(name) == current.version:
                    continue
                score = self._score(info, current)
                if score is not None:
                    heapq.heappush(heap.entries, (-score, name, current.version))
                    heap.latest[name] = current.version
            heap.dirty.clear()
        entries, latest = heap.entries, heap.latest
        while entries:
            _, name, version = entries[0]
            current = self.nodes.get(name)
            if current is not None and current.version == version:
                return Placement(name)
            heapq.heappop(entries)
            if current is None or latest.get(name) != version:
                continue  # a newer entry for this node is in the heap (or it left)
            score = self._score(info, current)
            if score is None:
                del latest[name]
            else:
                heapq.heappush(entries, (-score, name, current.version))
                latest[name] = current.version
        reasons: Counter[str] = Counter()
        for name in self.order:
            reasons.update(filter_node(info, self.nodes[name]))
        return Placement(None, fit_error(len(self.order), reasons), dict(reasons))

    def schedule_one(self, key: str) -> None:
        pod = self.pods.cache.get(key)
        if pod is None or not self._pending(pod):
            return
        info = PodInfo.from_pod(pod)
        result = self.place(info, pod)
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        if result.node is None:
            self._unschedulable(pod, result.message)
            info.priority = self._priority(pod)
            self.preempt(pod, info)
            return
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name, "namespace": ns, "uid": pod["metadata"].get("uid")},
            "target": {"apiVersion": "v1", "kind": "Node", "name": result.node},
        }
        try:
            self.reg.create("pods/binding", binding, ns)
        except (Conflict, NotFound):
            return
        except ApiError as exc:
            log.warning("binding %s to %s failed: %s", key, result.node, exc)
            self.unschedulable[key] = time.monotonic()
            return
        # Assume the pod at once, before the watch event comes back.
        bound = dict(pod)
        bound["spec"] = {**pod["spec"], "nodeName": result.node}
        self._account(bound)
        self.messages.pop(key, None)
        self.bindings += 1
        record_event(
            self.reg,
            pod,
            "Normal",
            "Scheduled",
            f"Successfully assigned {ns}/{name} to {result.node}",
            COMPONENT,
        )

    # ------------------------------------------------------------------ preemption
    def _victims_by_node(self, below: int) -> dict[str, list[tuple[int, str, Obj]]]:
        """Running pods with a priority below ``below``, per node, lowest first."""
        out: dict[str, list[tuple[int, str, Obj]]] = {}
        for uid, (node, _req) in self.bound.items():
            key = self.bound_keys.get(uid)
            pod = self.pods.cache.get(key) if key else None
            if pod is None:
                continue
            prio = self._priority(pod)
            if prio < below:
                ts = pod["metadata"].get("creationTimestamp") or ""
                out.setdefault(node, []).append((prio, ts, pod))
        for victims in out.values():
            victims.sort(key=lambda v: (v[0], v[1]))
        return out

    def preempt(self, pod: Obj, info: PodInfo) -> bool:
        """Evict lower-priority pods from the node where the fewest, least important must go."""
        spec = pod.get("spec") or {}
        if spec.get("preemptionPolicy") == "Never" or not self.bound:
            return False
        cls = self.classes.cache.get(spec.get("priorityClassName") or "")
        if cls and cls.get("preemptionPolicy") == "Never":
            return False
        best: tuple[tuple[int, int], str, list[Obj]] | None = None
        by_node = self._victims_by_node(info.priority)
        if not by_node:
            return False
        for node in self._candidates(info):
            victims = by_node.get(node.name)
            if not victims:
                continue
            if any(v[2]["metadata"].get("deletionTimestamp") for v in victims):
                return True  # an earlier preemption is still making room: wait for it
            free = {k: node.allocatable.get(k, 0) - node.requested.get(k, 0) for k in info.requests}
            chosen: list[Obj] = []
            for _prio, _ts, victim in victims:
                if all(free[k] >= v for k, v in info.requests.items()):
                    break
                chosen.append(victim)
                for k, v in pod_requests(victim).items():
                    if k in free:
                        free[k] += v
            if not chosen or not all(free[k] >= v for k, v in info.requests.items()):
                continue
            rank = (max(self._priority(v) for v in chosen), len(chosen))
            if best is None or rank < best[0]:
                best = (rank, node.name, chosen)
        if best is None:
            return False
        _, node_name, chosen = best
        md = pod["metadata"]
        for victim in chosen:
            vmd = victim["metadata"]
            record_event(
                self.reg,
                victim,
                "Normal",
                "Preempted",
                f"Preempted by pod {md.get('uid')} on node {node_name}",
                COMPONENT,
            )
            with contextlib.suppress(NotFound, Conflict):
                self.reg.delete("pods", vmd["name"], vmd["namespace"])
        try:
            fresh = self.reg.get("pods", md["name"], md["namespace"])
            fresh.setdefault("status", {})["nominatedNodeName"] = node_name
            self.reg.update("pods/status", fresh, md["namespace"])
        except (NotFound, Conflict):
            pass
        return True

    def _unschedulable(self, pod: Obj, message: str) -> None:
        key = object_key(pod)
        self.unschedulable[key] = time.monotonic()
        record_event(self.reg, pod, "Warning", "FailedScheduling", message, COMPONENT)
        if self.messages.get(key) == message:
            return
        self.messages[key] = message
        try:
            fresh = self.reg.get("pods", pod["metadata"]["name"], pod["metadata"]["namespace"])
        except NotFound:
            return
        status = fresh.setdefault("status", {})
        status.setdefault("phase", "Pending")
        conds = status.setdefault("conditions", [])
        set_condition(conds, "PodScheduled", "False", "Unschedulable", message)
        for c in conds:
            if c.get("type") == "PodScheduled":
                c["lastProbeTime"] = None
        with contextlib.suppress(Conflict, NotFound):
            self.reg.update("pods/status", fresh, pod["metadata"]["namespace"])

    # ------------------------------------------------------------------ loop
    async def run(self) -> None:
        self.nodes_inf.add_handler(self._on_node)
        self.pods.add_handler(self._on_pod)
        for inf in (self.classes, self.nodes_inf):
            inf.start()
        await self.nodes_inf.synced.wait()
        self.pods.start()
        stopping = self.ctx.stopping
        last_retry = time.monotonic()
        try:
            while not stopping.is_set():
                now = time.monotonic()
                if now - last_retry > RETRY_UNSCHEDULABLE_S:
                    last_retry = now
                    self._retry_parked()
                if self.flush_wanted and now - self.last_flush >= FLUSH_EVERY_S:
                    self._retry_parked()
                if not self.queue:
                    self.wake.clear()
                    wait = 1.0
                    if self.flush_wanted:
                        wait = max(0.01, FLUSH_EVERY_S - (now - self.last_flush))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.wake.wait(), wait)
                    continue
                # A slice of pods per turn: one pod per turn falls behind while the API serves
                # a burst of creates (each loop turn runs every ready request).
                until = time.perf_counter() + SLICE_S
                while self.queue:
                    _, key = heapq.heappop(self.queue)
                    self.queued.discard(key)
                    try:
                        self.schedule_one(key)
                    except Exception:
                        log.exception("scheduling %s failed", key)
                        self.unschedulable[key] = time.monotonic()
                    if time.perf_counter() >= until:
                        break
                # Yield to the API server and the other components between slices.
                await asyncio.sleep(0)
        finally:
            for inf in (self.pods, self.nodes_inf, self.classes):
                await inf.stop()


async def _run(ctx: ControlPlaneContext) -> None:
    await Scheduler(ctx).run()


def component() -> Component:
    return Component(name="scheduler", start=_run)
