"""The Deployment controller: one ReplicaSet per pod template, rolled by the strategy.

RollingUpdate scales the new ReplicaSet up within ``maxSurge`` and old ones down while
``replicas - maxUnavailable`` pods stay available; Recreate scales old ones to zero and waits
for their pods to go before starting the new one. Each ReplicaSet carries the
``deployment.kubernetes.io/revision`` annotation and a ``pod-template-hash`` label, so
``kubectl rollout history|undo`` work on them; ``spec.paused`` stops rollouts; the status
reports replicas and the Available/Progressing conditions (``progressDeadlineSeconds``).
The arithmetic lives in :mod:`hyperpod.controllers.deployment_rules` (pure).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from datetime import UTC, datetime
from typing import Any

from hyperpod.apiserver.errors import AlreadyExists, NotFound
from hyperpod.apiserver.metadata import now_rfc3339, owner_reference, parse_time
from hyperpod.apiserver.registry import Registry
from hyperpod.controllers import deployment_rules as rules
from hyperpod.controllers import workloads as wl
from hyperpod.runtime.context import Component, ControlPlaneContext
from hyperpod.runtime.machinery import Controller, Informer, record_event, run_controller, split_key

log = logging.getLogger(__name__)

Obj = dict[str, Any]
RESOURCE = "deployments.apps"
SETS = "replicasets.apps"
COMPONENT = "deployment-controller"


def _condition(conds: list[Obj], typ: str) -> Obj | None:
    return next((c for c in conds if c.get("type") == typ), None)


def _set_condition(
    conds: list[Obj], typ: str, status: str, reason: str, message: str, *, progress: bool
) -> None:
    """Deployment conditions carry lastUpdateTime (moved on progress) and lastTransitionTime."""
    now = now_rfc3339()
    c = _condition(conds, typ)
    if c is None:
        conds.append(
            {
                "type": typ,
                "status": status,
                "lastUpdateTime": now,
                "lastTransitionTime": now,
                "reason": reason,
                "message": message,
            }
        )
        return
    if c.get("status") != status:
        c["lastTransitionTime"] = now
    if progress or c.get("status") != status or c.get("reason") != reason:
        c["lastUpdateTime"] = now
    c.update(status=status, reason=reason, message=message)


class DeploymentController:
    def __init__(self, reg: Registry) -> None:
        self.reg = reg
        self.controller = Controller(COMPONENT, self.reconcile)
        self.deployments = Informer(reg, RESOURCE)
        self.sets = Informer(reg, SETS)
        self.deployments.add_handler(self._on_deployment)
        self.sets.add_handler(self._on_set)

    def _on_deployment(self, typ: str, obj: Obj, old: Obj | None) -> None:
        md = obj.get("metadata") or {}
        self.controller.enqueue(f"{md.get('namespace')}/{md.get('name')}")

    def _on_set(self, typ: str, obj: Obj, old: Obj | None) -> None:
        ref = wl.controller_ref(obj)
        if ref is not None and ref.get("kind") == "Deployment":
            ns = (obj.get("metadata") or {}).get("namespace")
            self.controller.enqueue(f"{ns}/{ref.get('name')}")

    async def run(self, stopping: asyncio.Event) -> None:
        await run_controller(self.controller, [self.deployments, self.sets], stopping)

    # --- one reconcile ----------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        ns, name = split_key(key)
        deploy = self.reg.try_get(RESOURCE, name, ns)
        if deploy is None or deploy["metadata"].get("deletionTimestamp"):
            return None
        uid = deploy["metadata"]["uid"]
        sets = [rs for rs in self.reg.list(SETS, ns) if wl.controller_uid(rs) == uid]
        if any(
            int(rules.status_count(rs, "observedGeneration"))
            < int(rs["metadata"].get("generation", 1))
            for rs in sets
        ):
            return None  # a ReplicaSet has not caught up yet; its status change requeues us
        spec = deploy.get("spec") or {}
        template = spec.get("template") or {}
        new = next(
            (rs for rs in sets if rules.without_hash(rs["spec"]["template"]) == template), None
        )
        old = [rs for rs in sets if rs is not new]
        paused = bool(spec.get("paused"))
        created = False
        if not paused:
            if new is None:
                new = self._create_set(deploy, sets)
                created = new is not None
                if new is None:
                    return 1.0
            new = self._sync_revision(deploy, new, old)
            self._rollout(deploy, new, old)
            self._clean_history(deploy, old)
        return self._write_status(deploy, new, old, created=created)

    def _create_set(self, deploy: Obj, sets: list[Obj]) -> Obj | None:
        spec = deploy["spec"]
        ns = deploy["metadata"].get("namespace")
        for collisions in range(4):
            h = rules.template_hash(spec["template"], collisions)
            template = copy.deepcopy(spec["template"])
            template.setdefault("metadata", {}).setdefault("labels", {})[rules.HASH_LABEL] = h
            selector = copy.deepcopy(spec.get("selector") or {})
            selector.setdefault("matchLabels", {})[rules.HASH_LABEL] = h
            annotations = {
                rules.REVISION: str(max([0, *(rules.revision_of(rs) for rs in sets)]) + 1),
                rules.DESIRED: str(spec.get("replicas", 1)),
                rules.MAX_REPLICAS: str(spec.get("replicas", 1) + rules.limits(deploy)[0]),
            }
            cause = (deploy["metadata"].get("annotations") or {}).get(rules.CHANGE_CAUSE)
            if cause:
                annotations[rules.CHANGE_CAUSE] = cause
            rs: Obj = {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": f"{deploy['metadata']['name']}-{h}",
                    "namespace": ns,
                    "labels": dict(template["metadata"]["labels"]),
                    "annotations": annotations,
                    "ownerReferences": [owner_reference(deploy)],
                },
                "spec": {
                    "replicas": 0,
                    "minReadySeconds": int(spec.get("minReadySeconds") or 0),
                    "selector": selector,
                    "template": template,
                },
            }
            try:
                made = self.reg.create(SETS, rs, ns)
            except AlreadyExists:
                continue
            record_event(
                self.reg,
                deploy,
                "Normal",
                "ScalingReplicaSet",
                f"Created new replica set {made['metadata']['name']!r}",
                COMPONENT,
            )
            return made
        return None

    def _sync_revision(self, deploy: Obj, new: Obj, old: list[Obj]) -> Obj:
        """The new set has the highest revision (a rollback re-numbers the old one it reuses);
        the deployment's annotation follows it."""
        top = max([0, *(rules.revision_of(rs) for rs in old)])
        ann = new["metadata"].setdefault("annotations", {})
        changed = False
        if rules.revision_of(new) <= top:
            ann[rules.REVISION] = str(top + 1)
            changed = True
        cause = (deploy["metadata"].get("annotations") or {}).get(rules.CHANGE_CAUSE)
        if cause and ann.get(rules.CHANGE_CAUSE) != cause:
            ann[rules.CHANGE_CAUSE] = cause
            changed = True
        min_ready = int((deploy.get("spec") or {}).get("minReadySeconds") or 0)
        if int(new["spec"].get("minReadySeconds") or 0) != min_ready:
            new["spec"]["minReadySeconds"] = min_ready
            changed = True
        if changed:
            new = self.reg.update(SETS, new, new["metadata"].get("namespace"))
        dann = deploy["metadata"].setdefault("annotations", {})
        if dann.get(rules.REVISION) != ann[rules.REVISION]:
            dann[rules.REVISION] = ann[rules.REVISION]
            updated = self.reg.update(RESOURCE, deploy, deploy["metadata"].get("namespace"))
            deploy["metadata"] = updated["metadata"]
        return new

    def _scale(self, deploy: Obj, rs: Obj, replicas: int) -> Obj:
        before = rules.spec_replicas(rs)
        if before == replicas:
            return rs
        rs["spec"]["replicas"] = replicas
        ann = rs["metadata"].setdefault("annotations", {})
        ann[rules.DESIRED] = str(deploy["spec"].get("replicas", 1))
        ann[rules.MAX_REPLICAS] = str(deploy["spec"].get("replicas", 1) + rules.limits(deploy)[0])
        updated = self.reg.update(SETS, rs, rs["metadata"].get("namespace"))
        way = "up" if replicas > before else "down"
        record_event(
            self.reg,
            deploy,
            "Normal",
            "ScalingReplicaSet",
            f"Scaled {way} replica set {rs['metadata']['name']} from {before} to {replicas}",
            COMPONENT,
        )
        return updated

    def _rollout(self, deploy: Obj, new: Obj, old: list[Obj]) -> None:
        spec = deploy["spec"]
        replicas = int(spec.get("replicas", 1))
        if (spec.get("strategy") or {}).get("type") == "Recreate":
            for rs in old:
                self._scale(deploy, rs, 0)
            if any(rules.status_count(rs, "replicas") for rs in old):
                return  # old pods are still stopping
            self._scale(deploy, new, replicas)
            return
        target = rules.scale_up_new(deploy, new, [new, *old])
        new_now = self._scale(deploy, new, target)
        new.update(new_now)
        downs = rules.scale_down_old(deploy, new, old)
        for rs in old:
            self._scale(deploy, rs, downs[rs["metadata"]["name"]])

    def _clean_history(self, deploy: Obj, old: list[Obj]) -> None:
        limit = int((deploy.get("spec") or {}).get("revisionHistoryLimit", 10))
        idle = sorted(
            (
                rs
                for rs in old
                if rules.spec_replicas(rs) == 0 and rules.status_count(rs, "replicas") == 0
            ),
            key=rules.revision_of,
        )
        for rs in idle[: max(0, len(idle) - limit)]:
            with contextlib.suppress(NotFound):
                self.reg.delete(SETS, rs["metadata"]["name"], rs["metadata"].get("namespace"))

    def _write_status(
        self, deploy: Obj, new: Obj | None, old: list[Obj], *, created: bool
    ) -> float | None:
        spec = deploy.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        all_sets = [*old, *([new] if new is not None else [])]
        prev = deploy.get("status") or {}
        total = sum(rules.status_count(rs, "replicas") for rs in all_sets)
        available = sum(rules.status_count(rs, "availableReplicas") for rs in all_sets)
        status: Obj = {
            "observedGeneration": deploy["metadata"].get("generation", 1),
            "replicas": total,
            "updatedReplicas": rules.status_count(new, "replicas") if new is not None else 0,
            "readyReplicas": sum(rules.status_count(rs, "readyReplicas") for rs in all_sets),
            "availableReplicas": available,
            "unavailableReplicas": max(0, replicas - available),
        }
        for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas"):
            if not status[k]:
                status.pop(k)
        if not status["unavailableReplicas"]:
            status.pop("unavailableReplicas")
        progressed = any(
            status.get(k) != prev.get(k)
            for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")
        )
        conds = copy.deepcopy(prev.get("conditions") or [])
        _, max_unavailable = rules.limits(deploy)
        if available >= replicas - max_unavailable:
            _set_condition(
                conds,
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                progress=False,
            )
        else:
            _set_condition(
                conds,
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                progress=False,
            )
        requeue = self._progressing(deploy, new, old, conds, created=created, progressed=progressed)
        status["conditions"] = conds
        if status != prev:
            deploy["status"] = status
            with contextlib.suppress(NotFound):
                self.reg.update(f"{RESOURCE}/status", deploy, deploy["metadata"].get("namespace"))
        return requeue

    def _progressing(
        self,
        deploy: Obj,
        new: Obj | None,
        old: list[Obj],
        conds: list[Obj],
        *,
        created: bool,
        progressed: bool,
    ) -> float | None:
        """Set Progressing; the seconds until the progress deadline, if a rollout is running."""
        spec = deploy.get("spec") or {}
        rs = f'ReplicaSet "{new["metadata"]["name"] if new is not None else ""}"'

        def progressing(status: str, reason: str, message: str, progress: bool) -> None:
            _set_condition(conds, "Progressing", status, reason, message, progress=progress)

        if spec.get("paused"):
            progressing("Unknown", "DeploymentPaused", "Deployment is paused", False)
            return None
        current = _condition(conds, "Progressing") or {}
        if current.get("reason") == "DeploymentPaused":
            progressing("Unknown", "DeploymentResumed", "Deployment is resumed", True)
        if rules.complete(deploy, new, old):
            first = current.get("reason") != "NewReplicaSetAvailable"
            progressing(
                "True", "NewReplicaSetAvailable", f"{rs} has successfully progressed.", first
            )
            return None
        deadline = spec.get("progressDeadlineSeconds")
        if created:
            progressing("True", "NewReplicaSetCreated", f"Created new replica set {rs[11:]}", True)
            return float(deadline or 600)
        if current.get("reason") == "ProgressDeadlineExceeded" and not progressed:
            return None
        last = parse_time(current.get("lastUpdateTime"))
        waited = (datetime.now(UTC) - last).total_seconds() if last and not progressed else 0.0
        if deadline is not None and waited > int(deadline):
            message = f"{rs} has timed out progressing."
            progressing("False", "ProgressDeadlineExceeded", message, False)
            record_event(
                self.reg, deploy, "Warning", "ProgressDeadlineExceeded", message, COMPONENT
            )
            return None
        progressing("True", "ReplicaSetUpdated", f"{rs} is progressing.", progressed)
        return None if deadline is None else max(0.5, int(deadline) - waited + 0.1)


async def _start(ctx: ControlPlaneContext) -> None:
    await DeploymentController(ctx.reg).run(ctx.stopping)


def component() -> Component:
    return Component(name=COMPONENT, start=_start)
