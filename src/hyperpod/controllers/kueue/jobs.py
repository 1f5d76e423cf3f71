"""PyTorchJob integration: one Workload per queued job, admitted as a whole.

A job labelled ``kueue.x-k8s.io/queue-name`` (on the job or its pod templates) is created
suspended by :func:`default_job`, an admission hook. The reconciler creates its Workload
(``pytorchjob-<job>-<hash>``, pod sets ``master`` and ``worker``, owned by the job); once the
Workload is admitted it injects each flavor's nodeLabels and tolerations into the replica
templates and unsuspends the job; on eviction it suspends the job and restores the templates;
when the job succeeds or fails the Workload is marked Finished.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import logging
from typing import Any

from hyperpod.api import kueue as api
from hyperpod.api import pytorchjob as ptj
from hyperpod.controllers.kueue import job_templates
from hyperpod.controllers.kueue.manager import KueueManager
from hyperpod.controllers.kueue.snapshot import condition, is_true
from hyperpod.controllers.kueue.state import FLAVORS, PC_SOURCE, WORKLOADS, WPC_SOURCE
from hyperpod.runtime.machinery import (
    Controller,
    Informer,
    event_on_error,
    object_key,
    record_event,
    set_condition,
    split_key,
)

log = logging.getLogger(__name__)

Obj = dict[str, Any]
COMPONENT = "kueue-pytorchjob"


def queue_name_of(job: Obj) -> str | None:
    """The LocalQueue a job asks for: the job's label, else a pod template's label."""
    labels = (job.get("metadata") or {}).get("labels") or {}
    if labels.get(api.QUEUE_NAME_LABEL):
        return str(labels[api.QUEUE_NAME_LABEL])
    for spec in ((job.get("spec") or {}).get("pytorchReplicaSpecs") or {}).values():
        tl = (((spec or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
        if tl.get(api.QUEUE_NAME_LABEL):
            return str(tl[api.QUEUE_NAME_LABEL])
    return None


def default_job(obj: Obj) -> None:
    """Admission hook: a new job that names a queue starts suspended until Kueue admits it."""
    md = obj.get("metadata") or {}
    if md.get("resourceVersion") or not queue_name_of(obj):
        return  # only on create
    obj.setdefault("spec", {}).setdefault("runPolicy", {})["suspend"] = True


def workload_name(job_name: str, uid: str = "") -> str:
    digest = hashlib.sha1(f"{job_name}/{ptj.KIND}.{ptj.GROUP}".encode()).hexdigest()[:5]
    prefix = f"pytorchjob-{job_name}"[: 253 - 6]
    return f"{prefix}-{digest}"


def _replica_specs(job: Obj) -> dict[str, Obj]:
    return (job.get("spec") or {}).get("pytorchReplicaSpecs") or {}


def pod_sets_of(job: Obj) -> list[Obj]:
    """Pod sets ``master`` then ``worker``, count = replicas."""
    out = []
    specs = _replica_specs(job)
    for rtype in ptj.REPLICA_TYPES:
        key = next((k for k in specs if k.lower() == rtype.lower()), None)
        if key is None:
            continue
        spec = specs[key] or {}
        template = copy.deepcopy(spec.get("template") or {})
        out.append(
            {"name": rtype.lower(), "count": int(spec.get("replicas", 1)), "template": template}
        )
    return out


def _priority_class(job: Obj) -> tuple[str | None, str]:
    labels = (job.get("metadata") or {}).get("labels") or {}
    if labels.get(api.PRIORITY_CLASS_LABEL):
        return str(labels[api.PRIORITY_CLASS_LABEL]), WPC_SOURCE
    for spec in _replica_specs(job).values():
        tl = (((spec or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
        if tl.get(api.PRIORITY_CLASS_LABEL):
            return str(tl[api.PRIORITY_CLASS_LABEL]), WPC_SOURCE
    sched = ((job.get("spec") or {}).get("runPolicy") or {}).get("schedulingPolicy") or {}
    if sched.get("priorityClass"):
        return str(sched["priorityClass"]), PC_SOURCE
    for spec in _replica_specs(job).values():
        name = (((spec or {}).get("template") or {}).get("spec") or {}).get("priorityClassName")
        if name:
            return str(name), PC_SOURCE
    return None, ""


def _suspended(job: Obj) -> bool:
    return bool(((job.get("spec") or {}).get("runPolicy") or {}).get("suspend"))


class JobIntegration:
    """Reconciles queued PyTorchJobs against their Workloads.

    The kind-specific parts are the attributes and small methods below; a subclass serves
    another job kind (see ``hyperpod_jobs.py``).
    """

    resource = ptj.RESOURCE
    kind = ptj.KIND
    api_version = ptj.API_VERSION
    finished_types = ("Succeeded", "Failed")
    running_types = ("Running", "Succeeded")

    def queue_name(self, job: Obj) -> str | None:
        return queue_name_of(job)

    def pod_sets(self, job: Obj) -> list[Obj]:
        return pod_sets_of(job)

    def replicas_by_pod_set(self, job: Obj) -> dict[str, Obj]:
        """Pod-set name -> the job's replica spec (holding ``template``), in place."""
        return {str(k).lower(): v for k, v in _replica_specs(job).items()}

    def workload_name(self, job_name: str) -> str:
        return workload_name(job_name)

    def priority_class(self, job: Obj) -> tuple[str | None, str]:
        return _priority_class(job)

    def __init__(self, mgr: KueueManager) -> None:
        self.mgr = mgr
        self.reg = mgr.reg
        self.ctrl = Controller(
            COMPONENT, self.reconcile, on_error=event_on_error(self.reg, ptj.RESOURCE, COMPONENT)
        )
        self.jobs: Informer | None = None

    async def run(self, stopping: asyncio.Event) -> None:
        while self.reg.catalog.get(self.resource) is None:
            if stopping.is_set():
                return
            await asyncio.sleep(1.0)
        self.jobs = Informer(self.reg, self.resource)
        self.jobs.add_handler(lambda typ, obj, old: self.ctrl.enqueue(object_key(obj)))
        self.mgr.on_workload_change.append(self._on_workload)
        self.jobs.start()
        try:
            await self.ctrl.run(stopping)
        finally:
            await self.jobs.stop()

    def _on_workload(self, wl: Obj) -> None:
        for ref in (wl.get("metadata") or {}).get("ownerReferences") or []:
            if ref.get("kind") == self.kind:
                self.ctrl.enqueue(f"{wl['metadata'].get('namespace')}/{ref.get('name')}")

    def _workload_for(self, job: Obj) -> Obj | None:
        md = job["metadata"]
        inf = self.mgr.informers.get(WORKLOADS)
        name = self.workload_name(md["name"])
        wl = self.reg.try_get(WORKLOADS, name, md.get("namespace"))
        if wl is not None:
            owners = [r.get("uid") for r in wl["metadata"].get("ownerReferences") or []]
            if md.get("uid") in owners:
                return wl
        if inf is not None:
            for obj in inf.list():
                labels = (obj.get("metadata") or {}).get("labels") or {}
                if labels.get(api.JOB_UID_LABEL) == md.get("uid"):
                    return self.reg.try_get(WORKLOADS, obj["metadata"]["name"], md.get("namespace"))
        return None

    async def reconcile(self, key: str) -> float | None:
        ns, name = split_key(key)
        job = self.reg.try_get(self.resource, name, ns)
        if job is None:
            return None
        queue = self.queue_name(job)
        if not queue:
            return None
        wl = self._workload_for(job)
        finished = next(
            (t for t in self.finished_types if is_true(job, t)),
            None,
        )
        if finished:
            if wl is not None and not is_true(wl, "Finished"):
                c = condition(job, finished) or {}
                conds = wl.setdefault("status", {}).setdefault("conditions", [])
                set_condition(
                    conds,
                    "Finished",
                    "True",
                    finished,
                    c.get("message") or f"Job {finished.lower()}",
                )
                self.reg.update(f"{WORKLOADS}/status", wl, ns)
            return None
        if wl is None:
            if not _suspended(job):
                self._suspend(job, None, "Suspended while its Workload is created")
            self._create_workload(job, queue)
            return None
        admitted = bool((wl.get("status") or {}).get("admission")) and is_true(wl, "Admitted")
        if admitted and not is_true(wl, "Finished"):
            if _suspended(job):
                self._start(job, wl)
            else:
                self._sync_pods_ready(job, wl)
            return None
        if not admitted:
            self._explain_pending(job, wl)
        if not _suspended(job):
            evicted = condition(wl, "Evicted")
            why = (
                f"Evicted: {evicted.get('message')}"
                if evicted and evicted.get("status") == "True"
                else "Not admitted by cluster queue"
            )
            self._suspend(job, wl, why)
        return None

    def _explain_pending(self, job: Obj, wl: Obj) -> None:
        """A Workload that can never be admitted as it is (no such LocalQueue or ClusterQueue)
        gets a Warning Event on the job, so a suspended job says why it waits."""
        c = condition(wl, "QuotaReserved") or {}
        message = str(c.get("message") or "")
        if c.get("status") == "False" and "doesn't exist" in message:
            record_event(self.reg, job, "Warning", "Inadmissible", message, COMPONENT)

    def _create_workload(self, job: Obj, queue: str) -> None:
        md = job["metadata"]
        spec: Obj = {"queueName": queue, "podSets": self.pod_sets(job), "active": True}
        pc, source = self.priority_class(job)
        if pc:
            spec["priorityClassName"] = pc
            spec["priorityClassSource"] = source
            value, found = self.mgr.priority_of(pc, source)
            if value is not None:
                spec["priority"] = value
                spec["priorityClassSource"] = found
            else:
                record_event(
                    self.reg,
                    job,
                    "Warning",
                    "ErrWorkloadCompose",
                    f"priority class {pc} not found: the Workload waits until it exists",
                    COMPONENT,
                )
        job_templates.create_workload(
            self.reg,
            job,
            self.workload_name(md["name"]),
            spec,
            self.api_version,
            self.kind,
            COMPONENT,
        )

    def _start(self, job: Obj, wl: Obj) -> None:
        flavors = self.mgr.informers[FLAVORS].cache
        admission = wl["status"]["admission"]
        specs = self.replicas_by_pod_set(job)
        for psa in admission.get("podSetAssignments") or []:
            replica = specs.get(str(psa.get("name", "")))
            if replica is None:
                continue
            tspec = replica.setdefault("template", {}).setdefault("spec", {})
            conflict = job_templates.inject_flavors(tspec, psa, flavors)
            if conflict:
                self.mgr.evict(
                    object_key(wl), "InvalidNodeSelector", f"pod set {psa.get('name')}: {conflict}"
                )
                return
        job["spec"].setdefault("runPolicy", {})["suspend"] = False
        self.reg.update(self.resource, job, job["metadata"].get("namespace"))
        record_event(
            self.reg,
            job,
            "Normal",
            "Started",
            f"Admitted by clusterQueue {admission.get('clusterQueue')}",
            COMPONENT,
        )

    def _suspend(self, job: Obj, wl: Obj | None, why: str) -> None:
        specs = self.replicas_by_pod_set(job)
        for ps in ((wl or {}).get("spec") or {}).get("podSets") or []:
            replica = specs.get(str(ps.get("name", "")))
            if replica is None:
                continue
            tspec = replica.setdefault("template", {}).setdefault("spec", {})
            job_templates.restore_template(tspec, (ps.get("template") or {}).get("spec") or {})
        job.setdefault("spec", {}).setdefault("runPolicy", {})["suspend"] = True
        self.reg.update(self.resource, job, job["metadata"].get("namespace"))
        record_event(self.reg, job, "Normal", "Stopped", why, COMPONENT)

    def _sync_pods_ready(self, job: Obj, wl: Obj) -> None:
        running = any(is_true(job, t) for t in self.running_types)
        current = condition(wl, "PodsReady")
        want = "True" if running else "False"
        if current is not None and current.get("status") == want:
            return
        if current is None and not running:
            reason, msg = "PodsReady", "Not all pods are ready or succeeded"
        elif running:
            reason, msg = "PodsReady", "All pods reached readiness and the workload is running"
        else:
            reason, msg = "PodsReadyLost", "The job is no longer running"
        conds = wl.setdefault("status", {}).setdefault("conditions", [])
        set_condition(conds, "PodsReady", want, reason, msg)
        self.reg.update(f"{WORKLOADS}/status", wl, wl["metadata"].get("namespace"))
