"""The Kueue controller: keeps queues and a quota snapshot current and runs admission cycles.

It watches ResourceFlavors, ClusterQueues, Cohorts, LocalQueues, WorkloadPriorityClasses,
Namespaces and Workloads through informers, queues pending Workloads per ClusterQueue, and
after every change runs :func:`scheduler.cycle` until nothing more can be admitted. Results
become Workload status writes (admission, conditions with messages that say what is missing,
eviction), events, and ClusterQueue / LocalQueue status. Writes go through the registry with a
fresh read in the same event-loop step, so they never race a client's write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from hyperpod.api import kueue as api
from hyperpod.api.controlplane_config import KueueConfig
from hyperpod.apiserver.errors import ApiError, NotFound
from hyperpod.apiserver.registry import Registry
from hyperpod.apiserver.selectors import label_selector_from_dict
from hyperpod.controllers.kueue import podsready, topology
from hyperpod.controllers.kueue.queues import QueueManager
from hyperpod.controllers.kueue.scheduler import CycleResult, cycle
from hyperpod.controllers.kueue.snapshot import (
    NOTHING,
    ClusterQueue,
    CohortNode,
    Snapshot,
    WorkloadInfo,
    admission_wire,
    cluster_queue_from,
    cohort_args,
    condition,
    flavor_from,
    is_true,
    timestamp,
    workload_from,
)
from hyperpod.runtime.machinery import Informer, object_key, record_event, set_condition
from hyperpod.storage.watchcache import DELETED

log = logging.getLogger(__name__)

Obj = dict[str, Any]
COMPONENT = "kueue-admission"

WORKLOADS = f"workloads.{api.GROUP}"
WORKLOADS_STATUS = f"{WORKLOADS}/status"
CLUSTER_QUEUES = f"clusterqueues.{api.GROUP}"
LOCAL_QUEUES = f"localqueues.{api.GROUP}"
FLAVORS = f"resourceflavors.{api.GROUP}"
PRIORITY_CLASSES = f"workloadpriorityclasses.{api.GROUP}"
COHORTS = f"cohorts.{api.GROUP}"
K8S_PRIORITY_CLASSES = "priorityclasses.scheduling.k8s.io"

WPC_SOURCE = "kueue.x-k8s.io/workloadpriorityclass"
PC_SOURCE = "scheduling.k8s.io/priorityclass"
POLICY_NAMESPACE = "kube-system"  # where `hyp create cluster-policy` writes its ConfigMap
POLICY_CONFIGMAP = "hyperpod-cluster-policy"


TRANSIENT = "Workload no longer fits after processing another workload"
_DIGITS = re.compile(r"[0-9.]+[a-zA-Z]*")


def _shape(message: str) -> str:
    """A message with its amounts blanked, to tell a new reason from a new amount."""
    return _DIGITS.sub("#", message)


def _rv(obj: Obj) -> int:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


class KueueManager:
    """Queues, snapshot and the admission loop of one control plane."""

    def __init__(self, reg: Registry, config: KueueConfig | None = None) -> None:
        self.reg = reg
        kcfg = config if config is not None else KueueConfig.model_validate({})
        self.fair_sharing = kcfg.fair_sharing.enable
        self._fair_sharing_default = self.fair_sharing
        self.pods_ready = podsready.PodsReadyConfig.from_config(kcfg.wait_for_pods_ready)
        self.queues = QueueManager()
        self.snapshot = Snapshot()
        self.admitted: dict[str, WorkloadInfo] = {}
        self.rv: dict[str, int] = {}
        self.pending_notes: dict[str, tuple[str, str]] = {}  # key -> (reason, message) to write
        self.on_workload_change: list[Callable[[Obj], None]] = []
        self._stale = True
        self._status_dirty = True
        self._wake = asyncio.Event()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self.informers: dict[str, Informer] = {}
        self._needs_priority: set[str] = set()
        self._retry_priorities = False
        self._deactivated: set[str] = set()
        self._preempting: set[str] = set()  # preemptors whose victims were evicted
        self._waiting_priority: set[str] = set()
        self.cycles = 0
        self.topology = topology.Placer(reg)

    # ------------------------------------------------------------------ informers
    def _informer(self, resource: str, handler: Callable[[str, Obj, Obj | None], None]) -> Informer:
        inf = Informer(self.reg, resource)
        inf.add_handler(handler)
        self.informers[resource] = inf
        return inf

    def start_informers(self) -> None:
        for res in (FLAVORS, CLUSTER_QUEUES, COHORTS, PRIORITY_CLASSES, "namespaces"):
            self._informer(res, self._on_config_change)
        self._informer(LOCAL_QUEUES, self._on_local_queue)
        if self.reg.catalog.get(K8S_PRIORITY_CLASSES) is not None:
            self._informer(K8S_PRIORITY_CLASSES, self._on_config_change)
        policy = Informer(
            self.reg,
            "configmaps",
            POLICY_NAMESPACE,
            field_selector=f"metadata.name={POLICY_CONFIGMAP}",
        )
        policy.add_handler(self._on_policy)
        self.informers["policy"] = policy
        self._informer(WORKLOADS, self._on_workload)
        for inf in self.informers.values():
            inf.start()

    async def wait_synced(self) -> None:
        await asyncio.gather(*(inf.synced.wait() for inf in self.informers.values()))

    async def stop(self) -> None:
        for t in self._timers.values():
            t.cancel()
        for inf in self.informers.values():
            await inf.stop()

    def wake(self) -> None:
        self._wake.set()

    def _on_config_change(self, typ: str, obj: Obj, old: Obj | None) -> None:
        if obj.get("kind") in ("WorkloadPriorityClass", "PriorityClass"):
            self._retry_priorities = True
        self._stale = True
        self._status_dirty = True
        self.wake()

    def _on_policy(self, typ: str, obj: Obj, old: Obj | None) -> None:
        """The HyperPod cluster policy ConfigMap switches fair sharing on or off."""
        value = (obj.get("data") or {}).get("fairSharing") if typ != DELETED else None
        if value is None:
            self.fair_sharing = self._fair_sharing_default
        else:
            self.fair_sharing = value.lower() in ("enabled", "true", "on")
        self._status_dirty = True
        self.queues.requeue_inadmissible(None)
        self.wake()

    def _on_local_queue(self, typ: str, obj: Obj, old: Obj | None) -> None:
        if typ != DELETED and old is not None and old.get("spec") == obj.get("spec"):
            return  # a status write of ours
        self._stale = True
        self._status_dirty = True
        ns = (obj.get("metadata") or {}).get("namespace")
        name = (obj.get("metadata") or {}).get("name")
        wls = self.informers.get(WORKLOADS)
        if wls is not None:
            for wl in wls.list():
                md = wl.get("metadata") or {}
                if md.get("namespace") == ns and (wl.get("spec") or {}).get("queueName") == name:
                    self._observe(object_key(wl), wl)
        self.wake()

    def _on_workload(self, typ: str, obj: Obj, old: Obj | None) -> None:
        key = object_key(obj)
        self._status_dirty = True
        if typ == DELETED:
            self._preempting.discard(key)
            self.rv.pop(key, None)
            self.queues.remove(key)
            self.pending_notes.pop(key, None)
            prev = self.admitted.pop(key, None)
            if prev is not None:
                self.snapshot.remove_workload(prev)
                self._freed(prev.cluster_queue)
            self.wake()
            return
        rv = _rv(obj)
        if rv < self.rv.get(key, 0):
            return  # older than something we already acted on
        self.rv[key] = rv
        self._observe(key, obj)
        for fn in self.on_workload_change:
            fn(obj)

    # ------------------------------------------------------------------ bookkeeping
    def _local_queue(self, namespace: str, name: str) -> Obj | None:
        inf = self.informers.get(LOCAL_QUEUES)
        return inf.get(f"{namespace}/{name}") if inf is not None else None

    def cluster_queue_for(self, obj: Obj) -> str | None:
        md = obj.get("metadata") or {}
        lq = self._local_queue(
            md.get("namespace", ""), (obj.get("spec") or {}).get("queueName", "")
        )
        return None if lq is None else (lq.get("spec") or {}).get("clusterQueue")

    def _observe(self, key: str, obj: Obj) -> None:
        """Place a workload: quota holder in the snapshot, pending in its queue, or neither."""
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        admission = status.get("admission")
        finished = is_true(obj, "Finished")
        active = spec.get("active", True) is not False
        if admission and not finished:
            self.queues.remove(key)
            self.pending_notes.pop(key, None)
            info = workload_from(obj, admission.get("clusterQueue"))
            prev = self.admitted.get(key)
            if (
                prev is None
                or prev.usage() != info.usage()
                or prev.cluster_queue != info.cluster_queue
            ):
                if prev is not None:
                    self.snapshot.remove_workload(prev)
                self.admitted[key] = info
                self.snapshot.add_workload(info)
            else:
                prev.priority = info.priority
            if not active:
                self._deactivated.add(key)
                self.wake()
            return
        prev = self.admitted.pop(key, None)
        if prev is not None:
            self.snapshot.remove_workload(prev)
            self._freed(prev.cluster_queue)
        if finished or not active:
            self.queues.remove(key)
            self.pending_notes.pop(key, None)
            self.wake()
            return
        md = obj.get("metadata") or {}
        queue_name = spec.get("queueName") or ""
        if not queue_name:
            self.queues.remove(key)
            self._note(
                key, obj, "Pending", "Workload has no spec.queueName; set it to a LocalQueue"
            )
            return
        lq = self._local_queue(md.get("namespace", ""), queue_name)
        if lq is None:
            self.queues.remove(key)
            self._note(
                key,
                obj,
                "Pending",
                f"LocalQueue {queue_name} doesn't exist in namespace {md.get('namespace')}",
            )
            return
        lq_stop = (lq.get("spec") or {}).get("stopPolicy") or "None"
        if lq_stop != "None":
            self.queues.remove(key)
            self._note(key, obj, "Pending", f"LocalQueue {queue_name} is stopped")
            return
        if spec.get("priorityClassName") and spec.get("priority") is None:
            self.queues.remove(key)
            self._needs_priority.add(key)  # resolved in the loop
            self.wake()
            return
        requeue_at = timestamp((status.get("requeueState") or {}).get("requeueAt"))
        delay = requeue_at - time.time()
        if delay > 0:
            self.queues.remove(key)
            self._later(key, delay)
            return
        cq = (lq.get("spec") or {}).get("clusterQueue") or ""
        info = workload_from(
            obj, cq, order_by_eviction=self.pods_ready.requeuing_timestamp == "Eviction"
        )
        self.queues.push(cq, info)
        if cq not in self.snapshot.cluster_queues and not self._stale:
            self._note(key, obj, "Pending", f"ClusterQueue {cq} doesn't exist")
        self.wake()

    def _note(self, key: str, obj: Obj, reason: str, message: str) -> None:
        """Queue a QuotaReserved=False message; amounts alone changing is not worth a write."""
        c = condition(obj, "QuotaReserved")
        if (
            c is not None
            and c.get("status") == "False"
            and (message == TRANSIENT or _shape(c.get("message", "")) == _shape(message))
        ):
            return
        self.pending_notes[key] = (reason, message)
        self.wake()

    def _later(self, key: str, delay: float) -> None:
        old = self._timers.pop(key, None)
        if old is not None:
            old.cancel()

        def fire() -> None:
            self._timers.pop(key, None)
            inf = self.informers.get(WORKLOADS)
            obj = inf.get(key) if inf is not None else None
            if obj is not None:
                self._observe(key, obj)

        self._timers[key] = asyncio.get_running_loop().call_later(delay, fire)

    def _cohort_members(self, cq_name: str | None) -> set[str]:
        cq = self.snapshot.cluster_queues.get(cq_name or "")
        if cq is None or cq.parent is None:
            return {cq_name or ""}
        root = cq.root()
        if isinstance(root, CohortNode):
            return {c.name for c in root.cluster_queues()}
        return {cq.name}

    def _freed(self, cq_name: str | None) -> None:
        self.queues.requeue_inadmissible(self._cohort_members(cq_name))
        self.wake()

    def rebuild(self) -> None:
        """A new snapshot from the informer caches (after queues, flavors or cohorts change)."""
        snap = Snapshot()
        flavors = self.informers[FLAVORS].cache
        for obj in flavors.values():
            snap.add_flavor(flavor_from(obj))
        for obj in self.informers[COHORTS].list():
            name, parent, quotas, weight = cohort_args(obj)
            snap.add_cohort(name, parent, quotas, weight)
        names = {f.name for f in snap.flavors.values()}
        for obj in self.informers[CLUSTER_QUEUES].list():
            sel_spec = (obj.get("spec") or {}).get("namespaceSelector", {})
            try:
                selector: Any = (
                    label_selector_from_dict(sel_spec) if sel_spec is not None else NOTHING
                )
            except ValueError:
                selector = NOTHING
            try:
                cq = cluster_queue_from(obj, names, selector)
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("ClusterQueue %s unusable: %s", obj["metadata"]["name"], exc)
                continue
            snap.add_cluster_queue(cq)
            self.queues.set_strategy(cq.name, cq.strategy)
        for obj in self.informers["namespaces"].list():
            md = obj.get("metadata") or {}
            labels = dict(md.get("labels") or {})
            # Kubernetes labels every namespace with its own name; selectors rely on it.
            labels.setdefault("kubernetes.io/metadata.name", md.get("name", ""))
            snap.namespaces[md.get("name", "")] = labels
        for info in self.admitted.values():
            snap.add_workload(info)
        self.snapshot = snap
        self._stale = False
        self.queues.requeue_inadmissible(None)

    # ------------------------------------------------------------------ the loop
    async def run(self, stopping: asyncio.Event) -> None:
        self.start_informers()
        await self.wait_synced()
        self.rebuild()
        for obj in self.informers[WORKLOADS].list():
            self._observe(object_key(obj), obj)
        status_task = asyncio.get_running_loop().create_task(self._status_loop(stopping))
        try:
            while not stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=1.0)
                self._wake.clear()
                try:
                    if self.step(max_cycles=4):
                        self.wake()  # more to do: continue after HTTP requests had a turn
                except Exception:
                    log.exception("kueue admission step failed")
                    await asyncio.sleep(0.5)
                await asyncio.sleep(0)
        finally:
            status_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await status_task
            await self.stop()

    def step(self, max_cycles: int = 200) -> bool:
        """Run admission cycles until nothing more happens (or ``max_cycles``), then write
        pending notes; returns whether the last cycle still changed something."""
        if self._stale:
            self.rebuild()
        self._resolve_priorities()
        self._drain_stopped()
        self._check_pods_ready()
        deactivated, self._deactivated = self._deactivated, set()
        for key in deactivated:
            if key in self.admitted:
                self.evict(key, "Deactivated", "The workload is deactivated (spec.active is false)")
        busy = False
        for _ in range(max_cycles):
            blocked = self._blocked()
            result = cycle(
                self.queues,
                self.snapshot,
                fair_sharing=self.fair_sharing,
                blocked=blocked,
                preempting=self._preempting,
            )
            for wl, _ in result.admitted:
                self._preempting.discard(wl.key)
            for p in result.preempted:
                self._preempting.add(p.preemptor.key)
            self.cycles += 1
            self.apply(result)
            busy = bool(result.admitted or result.preempted)
            if not busy:
                break
        self._write_notes()
        return busy

    def _blocked(self) -> set[str] | None:
        if not self.pods_ready.enable or not self.pods_ready.block_admission:
            return None
        ready = [self._pods_ready_of(k) for k in self.admitted]
        if podsready.may_admit(self.pods_ready, ready):
            return None
        return set(self.snapshot.cluster_queues)

    def _pods_ready_of(self, key: str) -> bool:
        obj = self.informers[WORKLOADS].get(key)
        return obj is not None and is_true(obj, "PodsReady")

    # ------------------------------------------------------------------ writes
    def _get_workload(self, key: str) -> Obj | None:
        ns, _, name = key.partition("/")
        return self.reg.try_get(WORKLOADS, name, ns)

    def _write_status(self, obj: Obj) -> Obj:
        md = obj["metadata"]
        out = self.reg.update(WORKLOADS_STATUS, obj, md.get("namespace"))
        self.rv[object_key(out)] = _rv(out)
        return out

    def apply(self, result: CycleResult) -> None:
        for wl, _ in result.admitted:
            self._admit(wl)
        for p in result.preempted:
            self.evict(
                p.workload.key,
                "Preempted",
                p.message,
                preempted_reason=p.reason,
            )
        for key, pending in result.pending.items():
            obj = self.informers[WORKLOADS].get(key)
            if obj is not None:
                self._note(key, obj, pending.reason, pending.message)

    def _admit(self, wl: WorkloadInfo) -> None:
        obj = self._get_workload(wl.key)
        if obj is None or (obj.get("status") or {}).get("admission"):
            self.snapshot.remove_workload(wl)
            return
        cq = wl.cluster_queue or ""
        status = obj.setdefault("status", {})
        status["admission"] = admission_wire(cq, wl.assignments or [])
        self.topology.prune(self.admitted)
        flavors = self.informers[FLAVORS].cache
        unplaced = self.topology.place(wl.key, obj, status["admission"], flavors)
        if unplaced is not None:  # a required topology has no domain with room yet
            self.snapshot.remove_workload(wl)
            self._note(wl.key, obj, "Pending", unplaced)
            self._later(wl.key, topology.RETRY_SECONDS)
            return
        conds = status.setdefault("conditions", [])
        waited = max(0.0, time.time() - timestamp(obj["metadata"].get("creationTimestamp")))
        set_condition(
            conds, "QuotaReserved", "True", "QuotaReserved", f"Quota reserved in ClusterQueue {cq}"
        )
        set_condition(conds, "Admitted", "True", "Admitted", "The workload is admitted")
        evicted = condition(obj, "Evicted")
        if evicted is not None:
            set_condition(
                conds,
                "Evicted",
                "False",
                "QuotaReserved",
                f"Previously: {evicted.get('message', '')}",
            )
        if condition(obj, "Preempted") is not None:
            set_condition(conds, "Preempted", "False", "QuotaReserved", "")
        if condition(obj, "Requeued") is not None:
            set_condition(conds, "Requeued", "True", "QuotaReserved", "")
        try:
            out = self._write_status(obj)
        except ApiError as exc:
            log.info("admission of %s not written: %s", wl.key, exc)
            self.snapshot.remove_workload(wl)
            return
        wl.reserved_at = time.time()
        self.admitted[wl.key] = wl
        self.pending_notes.pop(wl.key, None)
        self._status_dirty = True
        record_event(
            self.reg,
            out,
            "Normal",
            "Admitted",
            f"Admitted by ClusterQueue {cq}, wait time since queued was {waited:.0f}s",
            COMPONENT,
        )
        for fn in self.on_workload_change:
            fn(out)

    def evict(
        self,
        key: str,
        reason: str,
        message: str,
        *,
        preempted_reason: str | None = None,
        requeue_state: Obj | None = None,
        deactivate: bool = False,
    ) -> None:
        """Evict a workload: conditions say why, its quota is released, it goes back in line."""
        obj = self._get_workload(key)
        if obj is None:
            return
        status = obj.setdefault("status", {})
        conds = status.setdefault("conditions", [])
        set_condition(conds, "Evicted", "True", reason, message)
        if preempted_reason:
            set_condition(conds, "Preempted", "True", preempted_reason, message)
        set_condition(conds, "QuotaReserved", "False", reason, message)
        set_condition(
            conds, "Admitted", "False", "NoReservation", "The workload has no reservation"
        )
        if is_true(obj, "PodsReady"):
            set_condition(
                conds, "PodsReady", "False", "PodsReady", "Not all pods are ready or succeeded"
            )
        set_condition(conds, "Requeued", "False" if deactivate else "True", reason, message)
        status.pop("admission", None)
        if requeue_state is not None:
            status["requeueState"] = requeue_state
        try:
            out = self._write_status(obj)
        except NotFound:
            return
        prev = self.admitted.pop(key, None)
        if prev is not None:
            self.snapshot.remove_workload(prev)
            self._freed(prev.cluster_queue)
        self._status_dirty = True
        record_event(
            self.reg,
            out,
            "Normal",
            reason if not preempted_reason else "Preempted",
            message,
            COMPONENT,
        )
        if deactivate:
            fresh = self._get_workload(key)
            if fresh is not None:
                fresh["spec"]["active"] = False
                with contextlib.suppress(ApiError):
                    self.reg.update(WORKLOADS, fresh, fresh["metadata"].get("namespace"))
        for fn in self.on_workload_change:
            fn(out)

    def _write_notes(self) -> None:
        notes, self.pending_notes = self.pending_notes, {}
        for key, (reason, message) in notes.items():
            if key in self.admitted:
                continue
            obj = self._get_workload(key)
            if obj is None or (obj.get("status") or {}).get("admission"):
                continue
            c = condition(obj, "QuotaReserved")
            if c is not None and c.get("status") == "False" and c.get("message") == message:
                continue
            conds = obj.setdefault("status", {}).setdefault("conditions", [])
            set_condition(conds, "QuotaReserved", "False", reason, message)
            try:
                self._write_status(obj)
            except ApiError as exc:
                log.debug("pending note for %s not written: %s", key, exc)

    # ------------------------------------------------------------------ priorities
    def _resolve_priorities(self) -> None:
        inf = self.informers[WORKLOADS]
        keys, self._needs_priority = self._needs_priority, set()
        if self._retry_priorities:
            self._retry_priorities = False
            keys |= self._waiting_priority
            self._waiting_priority = set()
        for key in keys:
            obj = inf.get(key)
            if obj is None:
                continue
            spec = obj.get("spec") or {}
            if not spec.get("priorityClassName") or spec.get("priority") is not None:
                continue
            if (obj.get("status") or {}).get("admission") or is_true(obj, "Finished"):
                continue
            value, source = self.priority_of(
                spec["priorityClassName"], spec.get("priorityClassSource")
            )
            if value is None:
                self._waiting_priority.add(key)
                self._note(
                    key,
                    obj,
                    "Pending",
                    f"WorkloadPriorityClass {spec['priorityClassName']} doesn't exist;"
                    " create it or remove spec.priorityClassName",
                )
                continue
            fresh = self._get_workload(key)
            if fresh is None:
                continue
            fresh["spec"]["priority"] = value
            fresh["spec"]["priorityClassSource"] = source
            with contextlib.suppress(ApiError):
                self.reg.update(WORKLOADS, fresh, fresh["metadata"].get("namespace"))

    def priority_of(self, name: str, source: str | None = None) -> tuple[int | None, str]:
        """Value of a WorkloadPriorityClass (preferred) or a Kubernetes PriorityClass."""
        if source != PC_SOURCE:
            wpc = self.reg.try_get(PRIORITY_CLASSES, name)
            if wpc is not None:
                return int(wpc.get("value") or 0), WPC_SOURCE
        if self.reg.catalog.get(K8S_PRIORITY_CLASSES) is not None:
            pc = self.reg.try_get(K8S_PRIORITY_CLASSES, name)
            if pc is not None:
                return int(pc.get("value") or 0), PC_SOURCE
        return None, ""

    # ------------------------------------------------------------------ stop policies, pods ready
    def _drain_stopped(self) -> None:
        for key, info in list(self.admitted.items()):
            cq = self.snapshot.cluster_queues.get(info.cluster_queue or "")
            if cq is not None and cq.stop_policy == "HoldAndDrain":
                self.evict(key, "ClusterQueueStopped", f"The ClusterQueue {cq.name} is stopped")
                continue
            lq = self._local_queue(info.namespace, info.queue_name)
            if lq is not None and (lq.get("spec") or {}).get("stopPolicy") == "HoldAndDrain":
                self.evict(key, "LocalQueueStopped", f"The LocalQueue {info.queue_name} is stopped")

    def _check_pods_ready(self) -> None:
        if not self.pods_ready.enable:
            return
        now = time.time()
        inf = self.informers[WORKLOADS]
        soonest: float | None = None
        for key in list(self.admitted):
            obj = inf.get(key)
            if obj is None:
                continue
            admitted_c = condition(obj, "Admitted")
            admitted_at = timestamp((admitted_c or {}).get("lastTransitionTime")) or now
            ready_c = condition(obj, "PodsReady")
            ready = ready_c is not None and ready_c.get("status") == "True"
            lost_at = None
            if (
                ready_c is not None
                and ready_c.get("status") == "False"
                and ready_c.get("reason") == "PodsReadyLost"
            ):
                lost_at = timestamp(ready_c.get("lastTransitionTime"))
            count = int(((obj.get("status") or {}).get("requeueState") or {}).get("count") or 0)
            d = podsready.check(now, admitted_at, ready, count, self.pods_ready, lost_at)
            if d.action == "wait" and d.recheck_after_s is not None:
                soonest = d.recheck_after_s if soonest is None else min(soonest, d.recheck_after_s)
            elif d.action == "evict":
                self.evict(
                    key,
                    "PodsReadyTimeout",
                    d.message,
                    requeue_state={
                        "count": d.requeue_count,
                        "requeueAt": time.strftime(
                            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(d.requeue_at or now)
                        ),
                    },
                )
            elif d.action == "deactivate":
                self.evict(key, "Deactivated", d.message, deactivate=True)
        if soonest is not None:
            asyncio.get_running_loop().call_later(soonest + 0.05, self.wake)

    # ------------------------------------------------------------------ queue status
    async def _status_loop(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            await asyncio.sleep(1.0)
            if not self._status_dirty or self._stale:
                continue
            self._status_dirty = False
            try:
                self.write_queue_status()
            except Exception:
                log.exception("kueue queue status update failed")

    def write_queue_status(self) -> None:
        for obj in self.informers[CLUSTER_QUEUES].list():
            name = obj["metadata"]["name"]
            cq = self.snapshot.cluster_queues.get(name)
            if cq is None:
                continue
            status = self.cluster_queue_status(cq, obj.get("status") or {})
            if _same_status(obj.get("status") or {}, status):
                continue
            fresh = self.reg.try_get(CLUSTER_QUEUES, name)
            if fresh is None:
                continue
            fresh["status"] = status
            with contextlib.suppress(ApiError):
                self.reg.update(f"{CLUSTER_QUEUES}/status", fresh)
        counts: dict[str, list[int]] = {}
        usage: dict[str, dict[tuple[str, str], int]] = {}
        for info in self.queues.all_pending():
            counts.setdefault(f"{info.namespace}/{info.queue_name}", [0, 0])[0] += 1
        for info in self.admitted.values():
            lq_key = f"{info.namespace}/{info.queue_name}"
            counts.setdefault(lq_key, [0, 0])[1] += 1
            u = usage.setdefault(lq_key, {})
            for fr, v in info.usage().items():
                u[fr] = u.get(fr, 0) + v
        for obj in self.informers[LOCAL_QUEUES].list():
            key = object_key(obj)
            pending, admitted = counts.get(key, [0, 0])
            cq_name = (obj.get("spec") or {}).get("clusterQueue")
            cq = self.snapshot.cluster_queues.get(cq_name or "")
            old = obj.get("status") or {}
            conds = [dict(c) for c in old.get("conditions") or []]
            if cq is None:
                set_condition(
                    conds,
                    "Active",
                    "False",
                    "ClusterQueueDoesNotExist",
                    f"Can't submit new workloads to clusterQueue {cq_name}: it doesn't exist",
                )
            elif not cq.active:
                set_condition(
                    conds,
                    "Active",
                    "False",
                    "ClusterQueueIsInactive",
                    f"Can't submit new workloads to clusterQueue {cq_name}: it is inactive",
                )
            else:
                set_condition(
                    conds, "Active", "True", "Ready", "Can submit new workloads to localQueue"
                )
            flavor_usage = _usage_wire(usage.get(key, {}), None)
            status = {
                "pendingWorkloads": pending,
                "reservingWorkloads": admitted,
                "admittedWorkloads": admitted,
                "conditions": conds,
                "flavorsReservation": flavor_usage,
                "flavorUsage": flavor_usage,
            }
            if _same_status(old, status):
                continue
            ns, _, name = key.partition("/")
            fresh = self.reg.try_get(LOCAL_QUEUES, name, ns)
            if fresh is None:
                continue
            fresh["status"] = status
            with contextlib.suppress(ApiError):
                self.reg.update(f"{LOCAL_QUEUES}/status", fresh, ns)

    def cluster_queue_status(self, cq: ClusterQueue, old: Obj) -> Obj:
        conds = [dict(c) for c in old.get("conditions") or []]
        if cq.inactive_reason:
            reason, _, msg = cq.inactive_reason.partition(": ")
            set_condition(conds, "Active", "False", reason, msg)
        elif cq.stop_policy != "None":
            set_condition(
                conds,
                "Active",
                "False",
                "Stopped",
                f"Can't admit new workloads: stopPolicy is {cq.stop_policy}",
            )
        else:
            set_condition(conds, "Active", "True", "Ready", "Can admit new workloads")
        usage: dict[tuple[str, str], int] = {}
        for info in cq.workloads.values():
            for fr, v in info.usage().items():
                usage[fr] = usage.get(fr, 0) + v
        wire = _usage_wire(usage, cq)
        status: Obj = {
            "pendingWorkloads": self.queues.counts(cq.name),
            "reservingWorkloads": len(cq.workloads),
            "admittedWorkloads": len(cq.workloads),
            "flavorsReservation": wire,
            "flavorsUsage": wire,
            "conditions": conds,
        }
        if self.fair_sharing:
            from hyperpod.controllers.kueue.preemption import dominant_resource_share

            share = dominant_resource_share(cq)
            status["fairSharing"] = {
                "weightedShare": int(share) if share != float("inf") else 2**63 - 1
            }
        return status


def _usage_wire(usage: dict[tuple[str, str], int], cq: ClusterQueue | None) -> list[Obj]:
    order: list[tuple[str, list[str]]] = []
    if cq is not None:
        for g in cq.resource_groups:
            for f in g.flavors:
                order.append((f, list(g.covered)))
    else:
        flavors: dict[str, list[str]] = {}
        for f, r in sorted(usage):
            flavors.setdefault(f, []).append(r)
        order = list(flavors.items())
    out = []
    for f, resources in order:
        rows = []
        for r in resources:
            total = usage.get((f, r), 0)
            row: Obj = {"name": r, "total": api.format_milli(r, total)}
            if cq is not None:
                row["borrowed"] = api.format_milli(r, max(0, total - cq.subtree_quota((f, r))))
            rows.append(row)
        out.append({"name": f, "resources": rows})
    return out


def _same_status(old: Obj, new: Obj) -> bool:
    def strip(s: Obj) -> Obj:
        s = dict(s)
        s["conditions"] = [
            {k: v for k, v in c.items() if k != "lastTransitionTime"}
            for c in s.get("conditions") or []
        ]
        return s

    return strip(old) == strip(new)
