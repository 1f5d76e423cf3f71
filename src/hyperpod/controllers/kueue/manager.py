"""The Kueue controller: wires the per-kind reconcilers to informers and runs the admission loop.

It watches ResourceFlavors, ClusterQueues, Cohorts, LocalQueues, WorkloadPriorityClasses,
Namespaces and Workloads through informers. Each kind has its reconciler around the shared
:class:`state.KueueState` (queues and quota snapshot): :mod:`cluster_queues` rebuilds the
snapshot, :mod:`workload_reconciler` queues Workloads, :mod:`admission` runs
:func:`scheduler.cycle` until nothing more can be admitted and writes the results,
:mod:`eviction` evicts, :mod:`priorities` resolves priority classes and :mod:`queue_status`
writes ClusterQueue / LocalQueue status. The job integrations (:mod:`jobs`, :mod:`batchjobs`,
:mod:`hyperpod_jobs`) use this class's ``informers``, ``on_workload_change``, ``evict`` and
``priority_of``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from hyperpod.api.controlplane_config import KueueConfig
from hyperpod.apiserver.registry import Registry
from hyperpod.controllers.kueue.admission import AdmissionCycle
from hyperpod.controllers.kueue.cluster_queues import (
    POLICY_CONFIGMAP,
    POLICY_NAMESPACE,
    ClusterQueueReconciler,
)
from hyperpod.controllers.kueue.eviction import Evictor
from hyperpod.controllers.kueue.priorities import PriorityResolver
from hyperpod.controllers.kueue.queue_status import QueueStatusWriter
from hyperpod.controllers.kueue.state import (
    CLUSTER_QUEUES,
    COHORTS,
    FLAVORS,
    K8S_PRIORITY_CLASSES,
    LOCAL_QUEUES,
    PRIORITY_CLASSES,
    WORKLOADS,
    KueueState,
    Obj,
)
from hyperpod.controllers.kueue.workload_reconciler import WorkloadReconciler
from hyperpod.runtime.machinery import Informer, object_key

log = logging.getLogger(__name__)


class KueueManager:
    """Queues, snapshot and the admission loop of one control plane."""

    def __init__(self, reg: Registry, config: KueueConfig | None = None) -> None:
        self.state = KueueState(
            reg, config if config is not None else KueueConfig.model_validate({})
        )
        self.reg = reg
        self.informers = self.state.informers
        self.on_workload_change: list[Callable[[Obj], None]] = self.state.on_workload_change
        self.cluster_queues = ClusterQueueReconciler(self.state)
        self.workloads = WorkloadReconciler(self.state)
        self.priorities = PriorityResolver(self.state, self.workloads)
        self.evictor = Evictor(self.state, self.workloads)
        self.admission = AdmissionCycle(
            self.state, self.cluster_queues, self.workloads, self.priorities, self.evictor
        )
        self.queue_status = QueueStatusWriter(self.state)
        self.evict = self.evictor.evict
        self.priority_of = self.priorities.priority_of

    @property
    def fair_sharing(self) -> bool:
        """Whether fair sharing is on now (the cluster policy ConfigMap may switch it)."""
        return self.state.fair_sharing

    # ------------------------------------------------------------------ informers
    def _informer(self, resource: str, handler: Callable[[str, Obj, Obj | None], None]) -> Informer:
        inf = Informer(self.reg, resource)
        inf.add_handler(handler)
        self.informers[resource] = inf
        return inf

    def start_informers(self) -> None:
        for res in (FLAVORS, CLUSTER_QUEUES, COHORTS, PRIORITY_CLASSES, "namespaces"):
            self._informer(res, self.cluster_queues.on_config_change)
        self._informer(LOCAL_QUEUES, self.workloads.on_local_queue)
        if self.reg.catalog.get(K8S_PRIORITY_CLASSES) is not None:
            self._informer(K8S_PRIORITY_CLASSES, self.cluster_queues.on_config_change)
        policy = Informer(
            self.reg,
            "configmaps",
            POLICY_NAMESPACE,
            field_selector=f"metadata.name={POLICY_CONFIGMAP}",
        )
        policy.add_handler(self.cluster_queues.on_policy)
        self.informers["policy"] = policy
        self._informer(WORKLOADS, self.workloads.on_workload)
        for inf in self.informers.values():
            inf.start()

    async def wait_synced(self) -> None:
        await asyncio.gather(*(inf.synced.wait() for inf in self.informers.values()))

    async def stop(self) -> None:
        self.workloads.stop()
        for inf in self.informers.values():
            await inf.stop()

    # ------------------------------------------------------------------ the loop
    async def run(self, stopping: asyncio.Event) -> None:
        self.start_informers()
        await self.wait_synced()
        self.cluster_queues.rebuild()
        for obj in self.informers[WORKLOADS].list():
            self.workloads.observe(object_key(obj), obj)
        status_task = asyncio.get_running_loop().create_task(self.queue_status.loop(stopping))
        try:
            while not stopping.is_set():
                await self.state.wait_woken(timeout=1.0)
                try:
                    if self.admission.step(max_cycles=4):
                        self.state.wake()  # more to do: continue after HTTP requests had a turn
                except Exception:
                    log.exception("kueue admission step failed")
                    await asyncio.sleep(0.5)
                await asyncio.sleep(0)
        finally:
            status_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await status_task
            await self.stop()
