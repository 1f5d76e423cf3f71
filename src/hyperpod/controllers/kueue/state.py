"""What Kueue's reconcilers share: the resource names, the informer caches, the pending queues,
the quota snapshot, the admitted workloads and the flags that wake the admission loop.

One :class:`KueueState` per control plane; :mod:`manager` creates it and hands it to the
workload reconciler (:mod:`workload_reconciler`), the admission cycle (:mod:`admission`), the
priority resolver (:mod:`priorities`) and the queue status writer (:mod:`queue_status`). All of
them run on the event loop, so none of this needs a lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from hyperpod.api import kueue as api
from hyperpod.api.controlplane_config import KueueConfig
from hyperpod.apiserver.registry import Registry
from hyperpod.controllers.kueue import podsready, topology
from hyperpod.controllers.kueue.queues import QueueManager
from hyperpod.controllers.kueue.snapshot import Snapshot, WorkloadInfo
from hyperpod.runtime.machinery import Informer, object_key

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


def resource_version(obj: Obj) -> int:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


class KueueState:
    """Queues, snapshot, admitted workloads and wake-up flags of one control plane."""

    def __init__(self, reg: Registry, config: KueueConfig) -> None:
        self.reg = reg
        self.fair_sharing = config.fair_sharing.enable
        self.fair_sharing_default = self.fair_sharing
        self.pods_ready = podsready.PodsReadyConfig.from_config(config.wait_for_pods_ready)
        self.queues = QueueManager()
        self.snapshot = Snapshot()
        self.admitted: dict[str, WorkloadInfo] = {}
        self.rv: dict[str, int] = {}
        self.pending_notes: dict[str, tuple[str, str]] = {}  # key -> (reason, message) to write
        self.on_workload_change: list[Callable[[Obj], None]] = []
        self.informers: dict[str, Informer] = {}
        self.stale = True  # the snapshot must be rebuilt from the informer caches
        self.status_dirty = True  # queue status may need a write
        self.needs_priority: set[str] = set()  # workloads whose priority class is to be read
        self.retry_priorities = False  # a priority class changed: retry the waiting ones
        self.deactivated: set[str] = set()  # admitted workloads whose spec.active went false
        self.preempting: set[str] = set()  # preemptors whose victims were evicted
        self.topology = topology.Placer(reg)
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def wait_woken(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=timeout)
        except TimeoutError:
            pass
        self._wake.clear()

    def notify(self, obj: Obj) -> None:
        """Tell the job integrations that a Workload changed."""
        for fn in self.on_workload_change:
            fn(obj)

    def local_queue(self, namespace: str, name: str) -> Obj | None:
        inf = self.informers.get(LOCAL_QUEUES)
        return inf.get(f"{namespace}/{name}") if inf is not None else None

    def cached_workload(self, key: str) -> Obj | None:
        inf = self.informers.get(WORKLOADS)
        return inf.get(key) if inf is not None else None

    def fresh_workload(self, key: str) -> Obj | None:
        """A Workload read from the registry now (what a write must start from)."""
        ns, _, name = key.partition("/")
        return self.reg.try_get(WORKLOADS, name, ns)

    def write_status(self, obj: Obj) -> Obj:
        md = obj["metadata"]
        out = self.reg.update(WORKLOADS_STATUS, obj, md.get("namespace"))
        self.rv[object_key(out)] = resource_version(out)
        return out
