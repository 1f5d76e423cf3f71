"""The StatefulSet controller: pods with stable names ``<set>-<ordinal>``.

OrderedReady creates pods one at a time in ordinal order, each once the previous one is
Running and Ready, and removes them from the highest ordinal down; Parallel creates and
removes them all at once. A RollingUpdate replaces pods from the highest ordinal down to
``partition``, one at a time and only while every pod is Ready; OnDelete replaces a pod when
someone deletes it. Templates are kept as ControllerRevisions (``currentRevision``,
``updateRevision``). volumeClaimTemplates make one claim per pod (``statefulset_claims.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from datetime import UTC, datetime
from typing import Any

from hyperpod.apiserver.errors import AlreadyExists, ApiError, NotFound
from hyperpod.apiserver.registry import Registry
from hyperpod.apiserver.selectors import label_selector_from_dict
from hyperpod.controllers import workloads as wl
from hyperpod.controllers.deployment_rules import template_hash
from hyperpod.controllers.revisions import HASH_LABEL, record_revision
from hyperpod.controllers.statefulset_claims import ensure_claims, release_claims
from hyperpod.runtime.context import Component, ControlPlaneContext
from hyperpod.runtime.machinery import Controller, Informer, record_event, run_controller, split_key

log = logging.getLogger(__name__)

Obj = dict[str, Any]
RESOURCE = "statefulsets.apps"
COMPONENT = "statefulset-controller"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


def ordinal_of(sts_name: str, pod: Obj) -> int | None:
    m = re.fullmatch(re.escape(sts_name) + r"-(\d+)", str(pod["metadata"].get("name")))
    return int(m.group(1)) if m else None


def ready(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and wl.ready_since(pod) is not None


class StatefulSetController:
    def __init__(self, reg: Registry) -> None:
        self.reg = reg
        self.controller = Controller(COMPONENT, self.reconcile)
        self.sets = Informer(reg, RESOURCE)
        self.pods = Informer(reg, "pods")
        self.sets.add_handler(self._on_set)
        self.pods.add_handler(self._on_pod)

    def _on_set(self, typ: str, obj: Obj, old: Obj | None) -> None:
        md = obj.get("metadata") or {}
        self.controller.enqueue(f"{md.get('namespace')}/{md.get('name')}")

    def _on_pod(self, typ: str, obj: Obj, old: Obj | None) -> None:
        ref = wl.controller_ref(obj)
        if ref is not None and ref.get("kind") == "StatefulSet":
            ns = (obj.get("metadata") or {}).get("namespace")
            self.controller.enqueue(f"{ns}/{ref.get('name')}")

    async def run(self, stopping: asyncio.Event) -> None:
        await run_controller(self.controller, [self.sets, self.pods], stopping)

    def _pods(self, sts: Obj) -> dict[int, Obj]:
        sel = label_selector_from_dict((sts.get("spec") or {}).get("selector"))
        out: dict[int, Obj] = {}
        for p in self.reg.list(
            "pods", sts["metadata"].get("namespace"), label_selector=str(sel) or None
        ):
            i = ordinal_of(sts["metadata"]["name"], p)
            if i is not None and wl.controller_uid(p) == sts["metadata"]["uid"]:
                out[i] = p
        return out

    async def reconcile(self, key: str) -> float | None:
        ns, name = split_key(key)
        sts = self.reg.try_get(RESOURCE, name, ns)
        if sts is None or sts["metadata"].get("deletionTimestamp"):
            return None
        spec = sts.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        ordered = spec.get("podManagementPolicy", "OrderedReady") == "OrderedReady"
        revision = record_revision(self.reg, sts, template_hash(spec.get("template") or {}))
        pods = self._pods(sts)
        # Failed or succeeded pods are replaced under the same name.
        for p in list(pods.values()):
            if (p.get("status") or {}).get("phase") in wl.TERMINAL and not p["metadata"].get(
                "deletionTimestamp"
            ):
                self._delete(p)
        terminating = any(p["metadata"].get("deletionTimestamp") for p in pods.values())
        for i in range(replicas):
            if i in pods:
                if ordered and not ready(pods[i]):
                    break
                continue
            if ordered and terminating:
                break
            self._create(sts, i, revision)
            if ordered:
                break
        extra = sorted((i for i in pods if i >= replicas), reverse=True)
        for i in extra:
            if not pods[i]["metadata"].get("deletionTimestamp"):
                self._delete(pods[i])
                release_claims(self.reg, sts, i)
            if ordered:
                break
        self._roll(sts, pods, replicas, revision)
        self._write_status(sts, revision)
        return None

    def _roll(self, sts: Obj, pods: dict[int, Obj], replicas: int, revision: str) -> None:
        strategy = (sts.get("spec") or {}).get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return
        partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
        live = [pods[i] for i in range(replicas) if i in pods]
        if len(live) < replicas or not all(ready(p) for p in live):
            return
        if any(p["metadata"].get("deletionTimestamp") for p in pods.values()):
            return
        for i in range(replicas - 1, partition - 1, -1):
            if (pods[i]["metadata"].get("labels") or {}).get(HASH_LABEL) != revision:
                self._delete(pods[i])
                return

    def _create(self, sts: Obj, i: int, revision: str) -> None:
        name = f"{sts['metadata']['name']}-{i}"
        pod = wl.pod_from_template(sts, (sts.get("spec") or {}).get("template") or {}, name=name)
        pod["metadata"]["labels"].update(
            {HASH_LABEL: revision, POD_NAME_LABEL: name, POD_INDEX_LABEL: str(i)}
        )
        pod["spec"]["hostname"] = name
        service = (sts.get("spec") or {}).get("serviceName")
        if service:
            pod["spec"]["subdomain"] = service
        try:
            ensure_claims(self.reg, sts, pod, i)
            self.reg.create("pods", pod, sts["metadata"].get("namespace"))
        except AlreadyExists:
            return
        except ApiError as exc:
            record_event(self.reg, sts, "Warning", "FailedCreate", exc.message, COMPONENT)
            return
        record_event(
            self.reg,
            sts,
            "Normal",
            "SuccessfulCreate",
            f"create Pod {name} in StatefulSet {sts['metadata']['name']} successful",
            COMPONENT,
        )

    def _delete(self, pod: Obj) -> None:
        with contextlib.suppress(NotFound):
            self.reg.delete("pods", pod["metadata"]["name"], pod["metadata"].get("namespace"))

    def _write_status(self, sts: Obj, revision: str) -> None:
        now = datetime.now(UTC)
        spec = sts.get("spec") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        pods = [p for p in self._pods(sts).values() if wl.is_active(p)]
        updated = [
            p for p in pods if (p["metadata"].get("labels") or {}).get(HASH_LABEL) == revision
        ]
        prev = sts.get("status") or {}
        current_revision = prev.get("currentRevision") or revision
        if len(updated) == len(pods) == int(spec.get("replicas", 1)):
            current_revision = revision
        status: Obj = {
            "observedGeneration": sts["metadata"].get("generation", 1),
            "replicas": len(pods),
            "readyReplicas": sum(1 for p in pods if ready(p)),
            "availableReplicas": sum(1 for p in pods if wl.is_available(p, min_ready, now)),
            "currentReplicas": sum(
                1
                for p in pods
                if (p["metadata"].get("labels") or {}).get(HASH_LABEL) == current_revision
            ),
            "updatedReplicas": len(updated),
            "currentRevision": current_revision,
            "updateRevision": revision,
            "collisionCount": 0,
        }
        for k in ("readyReplicas", "availableReplicas", "currentReplicas", "updatedReplicas"):
            if not status[k]:
                status.pop(k)
        if status != prev:
            sts["status"] = status
            with contextlib.suppress(NotFound):
                self.reg.update(f"{RESOURCE}/status", sts, sts["metadata"].get("namespace"))


async def _start(ctx: ControlPlaneContext) -> None:
    await StatefulSetController(ctx.reg).run(ctx.stopping)


def component() -> Component:
    return Component(name=COMPONENT, start=_start)
