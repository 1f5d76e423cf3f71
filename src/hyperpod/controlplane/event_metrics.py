"""Counters of things that happen: Kueue admissions and evictions, training jobs started and ended.

Kueue and the training operator count these inside their reconcilers; here the same counts
come from watching the objects they write (an informer per kind), so the controllers need no
metric code. A transition is counted when it is seen to happen (a condition turning True);
objects already in that state when the control plane starts are not counted again, as a
restarted Kueue or training operator also starts its counters from zero.

Names: ``kueue_admitted_workloads_total{cluster_queue}``,
``kueue_quota_reserved_workloads_total{cluster_queue}``,
``kueue_evicted_workloads_total{cluster_queue,reason}``,
``kueue_admission_wait_time_seconds{cluster_queue}`` (histogram, creation or last requeue to
admission), ``training_operator_jobs_{created,successful,failed,restarted}_total
{job_namespace,framework}``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

Obj = dict[str, Any]
_WAIT_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 10800, 86400)


def _cond(obj: Obj | None, type_: str) -> Obj | None:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return None


def _became_true(obj: Obj, old: Obj | None, type_: str) -> Obj | None:
    """The condition when it is True now and was not before (``old`` None: not a transition)."""
    now = _cond(obj, type_)
    if now is None or now.get("status") != "True" or old is None:
        return None
    before = _cond(old, type_)
    if before is not None and before.get("status") == "True":
        return None
    return now


def _ts(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class KueueEvents:
    """Informer handler for workloads (``workloads.kueue.x-k8s.io``)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.admitted = Counter(
            "kueue_admitted_workloads",
            "The total number of admitted workloads per 'cluster_queue'",
            ["cluster_queue"],
            registry=registry,
        )
        self.reserved = Counter(
            "kueue_quota_reserved_workloads",
            "The total number of quota reserved workloads per 'cluster_queue'",
            ["cluster_queue"],
            registry=registry,
        )
        self.evicted = Counter(
            "kueue_evicted_workloads",
            "The number of evicted workloads per 'cluster_queue' and 'reason'",
            ["cluster_queue", "reason"],
            registry=registry,
        )
        self.wait = Histogram(
            "kueue_admission_wait_time_seconds",
            "The time between a workload was created or requeued until admission, "
            "per 'cluster_queue'",
            ["cluster_queue"],
            buckets=_WAIT_BUCKETS,
            registry=registry,
        )

    def on_workload(self, event_type: str, obj: Obj, old: Obj | None) -> None:
        if event_type == "DELETED":
            return
        status = obj.get("status") or {}
        cq = (status.get("admission") or {}).get("clusterQueue", "")
        prev_cq = (((old or {}).get("status") or {}).get("admission") or {}).get("clusterQueue", "")
        if _became_true(obj, old, "QuotaReserved") is not None and cq:
            self.reserved.labels(cq).inc()
        admitted = _became_true(obj, old, "Admitted")
        if admitted is not None and cq:
            self.admitted.labels(cq).inc()
            since = _ts((status.get("requeueState") or {}).get("requeueAt")) or _ts(
                obj["metadata"].get("creationTimestamp")
            )
            at = _ts(admitted.get("lastTransitionTime"))
            if since is not None and at is not None:
                self.wait.labels(cq).observe(max(0.0, at - since))
        evicted = _became_true(obj, old, "Evicted")
        if evicted is not None:
            self.evicted.labels(cq or prev_cq, evicted.get("reason") or "Unknown").inc()


class TrainingEvents:
    """Informer handler for training jobs (``framework`` ``pytorch``)."""

    def __init__(self, registry: CollectorRegistry, started: float) -> None:
        self.started = started
        labels = ["job_namespace", "framework"]
        self.created = Counter(
            "training_operator_jobs_created",
            "Counts number of jobs created",
            labels,
            registry=registry,
        )
        self.successful = Counter(
            "training_operator_jobs_successful",
            "Counts number of jobs successful",
            labels,
            registry=registry,
        )
        self.failed = Counter(
            "training_operator_jobs_failed",
            "Counts number of jobs failed",
            labels,
            registry=registry,
        )
        self.restarted = Counter(
            "training_operator_jobs_restarted",
            "Counts number of jobs restarted",
            labels,
            registry=registry,
        )

    def handler(self, framework: str) -> Any:
        def on_job(event_type: str, obj: Obj, old: Obj | None) -> None:
            if event_type == "DELETED":
                return
            ns = obj["metadata"].get("namespace", "")
            if old is None:
                created = _ts(obj["metadata"].get("creationTimestamp"))
                if created is not None and created >= self.started - 1.0:
                    self.created.labels(ns, framework).inc()
                return
            if _became_true(obj, old, "Succeeded") is not None:
                self.successful.labels(ns, framework).inc()
            if _became_true(obj, old, "Failed") is not None:
                self.failed.labels(ns, framework).inc()
            if _became_true(obj, old, "Restarting") is not None:
                self.restarted.labels(ns, framework).inc()

        return on_job
