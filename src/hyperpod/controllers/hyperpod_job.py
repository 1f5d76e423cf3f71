"""The HyperPodPyTorchJob operator: reconciles jobs with their pods and applies the rules' plan.

Decisions live in :mod:`hyperpod.controllers.hyperpod_job_rules` (pure). This module reads the
state from the registry, gives each job its own free master port on this machine (annotation
``hyperpod.local/master-port``, shared with the PyTorchJob operator), checks the job's
``logMonitoringConfiguration`` against its pods' logs (:mod:`.hyperpod_job_logs`), writes
status, events and the pods, and logs every decision to its own log, which ``kubectl logs``
serves through the operator pod (:mod:`.hyperpod_job_operator_pod`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hyperpod.api import hyperpod_job as api
from hyperpod.api import pytorchjob as ptj
from hyperpod.apiserver.errors import AlreadyExists, ApiError, NotFound
from hyperpod.apiserver.patching import PatchType
from hyperpod.apiserver.registry import Registry
from hyperpod.controllers import hyperpod_job_rules as rules
from hyperpod.controllers.hyperpod_job_logs import LogMonitor
from hyperpod.controllers.hyperpod_job_operator_pod import OperatorPod
from hyperpod.controllers.hyperpod_job_restart import hand_over
from hyperpod.controllers.pytorchjob import choose_port, owned_by
from hyperpod.runtime.context import RESTART_IN_PLACE, Component, ControlPlaneContext
from hyperpod.runtime.machinery import Controller, Informer, record_event, split_key

log = logging.getLogger("hyperpod.hp-training-operator")

Obj = dict[str, Any]
COMPONENT = "hyperpod-training-operator"


class HyperPodJobOperator:
    """Reconciles every HyperPodPyTorchJob of the cluster."""

    def __init__(
        self,
        reg: Registry,
        monitor: LogMonitor | None = None,
        data_dir: Path | None = None,
        services: dict[str, Any] | None = None,
    ) -> None:
        self.reg = reg
        self.data_dir = data_dir
        self.services = services if services is not None else {}  # the kubelet's, when it runs
        self.monitor = monitor
        self.controller = Controller("hyperpod-training-operator", self.reconcile)
        self.jobs = Informer(reg, api.RESOURCE)
        self.pods = Informer(reg, "pods", label_selector=api.LABEL_JOB)
        # Pods the health agent evicted that vanished before a reconcile saw them, and the
        # evictions already counted (by pod uid), so each counts once.
        self.gone: dict[str, dict[str, Obj]] = {}
        self.counted_evictions: set[str] = set()
        self.jobs.add_handler(self._on_job)
        self.pods.add_handler(self._on_pod)

    def _on_job(self, event_type: str, obj: Obj, old: Obj | None) -> None:
        md = obj.get("metadata") or {}
        self.controller.enqueue(f"{md.get('namespace')}/{md.get('name')}")

    def _on_pod(self, event_type: str, obj: Obj, old: Obj | None) -> None:
        md = obj.get("metadata") or {}
        for ref in md.get("ownerReferences") or []:
            if ref.get("kind") == api.KIND and ref.get("controller"):
                key = f"{md.get('namespace')}/{ref.get('name')}"
                uid = str(md.get("uid") or "")
                if (
                    event_type == "DELETED"
                    and uid not in self.counted_evictions
                    and rules.evicted_by_health_agent(obj)
                ):
                    self.gone.setdefault(key, {})[uid] = obj
                self.controller.enqueue(key)

    async def run(self, stopping: asyncio.Event) -> None:
        for informer in (self.jobs, self.pods):
            informer.start()
        worker = asyncio.get_running_loop().create_task(self.controller.run(stopping))
        log.info("hp-training-operator started: watching %s", api.RESOURCE)
        try:
            await stopping.wait()
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            for informer in (self.jobs, self.pods):
                await informer.stop()

    async def reconcile(self, key: str) -> float | None:
        namespace, name = split_key(key)
        job = self.reg.try_get(api.RESOURCE, name, namespace)
        if job is None or job["metadata"].get("deletionTimestamp"):
            return None
        status = job.get("status") or {}
        if not rules.is_finished(status) and rules.local_port(job) is None:
            job = self._assign_port(job)
        selector = f"{api.LABEL_JOB}={name}"
        pods = [
            p for p in self.reg.list("pods", namespace, label_selector=selector) if owned_by(p, job)
        ]
        services = [
            s
            for s in self.reg.list("services", namespace, label_selector=selector)
            if owned_by(s, job)
        ]
        now = datetime.now(UTC)
        faults: list[rules.Fault] = []
        watching = False
        if self.monitor is not None and not rules.is_finished(status):
            faults, watching = await self.monitor.check(job, pods, now)
        gone = [p for uid, p in self.gone.pop(key, {}).items() if uid not in self.counted_evictions]
        plan = rules.plan(job, pods, services, faults, now, gone)
        self.counted_evictions.update(
            str(p["metadata"].get("uid"))
            for p in [*pods, *gone]
            if rules.evicted_by_health_agent(p)
        )
        if plan.status != status:
            job = self.reg.update(api.STATUS_RESOURCE, {**job, "status": plan.status}, namespace)
            self._log_transition(job, status, plan.status)
        for event in plan.events:
            self._event(job, event.type, event.reason, event.message)
        self._apply(job, plan)
        if plan.delete_job:
            with contextlib.suppress(NotFound):
                self.reg.delete(api.RESOURCE, name, namespace, propagation_policy="Background")
            log.info("job %s/%s deleted: ttlSecondsAfterFinished passed", namespace, name)
            return None
        if watching:
            plan.requeue(1.0)
        return plan.requeue_after

    def _log_transition(self, job: Obj, before: Obj, after: Obj) -> None:
        md = job["metadata"]
        old = [(c.get("type"), c.get("status")) for c in before.get("conditions") or []]
        for cond in after.get("conditions") or []:
            if (cond.get("type"), cond.get("status")) not in old:
                log.info(
                    "job %s/%s: %s=%s (%s) %s",
                    md.get("namespace"),
                    md["name"],
                    cond.get("type"),
                    cond.get("status"),
                    cond.get("reason"),
                    cond.get("message") or "",
                )

    def _assign_port(self, job: Obj) -> Obj:
        taken: set[int] = set()
        for resource in (api.RESOURCE, ptj.RESOURCE):
            if self.reg.catalog.get(resource) is None:
                continue
            for other in self.reg.list(resource):
                raw = (other["metadata"].get("annotations") or {}).get(api.ANNOTATION_MASTER_PORT)
                if (
                    other["metadata"].get("uid") != job["metadata"].get("uid")
                    and str(raw).isdigit()
                ):
                    taken.add(int(str(raw)))
        port = choose_port(taken)
        patch = {"metadata": {"annotations": {api.ANNOTATION_MASTER_PORT: str(port)}}}
        md = job["metadata"]
        return self.reg.patch(api.RESOURCE, md["name"], patch, PatchType.MERGE, md.get("namespace"))

    def _restart_in_place(self, pod: Obj | None) -> bool:
        restart = self.services.get(RESTART_IN_PLACE)  # only a kubelet on this machine can
        return bool(
            self.data_dir is not None and restart is not None and restart(self.data_dir, pod)
        )

    def _apply(self, job: Obj, plan: rules.Plan) -> None:
        namespace = job["metadata"].get("namespace")
        if plan.annotate_job:
            md = job["metadata"]
            patch_job = {"metadata": {"annotations": plan.annotate_job}}
            with contextlib.suppress(NotFound):
                self.reg.patch(api.RESOURCE, md["name"], patch_job, PatchType.MERGE, namespace)
        for spare, env in plan.promote.items():
            if self.data_dir is not None:
                hand_over(self.data_dir, self.reg.try_get("pods", spare, namespace), env)
        for pod, patch_pod in plan.patch_pods.items():
            with contextlib.suppress(NotFound):
                self.reg.patch("pods", pod, patch_pod, PatchType.MERGE, namespace)
        for pod, notes in plan.annotate_pods.items():
            patch = {"metadata": {"annotations": notes}}
            with contextlib.suppress(NotFound):
                self.reg.patch("pods", pod, patch, PatchType.MERGE, namespace)
        if plan.restart_in_place:
            restarted = [
                pod
                for pod in plan.restart_in_place
                if self._restart_in_place(self.reg.try_get("pods", pod, namespace))
            ]
            if restarted:
                self._event(
                    job,
                    rules.NORMAL,
                    "RestartedInPlace",
                    f"Restarted the training process of {', '.join(restarted)} in place",
                )
        for pod in plan.delete_pods:
            try:
                self.reg.delete("pods", pod, namespace)
            except NotFound:
                continue
            self._event(job, rules.NORMAL, "SuccessfulDeletePod", f"Deleted pod: {pod}")
        for service in plan.create_services:
            self._create(job, "services", service, "Service")
        for pod_obj in plan.create_pods:
            self._create(job, "pods", pod_obj, "Pod")

    def _create(self, job: Obj, resource: str, obj: Obj, kind: str) -> None:
        name = obj["metadata"]["name"]
        try:
            self.reg.create(resource, obj, job["metadata"].get("namespace"))
        except AlreadyExists:
            return
        except ApiError as err:
            self._event(job, rules.WARNING, f"FailedCreate{kind}", f"Error creating: {err.message}")
            return
        self._event(job, rules.NORMAL, f"SuccessfulCreate{kind}", f"Created {kind.lower()}: {name}")

    def _event(self, job: Obj, type_: str, reason: str, message: str) -> None:
        md = job["metadata"]
        log.info("job %s/%s: %s %s: %s", md.get("namespace"), md["name"], type_, reason, message)
        record_event(self.reg, job, type_, reason, message, COMPONENT)


async def _start(ctx: ControlPlaneContext) -> None:
    operator_pod = OperatorPod(ctx)
    await operator_pod.start(log)
    monitor = LogMonitor(operator_pod.job_log_reader)
    try:
        await HyperPodJobOperator(ctx.reg, monitor, Path(ctx.data_dir), ctx.services).run(
            ctx.stopping
        )
    finally:
        operator_pod.stop(log)


def component() -> Component:
    """HyperPod's training operator: the HyperPodPyTorchJob CRD, its hooks and the controller."""
    return Component(
        name="hyperpod-training-operator",
        crds=api.crds,
        admission={api.RESOURCE: (api.default, api.validate)},
        start=_start,
        addon="trainingOperator",
    )
