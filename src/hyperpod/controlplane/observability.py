"""The observability component: ``/metrics`` collectors, ``metrics.k8s.io``, job progress.

At start it registers the scrape-time collectors with the API server's metrics
(:mod:`state_metrics`, :mod:`node_metrics`), the counters fed by informers
(:mod:`event_metrics`), adds NodeMetrics/PodMetrics to the catalog (``kubectl top``), and then
surfaces training progress: every ``observability.progressSeconds`` (1 s) it reads the rank-0
container's report of each running job (``kubelet.progress_reader``) and writes it where its
kind keeps progress (:mod:`hyperpod.api.job_progress`: a PyTorchJob's ``status.progress``, a
HyperPodPyTorchJob's annotation) when it changed. Nothing else runs between scrapes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from hyperpod.api import hyperpod_job as hpjob
from hyperpod.api import job_progress
from hyperpod.apiserver import metrics_api
from hyperpod.apiserver.errors import ApiError
from hyperpod.apiserver.patching import PatchType
from hyperpod.apiserver.registry import Registry
from hyperpod.controlplane.event_metrics import KueueEvents, TrainingEvents
from hyperpod.controlplane.node_metrics import NodeCollector, NodeUsage
from hyperpod.controlplane.state_metrics import (
    PYTORCHJOBS,
    WORKLOADS,
    KubeStateCollector,
    KueueCollector,
    Snapshot,
    WorkqueueCollector,
)
from hyperpod.kubelet import progress_reader
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


def _watched(job: Obj, now: float) -> bool:
    """Started, and not finished more than a minute ago (the last report can trail the end)."""
    status = job.get("status") or {}
    if not status.get("startTime"):
        return False
    ended = status.get("completionTime")
    for c in status.get("conditions") or []:
        if c.get("type") in ("Succeeded", "Completed", "Failed") and c.get("status") == "True":
            ended = ended or c.get("lastTransitionTime")
    if not ended:
        return True
    try:
        return now - datetime.fromisoformat(ended.replace("Z", "+00:00")).timestamp() < 60
    except ValueError:
        return False


def surface_progress(reg: Registry, data_dir: Path, kind: ProgressKind) -> int:
    """Write the progress of every running (or just finished) job whose report changed."""
    if reg.catalog.get(kind.resource) is None:
        return 0
    now = time.time()
    jobs = [j for j in reg.list(kind.resource) if _watched(j, now)]
    if not jobs:
        return 0
    # One pass over the pods (not one selector query per job): pods by owning job uid.
    by_owner: dict[str, list[Obj]] = {}
    for p in reg.list("pods", label_selector=kind.pod_label):
        for ref in p["metadata"].get("ownerReferences") or []:
            by_owner.setdefault(ref.get("uid", ""), []).append(p)
    written = 0
    for job in jobs:
        meta = job["metadata"]
        pods = by_owner.get(meta.get("uid", ""), [])
        if kind.rank0_label is not None:
            key, value = kind.rank0_label
            pods = [p for p in pods if (p["metadata"].get("labels") or {}).get(key) == value]
        progress = progress_reader.job_progress(data_dir, pods)
        if progress is None or progress == kind.current(job):
            continue
        with contextlib.suppress(ApiError):
            kind.write(reg, job, progress)
            written += 1
    return written


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
    cfg = ctx.config.get("observability") or {}
    interval = float(cfg.get("progressSeconds", 1.0))
    try:
        while not ctx.stopping.is_set():
            for kind in PROGRESS_KINDS:
                try:
                    surface_progress(reg, Path(ctx.data_dir), kind)
                except Exception:
                    log.exception("reading training progress of %s failed", kind.resource)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ctx.stopping.wait(), interval)
    finally:
        for inf in informers:
            await inf.stop()
        for c in collectors:
            with contextlib.suppress(KeyError):
                app.metrics.unregister(c)
        ctx.services.pop("resource_metrics", None)


def component() -> Component:
    return Component(name="observability", start=start)
