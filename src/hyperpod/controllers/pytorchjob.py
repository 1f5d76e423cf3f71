"""The PyTorchJob operator: watches jobs, pods and services and applies the rules' plan.

The decisions live in :mod:`hyperpod.controllers.pytorchjob_rules` (pure); this module reads
the current state straight from the registry (so a reconcile never acts on a stale cache),
gives each job its own free master port on this machine (annotation
``hyperpod.local/master-port``), writes status first, then deletes and creates pods and
services (services before pods, the Master pod before any Worker), and records an event on the
job for every decision.

Local networking: pods share the host network. The chosen port replaces the
``pytorchjob-port`` in MASTER_PORT / PET_MASTER_PORT, in PET_RDZV_ENDPOINT (unless
``rdzvHost`` names an outside host) and in the headless services; the kubelet rewrites service
names such as ``<job>-master-0`` to 127.0.0.1 when it starts a container. Manifests and
training code stay as they would be on EKS.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import random
import socket
import time
from datetime import UTC, datetime
from typing import Any

from hyperpod.api import pytorchjob as api
from hyperpod.apiserver import validation
from hyperpod.apiserver.errors import AlreadyExists, ApiError, NotFound
from hyperpod.apiserver.patching import PatchType
from hyperpod.apiserver.registry import Registry
from hyperpod.controllers import pytorchjob_rules as rules
from hyperpod.runtime.context import Component, ControlPlaneContext
from hyperpod.runtime.machinery import (
    Controller,
    Informer,
    event_on_error,
    record_event,
    split_key,
)

log = logging.getLogger(__name__)

Obj = dict[str, Any]
COMPONENT = "pytorchjob-controller"
OWNED_SELECTOR = f"{api.LABEL_OPERATOR_NAME}={api.OPERATOR_NAME}"
# Master/rendezvous ports come from below Linux's ephemeral range, so outgoing connections
# never take a port a job is about to listen on.
PORT_RANGE = (20000, 32000)


def port_is_free(port: int) -> bool:
    """Whether a TCP listener could bind ``port`` on every interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def choose_port(taken: set[int], rng: random.Random | None = None) -> int:
    """A free port in PORT_RANGE that no other job holds."""
    rng = rng or random.Random()
    low, high = PORT_RANGE
    for _ in range(200):
        port = rng.randint(low, high)
        if port not in taken and port_is_free(port):
            return port
    raise RuntimeError(f"no free port between {low} and {high}")


def owned_by(obj: Obj, job: Obj) -> bool:
    uid = job["metadata"].get("uid")
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(r.get("uid") == uid and r.get("controller") for r in refs)


class PyTorchJobOperator:
    """Reconciles every PyTorchJob of the cluster."""

    def __init__(self, reg: Registry) -> None:
        self.reg = reg
        self.controller = Controller(
            "pytorchjob-operator",
            self.reconcile,
            on_error=event_on_error(reg, api.RESOURCE, COMPONENT),
        )
        # Pods this operator deleted (or whose eviction it acted on), by uid; any other pod
        # found terminating was evicted or lost with its node.
        self.ours: set[str] = set()
        self.known_jobs: set[str] = set()
        # Job uid -> when its next full creation batch may go (see _pace).
        self._next_batch: dict[str, float] = {}
        # Pods the node health agent evicted that were gone before a reconcile saw them
        # terminating (a simulated node confirms at once), by job key: still a node fault.
        self.vanished: dict[str, list[Obj]] = {}
        self.jobs = Informer(reg, api.RESOURCE)
        self.pods = Informer(reg, "pods", label_selector=OWNED_SELECTOR)
        self.services = Informer(reg, "services", label_selector=OWNED_SELECTOR)
        self.jobs.add_handler(self._on_job)
        self.pods.add_handler(self._on_owned)
        self.services.add_handler(self._on_owned)

    # --- event handlers -------------------------------------------------------------------

    def _on_job(self, event_type: str, obj: Obj, old: Obj | None) -> None:
        md = obj.get("metadata") or {}
        if event_type == "DELETED":
            self.known_jobs.discard(str(md.get("uid")))
        self.controller.enqueue(f"{md.get('namespace')}/{md.get('name')}")

    def _on_owned(self, event_type: str, obj: Obj, old: Obj | None) -> None:
        md = obj.get("metadata") or {}
        lost = (
            event_type == "DELETED"
            and str(md.get("uid")) not in self.ours
            and rules.node_fault(obj) is not None
        )
        if event_type == "DELETED":
            self.ours.discard(str(md.get("uid")))
        for ref in md.get("ownerReferences") or []:
            if ref.get("kind") == api.KIND and ref.get("controller"):
                key = f"{md.get('namespace')}/{ref.get('name')}"
                if lost:
                    stamp = md.get("deletionTimestamp") or rules.rfc3339(datetime.now(UTC))
                    gone = {**obj, "metadata": {**md, "deletionTimestamp": stamp}}
                    self.vanished.setdefault(key, []).append(gone)
                self.controller.enqueue(key)

    # --- running --------------------------------------------------------------------------

    async def run(self, stopping: asyncio.Event) -> None:
        informers = [self.jobs, self.pods, self.services]
        for informer in informers:
            informer.start()
        worker = asyncio.get_running_loop().create_task(self.controller.run(stopping))
        try:
            await stopping.wait()
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            for informer in informers:
                await informer.stop()

    # --- one reconcile --------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        namespace, name = split_key(key)
        job = self.reg.try_get(api.RESOURCE, name, namespace)
        if job is None or job["metadata"].get("deletionTimestamp"):
            return None
        if not rules.managed_here(job):
            return None
        status = job.get("status") or {}
        if not rules.is_finished(status) and rules.local_port(job) is None:
            job = self._assign_port(job)
        selector = f"{OWNED_SELECTOR},{api.LABEL_JOB_NAME}={name}"
        pods = [
            p for p in self.reg.list("pods", namespace, label_selector=selector) if owned_by(p, job)
        ]
        services = [
            s
            for s in self.reg.list("services", namespace, label_selector=selector)
            if owned_by(s, job)
        ]
        names = {p["metadata"]["name"] for p in pods}
        for gone in self.vanished.pop(key, []):
            if gone["metadata"]["name"] not in names and owned_by(gone, job):
                pods.append(gone)
        if job["metadata"].get("uid") not in self.known_jobs:
            # First look since this process started: pods already terminating were ours.
            self.known_jobs.add(job["metadata"].get("uid"))
            self.ours.update(p["metadata"]["uid"] for p in pods if rules.is_terminating(p))
        plan = rules.plan(job, pods, services, datetime.now(UTC), self.ours)
        self.ours.update(plan.acknowledged)
        uids = {p["metadata"]["name"]: p["metadata"]["uid"] for p in pods}
        self.ours.update(uids[n] for n in plan.delete_pods if n in uids)
        if plan.status != status:
            plan.status["lastReconcileTime"] = rules.rfc3339(datetime.now(UTC))
            job = self.reg.update(api.STATUS_RESOURCE, {**job, "status": plan.status}, namespace)
        for event in plan.events:
            self._event(job, event.type, event.reason, event.message)
        self._pace(job, plan)
        await self._apply(job, plan)
        if plan.delete_job:
            with contextlib.suppress(NotFound):
                self.reg.delete(api.RESOURCE, name, namespace, propagation_policy="Background")
            self._event(
                job,
                rules.NORMAL,
                "TTLExpired",
                f"Deleted PyTorchJob {name}: ttlSecondsAfterFinished passed",
            )
            return None
        return plan.requeue_after

    def _assign_port(self, job: Obj) -> Obj:
        taken = {
            port
            for other in self.reg.list(api.RESOURCE)
            if other["metadata"].get("uid") != job["metadata"].get("uid")
            and not rules.is_finished(other.get("status") or {})
            for port in [rules.local_port(other)]
            if port is not None
        }
        port = choose_port(taken)
        patch = {"metadata": {"annotations": {api.ANNOTATION_MASTER_PORT: str(port)}}}
        md = job["metadata"]
        return self.reg.patch(api.RESOURCE, md["name"], patch, PatchType.MERGE, md.get("namespace"))

    def _pace(self, job: Obj, plan: rules.Plan) -> None:
        """At most one full creation batch per job every ``CREATE_INTERVAL_SECONDS``.

        Pod events requeue a job at once; without this a large job would create batch after
        batch as fast as the loop turns. Small jobs (one batch) are never delayed.
        """
        if not plan.create_pods and not plan.create_services:
            return
        uid = str(job["metadata"].get("uid"))
        now = time.monotonic()
        wait = self._next_batch.get(uid, 0.0) - now
        if wait > 0:
            plan.create_pods, plan.create_services = [], []
            plan.requeue(wait)
            return
        if max(len(plan.create_pods), len(plan.create_services)) >= rules.SLOW_START_BATCH:
            self._next_batch[uid] = now + rules.CREATE_INTERVAL_SECONDS
            if len(self._next_batch) > 10_000:
                self._next_batch = {u: t for u, t in self._next_batch.items() if t > now}

    async def _apply(self, job: Obj, plan: rules.Plan) -> None:
        """Carry out the plan, letting HTTP requests and other work run between writes."""
        namespace = job["metadata"].get("namespace")
        for pod in plan.delete_pods:
            if self._delete("pods", pod, namespace):
                self._event(job, rules.NORMAL, "SuccessfulDeletePod", f"Deleted pod: {pod}")
        for service in plan.delete_services:
            if self._delete("services", service, namespace):
                self._event(
                    job, rules.NORMAL, "SuccessfulDeleteService", f"Deleted service: {service}"
                )
        for i, new_service in enumerate(plan.create_services):
            if i:
                await asyncio.sleep(0)
            self._create(job, "services", new_service, "Service")
        for i, new_pod in enumerate(plan.create_pods):
            if i:
                await asyncio.sleep(0)
            if not self._create(job, "pods", new_pod, "Pod"):
                break  # workers start only after the master pod exists

    def _delete(self, resource: str, name: str, namespace: str | None) -> bool:
        try:
            self.reg.delete(resource, name, namespace)
        except NotFound:
            return False
        return True

    def _create(self, job: Obj, resource: str, obj: Obj, kind: str) -> bool:
        name = obj["metadata"]["name"]
        try:
            self.reg.create(resource, obj, job["metadata"].get("namespace"))
        except AlreadyExists:
            return True
        except ApiError as err:
            self._event(job, rules.WARNING, f"FailedCreate{kind}", f"Error creating: {err.message}")
            log.warning(
                "pytorchjob %s: could not create %s %s: %s",
                job["metadata"]["name"],
                kind,
                name,
                err.message,
            )
            return False
        self._event(job, rules.NORMAL, f"SuccessfulCreate{kind}", f"Created {kind.lower()}: {name}")
        return True

    def _event(self, job: Obj, type_: str, reason: str, message: str) -> None:
        record_event(self.reg, job, type_, reason, message, COMPONENT)


def validate(obj: Obj, old: Obj | None) -> list[dict[str, str]]:
    """The webhook's checks plus each pod template validated as a Pod would be.

    A template that could never become a pod is refused at create (422 naming the field)
    instead of leaving the job stuck with FailedCreatePod events.
    """
    causes = api.validate(obj, old)
    seen = {c["field"] for c in causes}
    specs = (obj.get("spec") or {}).get("pytorchReplicaSpecs") or {}
    for rtype, spec in specs.items() if isinstance(specs, dict) else ():
        template = (spec or {}).get("template") if isinstance(spec, dict) else None
        if not isinstance(template, dict) or not isinstance(template.get("spec"), dict):
            continue
        pod = {"apiVersion": "v1", "kind": "Pod", "spec": copy.deepcopy(template["spec"])}
        pod["metadata"] = {"name": "template"}
        validation.default_builtin("Pod", pod)
        field = f"spec.pytorchReplicaSpecs.{rtype}.template.spec"
        for found in validation.validate_pod_spec(pod["spec"], field):
            if found["field"] not in seen:
                seen.add(found["field"])
                causes.append(found)
    return causes


async def _start(ctx: ControlPlaneContext) -> None:
    await PyTorchJobOperator(ctx.reg).run(ctx.stopping)


def component() -> Component:
    """The training operator: the PyTorchJob CRD, its admission hooks and the controller."""
    return Component(
        name="pytorchjob-operator",
        crds=api.crds,
        admission={api.RESOURCE: (api.default, validate)},
        start=_start,
        addon="trainingOperator",
    )
