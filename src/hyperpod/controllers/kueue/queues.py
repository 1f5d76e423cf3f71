"""Pending workloads per ClusterQueue, in admission order, with Kueue's two queueing strategies.

Order within a queue: higher priority, then earlier queue-order time, then UID.
``BestEffortFIFO``: a head that cannot be admitted is set aside (inadmissible) so the next one
can go; set-aside workloads return when something changes in the cohort.
``StrictFIFO``: a head that cannot be admitted blocks its queue until something changes,
unless a workload that sorts before it arrives.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from hyperpod.controllers.kueue.snapshot import WorkloadInfo

OrderKey = tuple[int, float, str, str]


def order_key(wl: WorkloadInfo) -> OrderKey:
    return (-wl.priority, wl.timestamp, wl.uid, wl.key)


@dataclass
class _Queue:
    strategy: str = "BestEffortFIFO"
    heap: list[tuple[OrderKey, str]] = field(default_factory=list)
    items: dict[str, WorkloadInfo] = field(default_factory=dict)  # active (in heap)
    keys: dict[str, OrderKey] = field(default_factory=dict)
    inadmissible: dict[str, WorkloadInfo] = field(default_factory=dict)


class QueueManager:
    def __init__(self) -> None:
        self._queues: dict[str, _Queue] = {}
        self._where: dict[str, str] = {}  # workload key -> cluster queue name

    def set_strategy(self, cq: str, strategy: str) -> None:
        self._queues.setdefault(cq, _Queue()).strategy = strategy

    def push(self, cq: str, wl: WorkloadInfo, inadmissible: bool = False) -> None:
        """Add or update a pending workload (queued under ``cq``, which may not exist yet)."""
        old = self._where.get(wl.key)
        if old is not None and old != cq:
            self.remove(wl.key)
        q = self._queues.setdefault(cq, _Queue())
        self._where[wl.key] = cq
        if inadmissible or wl.key in q.inadmissible:
            q.items.pop(wl.key, None)
            q.keys.pop(wl.key, None)
            q.inadmissible[wl.key] = wl
            return
        key = order_key(wl)
        q.items[wl.key] = wl
        if q.keys.get(wl.key) != key:
            q.keys[wl.key] = key
            heapq.heappush(q.heap, (key, wl.key))

    def set_aside(self, key: str) -> None:
        """Mark a pending workload inadmissible until :meth:`requeue_inadmissible`."""
        cq = self._where.get(key)
        if cq is None:
            return
        q = self._queues[cq]
        wl = q.items.pop(key, None)
        q.keys.pop(key, None)
        if wl is not None:
            q.inadmissible[key] = wl

    def remove(self, key: str) -> None:
        cq = self._where.pop(key, None)
        if cq is None:
            return
        q = self._queues[cq]
        q.items.pop(key, None)
        q.keys.pop(key, None)
        q.inadmissible.pop(key, None)

    def requeue_inadmissible(self, cqs: set[str] | None = None) -> bool:
        """Put set-aside workloads back in line; returns whether any moved."""
        moved = False
        for name, q in self._queues.items():
            if (cqs is not None and name not in cqs) or not q.inadmissible:
                continue
            pending = list(q.inadmissible.values())
            q.inadmissible.clear()
            for wl in pending:
                key = order_key(wl)
                q.items[wl.key] = wl
                q.keys[wl.key] = key
                heapq.heappush(q.heap, (key, wl.key))
            moved = True
        return moved

    def _top(self, q: _Queue) -> tuple[OrderKey, str] | None:
        while q.heap:
            key, name = q.heap[0]
            if q.keys.get(name) == key:
                return key, name
            heapq.heappop(q.heap)
        return None

    def head(self, cq: str) -> WorkloadInfo | None:
        q = self._queues.get(cq)
        if q is None:
            return None
        top = self._top(q)
        if q.strategy == "StrictFIFO" and q.inadmissible:
            blocker = min(order_key(w) for w in q.inadmissible.values())
            if top is None or blocker < top[0]:
                return None
        return q.items[top[1]] if top else None

    def pop(self, key: str) -> None:
        """Take an admitted workload out of its queue."""
        self.remove(key)

    def heads(self, cqs: list[str]) -> list[WorkloadInfo]:
        out = []
        for name in cqs:
            wl = self.head(name)
            if wl is not None:
                out.append(wl)
        return out

    def queue_names(self) -> list[str]:
        return list(self._queues)

    def pending(self, cq: str) -> list[WorkloadInfo]:
        """Every pending workload of ``cq`` in order (active and set aside)."""
        q = self._queues.get(cq)
        if q is None:
            return []
        return sorted([*q.items.values(), *q.inadmissible.values()], key=order_key)

    def all_pending(self) -> list[WorkloadInfo]:
        """Every queued workload, in no particular order."""
        out: list[WorkloadInfo] = []
        for q in self._queues.values():
            out += q.items.values()
            out += q.inadmissible.values()
        return out

    def counts(self, cq: str) -> int:
        q = self._queues.get(cq)
        return 0 if q is None else len(q.items) + len(q.inadmissible)

    def cluster_queue_of(self, key: str) -> str | None:
        return self._where.get(key)

    def is_inadmissible(self, key: str) -> bool:
        cq = self._where.get(key)
        return cq is not None and key in self._queues[cq].inadmissible
