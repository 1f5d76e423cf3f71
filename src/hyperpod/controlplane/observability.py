"""The observability component: ``/metrics`` collectors, ``metrics.k8s.io``, job progress.

At start it registers the scrape-time collectors with the API server's metrics
(:mod:`state_metrics`, :mod:`node_metrics`), the counters fed by informers
(:mod:`event_metrics`), adds NodeMetrics/PodMetrics to the catalog (``kubectl top``), and then
surfaces training progress (:mod:`progress_watch`): every ``observability.progressSeconds`` (1 s)
it finds the running jobs and reads the rank-0 container's report of each
(``kubelet.progress_reader``) and writes it where its kind keeps progress
(:mod:`hyperpod.api.job_progress`: a PyTorchJob's ``status.progress``, a HyperPodPyTorchJob's
annotation); every ``observability.progressPollSeconds`` (0.05 s, slower with many jobs) it
``stat``-s their reports and writes a moved one (at most
``observability.progressWritesPerSecond``, 20, writes a second in all). Nothing else runs
between scrapes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from hyperpod.api import hyperpod_job as hpjob
from hyperpod.api import job_progress
from hyperpod.apiserver import metrics_api
from hyperpod.apiserver.patching import PatchType
from hyperpod.apiserver.registry import Registry
from hyperpod.controlplane.event_metrics import KueueEvents, TrainingEvents
from hyperpod.controlplane.node_metrics import NodeCollector, NodeUsage
from hyperpod.controlplane.progress_watch import ProgressWatch
from hyperpod.controlplane.state_metrics import (
    PYTORCHJOBS,
    WORKLOADS,
    KubeStateCollector,
    KueueCollector,
    Snapshot,
    WorkqueueCollector,
)
from hyperpod.runtime import nodes
from hyperpod.runtime.context import Component, ControlPlaneContext
from hyperpod.runtime.machinery import QUEUES, Informer

log = logging.getLogger(__name__)
Obj = dict[str, Any]


@dataclass(frozen=True)
class ProgressKind:
    """A job kind that shows progress: how to find its pods and where the progress goes."""

    resource: str  # e.g. "pytorchjobs.kubeflow.org"
    status_resource: str
    pod_label: str  # label on its pods naming the job
    # Progress in this annotation (JSON) instead of status.progress, for kinds whose clients
    # reject unknown status fields.
    annotation: str | None = None
    # (label, value) of the rank-0 pod, for kinds whose pod names do not say it.
    rank0_label: tuple[str, str] | None = None

    def current(self, job: Obj) -> Obj | None:
        if self.annotation is None:
            return (job.get("status") or {}).get("progress")
        return job_progress.read(job) or None

    def write(self, reg: Registry, job: Obj, progress: Obj) -> None:
        meta = job["metadata"]
        if self.annotation is None:
            patch: Obj = {"status": {"progress": progress}}
            resource = self.status_resource
        else:
            patch = {"metadata": {"annotations": {self.annotation: job_progress.encode(progress)}}}
            resource = self.resource
        reg.patch(resource, meta["name"], patch, PatchType.MERGE, meta.get("namespace"))


PROGRESS_KINDS = [
    ProgressKind(PYTORCHJOBS, f"{PYTORCHJOBS}/status", "training.kubeflow.org/job-name"),
    ProgressKind(
        hpjob.RESOURCE,
        hpjob.STATUS_RESOURCE,
        hpjob.LABEL_JOB,
        annotation=job_progress.ANNOTATION,
        rank0_label=(hpjob.LABEL_NODE_RANK, "0"),
    ),
]


def surface_progress(reg: Registry, data_dir: Path, kind: ProgressKind) -> int:
    """Write ``status.progress`` of every running (or just finished) job whose report changed."""
    return ProgressWatch(reg, data_dir, [kind]).discover()


class _Forward(Collector):
    """Exposes a private registry's families through the API server's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterable[Metric]:
        return self.registry.collect()


def _queues() -> list[tuple[str, int, int]]:
    return [(q.name, len(q), q.adds) for q in list(QUEUES)]


async def start(ctx: ControlPlaneContext) -> None:
    app = ctx.services.get("api")
    if app is None:
        return
    reg = ctx.reg
    for rt in metrics_api.resource_types():
        reg.catalog.add(rt)
    local = (
        nodes.local_node_name(ctx.config) if nodes.local_config(ctx.config) is not None else None
    )
    snap = Snapshot(reg)
    usage = NodeUsage(snap, Path(ctx.data_dir), local)
    ctx.services["resource_metrics"] = usage
    events = CollectorRegistry(auto_describe=False)
    kueue_events = KueueEvents(events)
    training = TrainingEvents(events, time.time())
    collectors: list[Collector] = [
        KubeStateCollector(snap),
        KueueCollector(snap),
        WorkqueueCollector(_queues),
        NodeCollector(usage),
        _Forward(events),
    ]
    for c in collectors:
        app.metrics.register(c)
    informers: list[Informer] = []
    if reg.catalog.get(WORKLOADS) is not None:
        inf = Informer(reg, WORKLOADS)
        inf.add_handler(kueue_events.on_workload)
        informers.append(inf)
    if reg.catalog.get(PYTORCHJOBS) is not None:
        inf = Informer(reg, PYTORCHJOBS)
        inf.add_handler(training.handler("pytorch"))
        informers.append(inf)
    for inf in informers:
        inf.start()
    cfg = ctx.config.observability
    interval = cfg.progress_seconds
    poll = min(interval, cfg.progress_poll_seconds)
    watch = ProgressWatch(
        reg,
        Path(ctx.data_dir),
        PROGRESS_KINDS,
        writes_per_second=cfg.progress_writes_per_second,
    )
    next_discovery = 0.0
    try:
        while not ctx.stopping.is_set():
            try:
                if time.monotonic() >= next_discovery:
                    next_discovery = time.monotonic() + interval
                    watch.discover()
                else:
                    watch.poll()
            except Exception:
                log.exception("reading training progress failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ctx.stopping.wait(), min(interval, watch.pace(poll)))
    finally:
        for inf in informers:
            await inf.stop()
        for c in collectors:
            with contextlib.suppress(KeyError):
                app.metrics.unregister(c)
        ctx.services.pop("resource_metrics", None)


def component() -> Component:
    return Component(name="observability", start=start)
