"""Kueue's baseline scenario with zero latency: our scheduler's own code in virtual time.

The same ClusterQueues and Workloads as ``kueue_baseline.py``, built from the same wire
objects, but no API server, no watch and no clock: every arrival, admission, preemption and
finish happens at its exact instant, and admission cycles (``scheduler.cycle``, the code the
control plane runs) repeat until nothing more changes before time moves on. Evicted workloads
go back in line and freed quota wakes the cohort's set-aside workloads, as in the controller.

The wall time it prints is what Kueue's rules (priority order, BestEffortFIFO, preemption
within the ClusterQueue and reclaim within the cohort) allow an infinitely fast control plane:
the floor to hold the measured run against, next to the 66 s work floor and the issue's target.

    python benchmarks/kueue_floor.py            # the full scenario (15,000 workloads, ~10 s)
    python benchmarks/kueue_floor.py --small    # 1 cohort, 1,500 workloads
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from _cluster import report as print_rows
from kueue_baseline import (
    CLASSES,
    KUEUE,
    Run,
    WorkloadClass,
    arrival_bounds,
    cluster_queue_body,
    workload_body,
)

from hyperpod.controllers.kueue.queues import QueueManager
from hyperpod.controllers.kueue.scheduler import cycle
from hyperpod.controllers.kueue.snapshot import (
    CohortNode,
    Flavor,
    Snapshot,
    WorkloadInfo,
    cluster_queue_from,
    workload_from,
)

EPOCH = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


@dataclass
class Sim:
    snapshot: Snapshot = field(default_factory=Snapshot)
    queues: QueueManager = field(default_factory=QueueManager)
    events: list[tuple[float, int, str, str]] = field(default_factory=list)
    seq: itertools.count[int] = field(default_factory=itertools.count)
    classes: dict[str, WorkloadClass] = field(default_factory=dict)
    created: dict[str, float] = field(default_factory=dict)
    admitted_first: dict[str, float] = field(default_factory=dict)
    running: dict[str, tuple[WorkloadInfo, int]] = field(default_factory=dict)
    pending_objs: dict[str, tuple[str, str, WorkloadClass]] = field(default_factory=dict)
    preempting: set[str] = field(default_factory=set)
    preemptions: int = 0
    finished: int = 0
    cycles: int = 0

    def at(self, t: float, kind: str, key: str) -> int:
        token = next(self.seq)
        heapq.heappush(self.events, (round(t, 9), token, kind, key))
        return token

    def cohort_of(self, cq: str | None) -> set[str]:
        node = self.snapshot.cluster_queues[cq or ""]
        root = node.root()
        return (
            {c.name for c in root.cluster_queues()} if isinstance(root, CohortNode) else {node.name}
        )

    def arrive(self, t: float, key: str) -> None:
        ns, name, cls = self.pending_objs.pop(key)
        obj = workload_body(name, ns, cls)
        md = obj["metadata"]
        # the API server stamps creationTimestamp to the second, as the real run sees it
        md["creationTimestamp"] = datetime.fromtimestamp(EPOCH + int(t), UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        md["uid"] = str(uuid.uuid4())
        info = workload_from(obj, ns)  # each ClusterQueue's LocalQueue points at it by name
        self.created[key] = t
        self.queues.push(ns, info)

    def finish(self, key: str, token: int) -> None:
        held = self.running.get(key)
        if held is None or held[1] != token:
            return  # preempted before it finished
        info, _ = self.running.pop(key)
        self.snapshot.remove_workload(info)
        self.queues.requeue_inadmissible(self.cohort_of(info.cluster_queue))
        self.finished += 1

    def admit_until_quiet(self, t: float) -> None:
        while True:
            result = cycle(self.queues, self.snapshot, preempting=self.preempting)
            self.cycles += 1
            for wl, _ in result.admitted:
                self.preempting.discard(wl.key)
                self.admitted_first.setdefault(wl.key, t)
                token = self.at(t + self.classes[wl.key].runtime_s, "finish", wl.key)
                self.running[wl.key] = (wl, token)
            for p in result.preempted:
                self.preempting.add(p.preemptor.key)
                victim, _ = self.running.pop(p.workload.key)
                self.snapshot.remove_workload(victim)
                self.preemptions += 1
                self.queues.push(victim.cluster_queue or "", replace(victim, assignments=None))
                self.queues.requeue_inadmissible(self.cohort_of(victim.cluster_queue))
            if not (result.admitted or result.preempted):
                return


def simulate(run: Run) -> tuple[float, Sim]:
    sim = Sim()
    sim.snapshot.add_flavor(Flavor("default"))
    for c in range(run.cohorts):
        for q in range(run.queues_per_cohort):
            name = f"cq-{c}-{q}"
            sim.snapshot.add_cluster_queue(
                cluster_queue_from(cluster_queue_body(name, c), {"default"})
            )
            for cls in CLASSES:
                for i in range(max(1, int(cls.count * run.scale))):
                    key = f"{name}/{cls.name}-{i}"
                    sim.classes[key] = cls
                    sim.pending_objs[key] = (name, f"{cls.name}-{i}", cls)
                    sim.at(i * cls.interval_s, "arrive", key)
    total = len(sim.classes)
    now = 0.0
    while sim.events:
        now = sim.events[0][0]
        while sim.events and sim.events[0][0] == now:
            _, token, kind, key = heapq.heappop(sim.events)
            if kind == "arrive":
                sim.arrive(now, key)
            else:
                sim.finish(key, token)
        sim.admit_until_quiet(now)
    if sim.finished != total:
        raise SystemExit(f"only {sim.finished} of {total} workloads finished")
    return now, sim


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--small", action="store_true", help="1 cohort, 1,500 workloads")
    args = ap.parse_args()
    run = (
        Run(cohorts=1, queues_per_cohort=6, scale=0.5)
        if args.small
        else Run(cohorts=5, queues_per_cohort=6, scale=1.0)
    )
    started = time.perf_counter()
    wall, sim = simulate(run)
    took = time.perf_counter() - started
    zero_latency, realistic = arrival_bounds(run)
    print(
        f"Kueue baseline scenario in virtual time: {run.cohorts} cohort(s) x "
        f"{run.queues_per_cohort} ClusterQueues, {len(sim.classes)} workloads, "
        f"{sim.cycles} admission cycles, {sim.preemptions} preemptions ({took:.1f} s to compute)"
    )
    rows = [("figure", "zero latency", "target", "anchor")]
    rows.append(
        (
            "wall time",
            f"{wall:.1f} s",
            "<= 72 s" if run.cohorts == 5 else "",
            f"Kueue {KUEUE['wall']:.0f} s; bounds {zero_latency:.1f} / {realistic:.1f} s",
        )
    )
    for cls in CLASSES:
        waits = [
            sim.admitted_first[k] - sim.created[k]
            for k, c in sim.classes.items()
            if c is cls and k in sim.admitted_first
        ]
        rows.append(
            (
                f"time to admission {cls.name}",
                f"{sum(waits) / len(waits):.1f} s",
                f"< {KUEUE[cls.name]} s",
                f"Kueue {KUEUE[cls.name]} s",
            )
        )
    print_rows(rows)


if __name__ == "__main__":
    main()
