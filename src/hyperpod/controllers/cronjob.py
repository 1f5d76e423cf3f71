"""The CronJob controller: creates a Job at each scheduled time.

Times follow ``spec.schedule`` in ``spec.timeZone`` (UTC when unset). A Job is named
``<cronjob>-<scheduled time in minutes since the epoch>`` and annotated
``batch.kubernetes.io/cronjob-scheduled-timestamp``. ``concurrencyPolicy`` Forbid skips a run
while a Job is active, Replace deletes the active Jobs first; a run later than
``startingDeadlineSeconds`` is skipped; ``suspend`` stops new runs; finished Jobs beyond
``successfulJobsHistoryLimit`` / ``failedJobsHistoryLimit`` are deleted, oldest first. Status:
``active`` (references), ``lastScheduleTime``, ``lastSuccessfulTime``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import zoneinfo
from datetime import datetime
from typing import Any

from hyperpod.api import cron
from hyperpod.api.meta import rfc3339
from hyperpod.apiserver.errors import AlreadyExists, ApiError, NotFound
from hyperpod.apiserver.metadata import owner_reference, parse_time
from hyperpod.apiserver.registry import Registry
from hyperpod.controllers import workloads as wl
from hyperpod.runtime.context import Component, ControlPlaneContext
from hyperpod.runtime.machinery import Controller, Informer, record_event, run_controller, split_key

log = logging.getLogger(__name__)

Obj = dict[str, Any]
RESOURCE = "cronjobs.batch"
JOBS = "jobs.batch"
COMPONENT = "cronjob-controller"
SCHEDULED = "batch.kubernetes.io/cronjob-scheduled-timestamp"


def _finished(job: Obj) -> str | None:
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
            return str(c["type"])
    return None


class CronJobController:
    def __init__(self, reg: Registry) -> None:
        self.reg = reg
        self.controller = Controller(COMPONENT, self.reconcile)
        self.cronjobs = Informer(reg, RESOURCE)
        self.jobs = Informer(reg, JOBS)
        self.cronjobs.add_handler(self._on_cronjob)
        self.jobs.add_handler(self._on_job)

    def _on_cronjob(self, typ: str, obj: Obj, old: Obj | None) -> None:
        md = obj.get("metadata") or {}
        self.controller.enqueue(f"{md.get('namespace')}/{md.get('name')}")

    def _on_job(self, typ: str, obj: Obj, old: Obj | None) -> None:
        ref = wl.controller_ref(obj)
        if ref is not None and ref.get("kind") == "CronJob":
            ns = (obj.get("metadata") or {}).get("namespace")
            self.controller.enqueue(f"{ns}/{ref.get('name')}")

    async def run(self, stopping: asyncio.Event) -> None:
        await run_controller(self.controller, [self.cronjobs, self.jobs], stopping)

    async def reconcile(self, key: str) -> float | None:
        ns, name = split_key(key)
        cj = self.reg.try_get(RESOURCE, name, ns)
        if cj is None or cj["metadata"].get("deletionTimestamp"):
            return None
        spec = cj.get("spec") or {}
        jobs = [j for j in self.reg.list(JOBS, ns) if wl.controller_uid(j) == cj["metadata"]["uid"]]
        active = [
            j for j in jobs if not _finished(j) and not j["metadata"].get("deletionTimestamp")
        ]
        self._clean_history(cj, jobs)
        status: Obj = copy.deepcopy(cj.get("status") or {})
        tz = zoneinfo.ZoneInfo(spec.get("timeZone") or "UTC")
        now = datetime.now(tz)
        schedule = cron.parse(str(spec.get("schedule")))
        requeue = (schedule.next_after(now) - now).total_seconds() + 0.05
        if not spec.get("suspend"):
            since = parse_time(
                status.get("lastScheduleTime") or cj["metadata"]["creationTimestamp"]
            )
            due, _ = cron.most_recent(schedule, (since or now).astimezone(tz), now)
            if due is not None and not self._start_due(cj, due, now, active, status):
                requeue = 1.0  # Forbid: retry soon (the active job's end also wakes us)
        self._write_status(cj, status, active, jobs)
        return max(0.05, requeue)

    def _start_due(
        self, cj: Obj, due: datetime, now: datetime, active: list[Obj], status: Obj
    ) -> bool:
        """Start the run scheduled at ``due`` (or skip it); False when Forbid holds it back."""
        spec = cj.get("spec") or {}
        ns = cj["metadata"].get("namespace")
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None and (now - due).total_seconds() > int(deadline):
            message = f"Missed scheduled time to start a job: {rfc3339(due)}"
            record_event(self.reg, cj, "Warning", "MissSchedule", message, COMPONENT)
            status["lastScheduleTime"] = rfc3339(due)
            return True
        policy = spec.get("concurrencyPolicy", "Allow")
        if policy == "Forbid" and active:
            message = (
                "Not starting job because prior execution is running and concurrency policy "
                "is Forbid"
            )
            record_event(self.reg, cj, "Normal", "JobAlreadyActive", message, COMPONENT)
            return False
        if policy == "Replace":
            for j in active:
                with contextlib.suppress(NotFound):
                    self.reg.delete(
                        JOBS, j["metadata"]["name"], ns, propagation_policy="Background"
                    )
                message = f"Deleted job {j['metadata']['name']}"
                record_event(self.reg, cj, "Normal", "SuccessfulDelete", message, COMPONENT)
            active.clear()
        made = self._create_job(cj, due)
        if made is not None:
            active.append(made)
        status["lastScheduleTime"] = rfc3339(due)
        return True

    def _write_status(self, cj: Obj, status: Obj, active: list[Obj], jobs: list[Obj]) -> None:
        ns = cj["metadata"].get("namespace")
        status["active"] = [
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "name": j["metadata"]["name"],
                "namespace": ns,
                "uid": j["metadata"]["uid"],
                "resourceVersion": j["metadata"].get("resourceVersion", ""),
            }
            for j in active
        ]
        if not status["active"]:
            status.pop("active")
        done = [
            str((j.get("status") or {}).get("completionTime"))
            for j in jobs
            if _finished(j) == "Complete" and (j.get("status") or {}).get("completionTime")
        ]
        if done:
            status["lastSuccessfulTime"] = max(done)
        if status != (cj.get("status") or {}):
            cj["status"] = status
            with contextlib.suppress(NotFound):
                self.reg.update(f"{RESOURCE}/status", cj, ns)

    def _create_job(self, cj: Obj, due: datetime) -> Obj | None:
        template = (cj.get("spec") or {}).get("jobTemplate") or {}
        tmd = template.get("metadata") or {}
        name = f"{cj['metadata']['name']}-{int(due.timestamp()) // 60}"
        job: Obj = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": name,
                "namespace": cj["metadata"].get("namespace"),
                "labels": dict(tmd.get("labels") or {}),
                "annotations": {**(tmd.get("annotations") or {}), SCHEDULED: rfc3339(due)},
                "ownerReferences": [owner_reference(cj)],
            },
            "spec": copy.deepcopy(template.get("spec") or {}),
        }
        try:
            made = self.reg.create(JOBS, job, cj["metadata"].get("namespace"))
        except AlreadyExists:
            return None
        except ApiError as exc:
            record_event(self.reg, cj, "Warning", "FailedCreate", exc.message, COMPONENT)
            return None
        record_event(self.reg, cj, "Normal", "SuccessfulCreate", f"Created job {name}", COMPONENT)
        return made

    def _clean_history(self, cj: Obj, jobs: list[Obj]) -> None:
        spec = cj.get("spec") or {}
        for kind, limit in (
            ("Complete", int(spec.get("successfulJobsHistoryLimit", 3))),
            ("Failed", int(spec.get("failedJobsHistoryLimit", 1))),
        ):
            finished = sorted(
                (
                    j
                    for j in jobs
                    if _finished(j) == kind and not j["metadata"].get("deletionTimestamp")
                ),
                key=lambda j: str(j["metadata"].get("creationTimestamp")),
            )
            for j in finished[: max(0, len(finished) - limit)]:
                with contextlib.suppress(NotFound):
                    self.reg.delete(
                        JOBS,
                        j["metadata"]["name"],
                        j["metadata"].get("namespace"),
                        propagation_policy="Background",
                    )


async def _start(ctx: ControlPlaneContext) -> None:
    await CronJobController(ctx.reg).run(ctx.stopping)


def component() -> Component:
    return Component(name=COMPONENT, start=_start)
