"""batch/v1 Job integration: a Job labelled ``kueue.x-k8s.io/queue-name`` waits for quota.

Like Kueue's job integration: :func:`default_batch_job` (an admission hook) creates such a Job
suspended; the reconciler creates its Workload (``job-<name>-<hash>``, one pod set ``main``
with ``min(parallelism, completions)`` pods, owned by the Job); once the Workload is admitted
it injects the flavors' nodeLabels and tolerations into the pod template and unsuspends the
Job; on eviction it suspends the Job and restores the template; a finished Job marks its
Workload Finished.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import logging
from typing import Any

from hyperpod.api import kueue as api
from hyperpod.controllers.kueue import job_templates
from hyperpod.controllers.kueue.manager import KueueManager
from hyperpod.controllers.kueue.snapshot import condition, is_true
from hyperpod.controllers.kueue.state import FLAVORS, PC_SOURCE, WORKLOADS, WPC_SOURCE
from hyperpod.runtime.machinery import (
    Controller,
    Informer,
    object_key,
    record_event,
    set_condition,
    split_key,
)

log = logging.getLogger(__name__)

Obj = dict[str, Any]
RESOURCE = "jobs.batch"
KIND = "Job"
COMPONENT = "kueue-batchjob"


def queue_name_of(job: Obj) -> str | None:
    labels = (job.get("metadata") or {}).get("labels") or {}
    value = labels.get(api.QUEUE_NAME_LABEL)
    return str(value) if value else None


def default_batch_job(obj: Obj) -> None:
    """Admission hook: a new Job that names a queue starts suspended until Kueue admits it."""
    md = obj.get("metadata") or {}
    if md.get("resourceVersion") or not queue_name_of(obj):
        return  # only on create
    spec = obj.setdefault("spec", {})
    if isinstance(spec, dict):
        spec["suspend"] = True


def workload_name(job_name: str) -> str:
    digest = hashlib.sha1(f"{job_name}/{KIND}.batch".encode()).hexdigest()[:5]
    return f"{f'job-{job_name}'[: 253 - 6]}-{digest}"


def pod_count(job: Obj) -> int:
    spec = job.get("spec") or {}
    parallelism = int(spec.get("parallelism", 1))
    completions = spec.get("completions")
    return min(parallelism, int(completions)) if completions is not None else parallelism


def _template_spec(job: Obj) -> Obj:
    spec: Obj = job.setdefault("spec", {}).setdefault("template", {}).setdefault("spec", {})
    return spec


class BatchJobIntegration:
    """Reconciles queued batch/v1 Jobs against their Workloads."""

    def __init__(self, mgr: KueueManager) -> None:
        self.mgr = mgr
        self.reg = mgr.reg
        self.ctrl = Controller(COMPONENT, self.reconcile)
        self.jobs = Informer(self.reg, RESOURCE, label_selector=api.QUEUE_NAME_LABEL)

    async def run(self, stopping: asyncio.Event) -> None:
        self.jobs.add_handler(lambda typ, obj, old: self.ctrl.enqueue(object_key(obj)))
        self.mgr.on_workload_change.append(self._on_workload)
        self.jobs.start()
        try:
            await self.ctrl.run(stopping)
        finally:
            await self.jobs.stop()

    def _on_workload(self, wl: Obj) -> None:
        for ref in (wl.get("metadata") or {}).get("ownerReferences") or []:
            if ref.get("kind") == KIND and str(ref.get("apiVersion", "")).startswith("batch/"):
                self.ctrl.enqueue(f"{wl['metadata'].get('namespace')}/{ref.get('name')}")

    def _workload_for(self, job: Obj) -> Obj | None:
        md = job["metadata"]
        wl = self.reg.try_get(WORKLOADS, workload_name(md["name"]), md.get("namespace"))
        if wl is not None and md.get("uid") in [
            r.get("uid") for r in wl["metadata"].get("ownerReferences") or []
        ]:
            return wl
        return None

    async def reconcile(self, key: str) -> float | None:
        ns, name = split_key(key)
        job = self.reg.try_get(RESOURCE, name, ns)
        if job is None or job["metadata"].get("deletionTimestamp"):
            return None
        queue = queue_name_of(job)
        if not queue:
            return None
        wl = self._workload_for(job)
        done = next((t for t in ("Complete", "Failed") if is_true(job, t)), None)
        if done:
            if wl is not None and not is_true(wl, "Finished"):
                c = condition(job, done) or {}
                conds = wl.setdefault("status", {}).setdefault("conditions", [])
                reason = "Succeeded" if done == "Complete" else "Failed"
                set_condition(conds, "Finished", "True", reason, c.get("message") or f"Job {done}")
                self.reg.update(f"{WORKLOADS}/status", wl, ns)
            return None
        suspended = bool((job.get("spec") or {}).get("suspend"))
        if wl is None:
            if not suspended:
                self._suspend(job, None, "Suspended while its Workload is created")
            self._create_workload(job, queue)
            return None
        admitted = bool((wl.get("status") or {}).get("admission")) and is_true(wl, "Admitted")
        if admitted and not is_true(wl, "Finished"):
            if suspended:
                self._start(job, wl)
            else:
                self._sync_pods_ready(job, wl)
        elif not suspended:
            evicted = condition(wl, "Evicted")
            why = (
                f"Evicted: {evicted.get('message')}"
                if evicted and evicted.get("status") == "True"
                else "Not admitted by cluster queue"
            )
            self._suspend(job, wl, why)
        return None

    def _create_workload(self, job: Obj, queue: str) -> None:
        md = job["metadata"]
        template = copy.deepcopy((job.get("spec") or {}).get("template") or {})
        spec: Obj = {
            "queueName": queue,
            "podSets": [{"name": "main", "count": pod_count(job), "template": template}],
            "active": True,
        }
        labels = md.get("labels") or {}
        pc = labels.get(api.PRIORITY_CLASS_LABEL)
        source = WPC_SOURCE
        if not pc and template.get("spec", {}).get("priorityClassName"):
            pc, source = template["spec"]["priorityClassName"], PC_SOURCE
        if pc:
            spec["priorityClassName"] = pc
            spec["priorityClassSource"] = source
            value, found = self.mgr.priority_of(str(pc), source)
            if value is not None:
                spec["priority"] = value
                spec["priorityClassSource"] = found
        job_templates.create_workload(
            self.reg, job, workload_name(md["name"]), spec, "batch/v1", KIND, COMPONENT
        )

    def _start(self, job: Obj, wl: Obj) -> None:
        flavors = self.mgr.informers[FLAVORS].cache
        admission = wl["status"]["admission"]
        tspec = _template_spec(job)
        for psa in admission.get("podSetAssignments") or []:
            conflict = job_templates.inject_flavors(tspec, psa, flavors)
            if conflict:
                self.mgr.evict(object_key(wl), "InvalidNodeSelector", conflict)
                return
        job["spec"]["suspend"] = False
        self.reg.update(RESOURCE, job, job["metadata"].get("namespace"))
        record_event(
            self.reg,
            job,
            "Normal",
            "Started",
            f"Admitted by clusterQueue {admission.get('clusterQueue')}",
            COMPONENT,
        )

    def _suspend(self, job: Obj, wl: Obj | None, why: str) -> None:
        tspec = _template_spec(job)
        for ps in ((wl or {}).get("spec") or {}).get("podSets") or []:
            job_templates.restore_template(tspec, (ps.get("template") or {}).get("spec") or {})
        job["spec"]["suspend"] = True
        self.reg.update(RESOURCE, job, job["metadata"].get("namespace"))
        record_event(self.reg, job, "Normal", "Stopped", why, COMPONENT)

    def _sync_pods_ready(self, job: Obj, wl: Obj) -> None:
        st = job.get("status") or {}
        running = int(st.get("ready") or 0) + int(st.get("succeeded") or 0) >= pod_count(job)
        want = "True" if running else "False"
        current = condition(wl, "PodsReady")
        if current is not None and current.get("status") == want:
            return
        msg = (
            "All pods reached readiness and the workload is running"
            if running
            else "Not all pods are ready or succeeded"
        )
        conds = wl.setdefault("status", {}).setdefault("conditions", [])
        set_condition(conds, "PodsReady", want, "PodsReady", msg)
        self.reg.update(f"{WORKLOADS}/status", wl, wl["metadata"].get("namespace"))
