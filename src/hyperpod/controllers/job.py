"""The Job controller: runs pods to ``completions`` with at most ``parallelism`` at a time.

NonIndexed jobs count successes; Indexed jobs give each pod an index (annotation and label
``batch.kubernetes.io/job-completion-index``, env ``JOB_COMPLETION_INDEX``) and finish when
every index succeeded (``status.completedIndexes``). Failures count against ``backoffLimit``
(container restarts too, under OnFailure) unless the ``podFailurePolicy`` says Ignore or
FailJob; ``activeDeadlineSeconds`` fails a running job; ``suspend`` stops its pods (Kueue's
way to hold a job until admitted); ``ttlSecondsAfterFinished`` deletes a finished job. The
conditions are SuccessCriteriaMet + Complete, FailureTarget + Failed, and Suspended.
Finished pods are kept (as in Kubernetes) and counted; counts never go down.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from datetime import UTC, datetime
from typing import Any

from hyperpod.apiserver.errors import ApiError, NotFound
from hyperpod.apiserver.kinds.job import COMPLETION_INDEX
from hyperpod.apiserver.metadata import now_rfc3339, parse_time
from hyperpod.apiserver.registry import Registry
from hyperpod.apiserver.selectors import label_selector_from_dict
from hyperpod.controllers import job_rules as rules
from hyperpod.controllers import workloads as wl
from hyperpod.runtime.context import Component, ControlPlaneContext
from hyperpod.runtime.machinery import (
    Controller,
    Informer,
    record_event,
    run_controller,
    set_condition,
    split_key,
)

log = logging.getLogger(__name__)

Obj = dict[str, Any]
RESOURCE = "jobs.batch"
COMPONENT = "job-controller"


def _true(job: Obj, typ: str) -> bool:
    return any(
        c.get("type") == typ and c.get("status") == "True"
        for c in (job.get("status") or {}).get("conditions") or []
    )


def finished(job: Obj) -> bool:
    return _true(job, "Complete") or _true(job, "Failed")


class JobController:
    def __init__(self, reg: Registry) -> None:
        self.reg = reg
        self.controller = Controller(COMPONENT, self.reconcile)
        self.jobs = Informer(reg, RESOURCE)
        self.pods = Informer(reg, "pods")
        self.jobs.add_handler(self._on_job)
        self.pods.add_handler(self._on_pod)

    def _on_job(self, typ: str, obj: Obj, old: Obj | None) -> None:
        md = obj.get("metadata") or {}
        self.controller.enqueue(f"{md.get('namespace')}/{md.get('name')}")

    def _on_pod(self, typ: str, obj: Obj, old: Obj | None) -> None:
        ref = wl.controller_ref(obj)
        if ref is not None and ref.get("kind") == "Job":
            ns = (obj.get("metadata") or {}).get("namespace")
            self.controller.enqueue(f"{ns}/{ref.get('name')}")

    async def run(self, stopping: asyncio.Event) -> None:
        await run_controller(self.controller, [self.jobs, self.pods], stopping)

    def _pods(self, job: Obj) -> list[Obj]:
        md = job["metadata"]
        sel = label_selector_from_dict((job.get("spec") or {}).get("selector"))
        return [
            p
            for p in self.reg.list("pods", md.get("namespace"), label_selector=str(sel) or None)
            if wl.controller_uid(p) == md.get("uid")
        ]

    def _delete_pods(self, pods: list[Obj]) -> None:
        for pod in pods:
            with contextlib.suppress(NotFound):
                self.reg.delete("pods", pod["metadata"]["name"], pod["metadata"].get("namespace"))

    # --- one reconcile ----------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        ns, name = split_key(key)
        job = self.reg.try_get(RESOURCE, name, ns)
        if job is None or job["metadata"].get("deletionTimestamp"):
            return None
        spec = job.get("spec") or {}
        status: Obj = copy.deepcopy(job.get("status") or {})
        conds: list[Obj] = status.setdefault("conditions", [])
        pods = self._pods(job)
        active = [p for p in pods if wl.is_active(p)]
        now = datetime.now(UTC)
        if finished(job):
            self._delete_pods(active)
            return self._expire(job, now)
        if spec.get("suspend"):
            self._delete_pods(active)
            if set_condition(conds, "Suspended", "True", "JobSuspended", "Job suspended"):
                record_event(self.reg, job, "Normal", "Suspended", "Job suspended", COMPONENT)
            status["active"] = 0
            status.pop("startTime", None)
            self._write(job, status)
            return None
        if _true(job, "Suspended"):
            set_condition(conds, "Suspended", "False", "JobResumed", "Job resumed")
            record_event(self.reg, job, "Normal", "Resumed", "Job resumed", COMPONENT)
        status.setdefault("startTime", now_rfc3339())
        requeue = self._run(job, status, pods, active, now)
        self._write(job, status)
        return requeue

    def _run(
        self, job: Obj, status: Obj, pods: list[Obj], active: list[Obj], now: datetime
    ) -> float | None:
        spec = job.get("spec") or {}
        completions = spec.get("completions")
        succeeded_pods = [p for p in pods if (p.get("status") or {}).get("phase") == "Succeeded"]
        failed_pods = [p for p in pods if (p.get("status") or {}).get("phase") == "Failed"]
        fail_reason, fail_message, counted = rules.count_failures(job, failed_pods)
        status["failed"] = max(int(status.get("failed") or 0), counted)
        status["succeeded"] = max(int(status.get("succeeded") or 0), len(succeeded_pods))
        done = rules.parse_indexes(status.get("completedIndexes"))
        failed_idx: set[int] = set()
        if spec.get("completionMode") == "Indexed":
            done |= {
                i
                for p in succeeded_pods
                if (i := rules.index_of(p)) is not None and i < int(completions or 0)
            }
            status["succeeded"] = len(done)
            if done:
                status["completedIndexes"] = rules.format_indexes(done)
            failed_idx = rules.failed_indexes(job, failed_pods) - done
            if failed_idx:
                status["failedIndexes"] = rules.format_indexes(failed_idx)
        started = parse_time(status.get("startTime")) or now
        if not fail_reason:
            fail_reason, fail_message = rules.job_failure(
                job, status, failed_idx, sum(rules.restarts(p) for p in active), now - started
            )
        if fail_reason:
            return self._finish(job, status, active, now, "Failed", fail_reason, fail_message)
        if spec.get("completionMode") == "Indexed":
            if len(done | failed_idx) >= int(completions or 0):
                if failed_idx:
                    return self._finish(
                        job,
                        status,
                        active,
                        now,
                        "Failed",
                        "FailedIndexes",
                        "Job has failed indexes",
                    )
                return self._finish(job, status, active, now, "Complete", "", "")
        elif (completions is not None and status["succeeded"] >= int(completions)) or (
            completions is None and succeeded_pods and not active
        ):
            return self._finish(job, status, active, now, "Complete", "", "")
        created = self._fill(
            job, active, done | failed_idx, status, int(spec.get("parallelism", 1))
        )
        status["active"] = len(active) + created
        status["ready"] = sum(1 for p in active if wl.ready_since(p) is not None)
        deadline = spec.get("activeDeadlineSeconds")
        if deadline is not None:
            return max(0.1, int(deadline) - (now - started).total_seconds())
        return None

    def _finish(
        self,
        job: Obj,
        status: Obj,
        active: list[Obj],
        now: datetime,
        outcome: str,
        reason: str,
        message: str,
    ) -> float | None:
        """Stop the remaining pods and set the terminal conditions (and completionTime)."""
        self._delete_pods(active)
        conds: list[Obj] = status["conditions"]
        if outcome == "Complete":
            msg = "Reached expected number of succeeded pods"
            set_condition(conds, "SuccessCriteriaMet", "True", "CompletionsReached", msg)
            set_condition(conds, "Complete", "True", "CompletionsReached", msg)
            status["completionTime"] = now_rfc3339()
            record_event(self.reg, job, "Normal", "Completed", "Job completed", COMPONENT)
        else:
            set_condition(conds, "FailureTarget", "True", reason, message)
            set_condition(conds, "Failed", "True", reason, message)
            record_event(self.reg, job, "Warning", reason, message, COMPONENT)
        status["active"] = 0
        status.pop("ready", None)
        return self._ttl_after(job, now)

    def _fill(
        self, job: Obj, active: list[Obj], done: set[int], status: Obj, parallelism: int
    ) -> int:
        """Create (or remove) pods so that the right number are active; returns the created count."""
        spec = job.get("spec") or {}
        ns = job["metadata"].get("namespace")
        completions = spec.get("completions")
        if spec.get("completionMode") == "Indexed":
            running = {rules.index_of(p) for p in active}
            todo = [i for i in range(int(completions or 0)) if i not in done and i not in running]
            want_new = todo[: max(0, parallelism - len(active))]
        else:
            if completions is None:
                remaining = 0 if status.get("succeeded") else parallelism
            else:
                remaining = int(completions) - int(status.get("succeeded") or 0)
            want = min(parallelism, remaining)
            if len(active) > want:
                self._delete_pods(wl.pods_to_delete(active, len(active) - want))
                return want - len(active)
            want_new = [None] * (want - len(active))  # type: ignore[list-item]
        created = 0
        for index in want_new:
            pod = self._pod(job, index)
            try:
                made = self.reg.create("pods", pod, ns)
            except ApiError as exc:
                record_event(self.reg, job, "Warning", "FailedCreate", exc.message, COMPONENT)
                break
            created += 1
            record_event(
                self.reg,
                job,
                "Normal",
                "SuccessfulCreate",
                f"Created pod: {made['metadata']['name']}",
                COMPONENT,
            )
        return created

    def _pod(self, job: Obj, index: int | None) -> Obj:
        template = (job.get("spec") or {}).get("template") or {}
        name = job["metadata"]["name"]
        if index is None:
            return wl.pod_from_template(job, template, generate_name=f"{name}-")
        pod = wl.pod_from_template(job, template, generate_name=f"{name}-{index}-")
        md = pod["metadata"]
        md.setdefault("annotations", {})[COMPLETION_INDEX] = str(index)
        md["labels"][COMPLETION_INDEX] = str(index)
        pod["spec"].setdefault("hostname", f"{name}-{index}")
        for c in pod["spec"].get("containers") or []:
            env = [e for e in c.get("env") or [] if e.get("name") != "JOB_COMPLETION_INDEX"]
            env.append({"name": "JOB_COMPLETION_INDEX", "value": str(index)})
            c["env"] = env
        return pod

    def _ttl_after(self, job: Obj, now: datetime) -> float | None:
        ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        return None if ttl is None else max(0.1, float(ttl))

    def _expire(self, job: Obj, now: datetime) -> float | None:
        """Delete a finished job once its ttlSecondsAfterFinished has passed."""
        ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        if ttl is None:
            return None
        status = job.get("status") or {}
        ended = parse_time(status.get("completionTime"))
        if ended is None:
            ended = max(
                (
                    t
                    for c in status.get("conditions") or []
                    if c.get("type") in ("Complete", "Failed")
                    and c.get("status") == "True"
                    and (t := parse_time(c.get("lastTransitionTime"))) is not None
                ),
                default=now,
            )
        left = float(ttl) - (now - ended).total_seconds()
        if left > 0:
            return max(0.1, left)
        md = job["metadata"]
        with contextlib.suppress(NotFound):
            self.reg.delete(
                RESOURCE, md["name"], md.get("namespace"), propagation_policy="Background"
            )
        return None

    def _write(self, job: Obj, status: Obj) -> None:
        if not status.get("conditions"):
            status.pop("conditions", None)
        for k in ("active", "succeeded", "failed", "ready"):
            if k in status and not status[k]:
                status.pop(k)
        if status != (job.get("status") or {}):
            job["status"] = status
            with contextlib.suppress(NotFound):
                self.reg.update(f"{RESOURCE}/status", job, job["metadata"].get("namespace"))


async def _start(ctx: ControlPlaneContext) -> None:
    await JobController(ctx.reg).run(ctx.stopping)


def component() -> Component:
    return Component(name=COMPONENT, start=_start)
