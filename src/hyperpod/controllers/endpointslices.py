"""The EndpointSlice controller (and the Endpoints controller): a Service's selected pods.

For every Service with a selector it writes ``discovery.k8s.io/v1`` EndpointSlices (one per
distinct set of resolved ports, named ``<service>-<hash>``, owned by the Service, labelled
``kubernetes.io/service-name``) and the legacy ``v1`` Endpoints of the same name, as
kube-controller-manager's two controllers do. Selected pods are those of the namespace whose
labels match, that have a pod IP, and that are not finished. An endpoint is ``ready`` when the
pod's Ready condition is True (readiness probes gate traffic) and not terminating, or always
when the Service sets ``publishNotReadyAddresses``. A ``targetPort`` by name is looked up in
each pod's container ports; a pod without that port is left out of that port's slice.
Services without a selector (``default/kubernetes``, hand-made Endpoints) are left alone.

Work is bounded: changes mark Services dirty and one pass reconciles them in a batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any

from hyperpod.apiserver.errors import AlreadyExists, ApiError, NotFound
from hyperpod.runtime.context import Component, ControlPlaneContext
from hyperpod.runtime.machinery import Informer, object_key

log = logging.getLogger(__name__)
Obj = dict[str, Any]
SLICES = "endpointslices.discovery.k8s.io"
SERVICE_NAME = "kubernetes.io/service-name"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
CONTROLLER = "endpointslice-controller.k8s.io"
SKIP_MIRROR = "endpointslice.kubernetes.io/skip-mirror"  # on Endpoints this controller writes
BATCH = 200


def _matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def _ready(pod: Obj) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def _container_port(pod: Obj, name: str, protocol: str) -> int | None:
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == name and (p.get("protocol") or "TCP") == protocol:
                return int(p["containerPort"])
    return None


def target_port(pod: Obj, port: Mapping[str, Any]) -> int | None:
    """The pod port a Service port forwards to (``targetPort`` by number or name)."""
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    if isinstance(target, str) and target:
        return _container_port(pod, target, str(port.get("protocol") or "TCP"))
    return int(port["port"]) if "port" in port else None


def selected_pods(service: Obj, pods: list[Obj]) -> list[Obj]:
    """The pods a Service selects: matching labels, an IP, not finished; by name."""
    selector = (service.get("spec") or {}).get("selector") or {}
    out = []
    for pod in pods:
        st = pod.get("status") or {}
        if not st.get("podIP") or st.get("phase") in ("Succeeded", "Failed"):
            continue
        if _matches(selector, (pod.get("metadata") or {}).get("labels") or {}):
            out.append(pod)
    return sorted(out, key=lambda p: str(p["metadata"]["name"]))


def _endpoint(pod: Obj, publish_not_ready: bool) -> Obj:
    md = pod["metadata"]
    terminating = bool(md.get("deletionTimestamp"))
    serving = _ready(pod)
    ready = publish_not_ready or (serving and not terminating)
    ep: Obj = {
        "addresses": [pod["status"]["podIP"]],
        "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
        "targetRef": {
            "kind": "Pod",
            "namespace": md.get("namespace"),
            "name": md.get("name"),
            "uid": md.get("uid"),
        },
    }
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        ep["nodeName"] = node
    return ep


def desired_slices(service: Obj, pods: list[Obj]) -> dict[str, Obj]:
    """name -> EndpointSlice body (endpoints and ports) for one Service."""
    md = service["metadata"]
    spec = service.get("spec") or {}
    publish = bool(spec.get("publishNotReadyAddresses"))
    groups: dict[str, tuple[list[Obj], list[Obj]]] = {}
    for pod in selected_pods(service, pods):
        ports = []
        for p in spec.get("ports") or []:
            number = target_port(pod, p)
            if number is None:
                continue
            ports.append(
                {
                    "name": str(p.get("name") or ""),
                    "port": number,
                    "protocol": str(p.get("protocol") or "TCP"),
                }
            )
        if spec.get("ports") and not ports:
            continue
        key = hashlib.sha256(json.dumps(ports, sort_keys=True).encode()).hexdigest()[:5]
        groups.setdefault(key, (ports, []))[1].append(_endpoint(pod, publish))
    if not groups:  # an empty slice says "selected, nothing ready" like upstream
        groups["empty"] = ([], [])
    owner = {
        "apiVersion": "v1",
        "kind": "Service",
        "name": md["name"],
        "uid": md.get("uid"),
        "controller": True,
        "blockOwnerDeletion": True,
    }
    out = {}
    for key, (ports, endpoints) in groups.items():
        name = f"{md['name']}-{key}"
        out[name] = {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": name,
                "namespace": md["namespace"],
                "labels": {SERVICE_NAME: md["name"], MANAGED_BY: CONTROLLER},
                "ownerReferences": [owner],
            },
            "addressType": "IPv4",
            "endpoints": endpoints,
            "ports": ports,
        }
    return out


def desired_subsets(slices: Mapping[str, Obj]) -> list[Obj]:
    """The legacy Endpoints ``subsets`` carrying the same addresses."""
    subsets = []
    for body in slices.values():
        if not body["endpoints"]:
            continue
        ready: list[Obj] = []
        not_ready: list[Obj] = []
        for ep in body["endpoints"]:
            addr = {"ip": ep["addresses"][0], "targetRef": ep["targetRef"]}
            if ep.get("nodeName"):
                addr["nodeName"] = ep["nodeName"]
            (ready if ep["conditions"]["ready"] else not_ready).append(addr)
        subset: Obj = {}
        if ready:
            subset["addresses"] = ready
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        if body["ports"]:
            subset["ports"] = body["ports"]
        subsets.append(subset)
    return subsets


class EndpointSliceController:
    def __init__(self, ctx: ControlPlaneContext) -> None:
        self.ctx = ctx
        self.reg = ctx.reg
        self.services = Informer(self.reg, "services")
        self.pods = Informer(self.reg, "pods")
        self.dirty: set[str] = set()
        self.wake = asyncio.Event()
        self.services.add_handler(self._on_service)
        self.pods.add_handler(self._on_pod)

    def _mark(self, key: str) -> None:
        self.dirty.add(key)
        self.wake.set()

    def _on_service(self, typ: str, svc: Obj, old: Obj | None) -> None:
        self._mark(object_key(svc))

    def _on_pod(self, typ: str, pod: Obj, old: Obj | None) -> None:
        ns = pod["metadata"].get("namespace")
        labels = [(pod.get("metadata") or {}).get("labels") or {}]
        if old is not None:
            labels.append((old.get("metadata") or {}).get("labels") or {})
        for svc in self.services.list():
            md = svc["metadata"]
            selector = (svc.get("spec") or {}).get("selector") or {}
            if md.get("namespace") != ns or not selector:
                continue
            if any(_matches(selector, lab) for lab in labels):
                self._mark(object_key(svc))

    def _pods_of(self, namespace: str) -> list[Obj]:
        return [p for p in self.pods.list() if p["metadata"].get("namespace") == namespace]

    def reconcile(self, key: str) -> None:
        namespace, _, name = key.partition("/")
        svc = self.services.get(key)
        selector = ((svc or {}).get("spec") or {}).get("selector") or {}
        current = self.reg.list(SLICES, namespace, label_selector=f"{SERVICE_NAME}={name}")
        ours = [s for s in current if s["metadata"].get("labels", {}).get(MANAGED_BY) == CONTROLLER]
        if svc is None or not selector:
            for s in ours:
                with contextlib.suppress(NotFound):
                    self.reg.delete(SLICES, s["metadata"]["name"], namespace)
            if svc is None:
                ep = self.reg.try_get("endpoints", name, namespace)
                if ep is not None and ep["metadata"].get("labels", {}).get(SKIP_MIRROR) == "true":
                    with contextlib.suppress(NotFound):
                        self.reg.delete("endpoints", name, namespace)
            return
        want = desired_slices(svc, self._pods_of(namespace))
        have = {s["metadata"]["name"]: s for s in ours}
        for sname, body in want.items():
            old = have.pop(sname, None)
            if old is None:
                with contextlib.suppress(AlreadyExists):
                    self.reg.create(SLICES, body, namespace)
            elif (old.get("endpoints") or [], old.get("ports") or []) != (
                body["endpoints"],
                body["ports"],
            ):
                old["endpoints"], old["ports"] = body["endpoints"], body["ports"]
                self.reg.update(SLICES, old, namespace)
        for sname in have:
            with contextlib.suppress(NotFound):
                self.reg.delete(SLICES, sname, namespace)
        self._sync_endpoints(svc, desired_subsets(want))

    def _sync_endpoints(self, svc: Obj, subsets: list[Obj]) -> None:
        md = svc["metadata"]
        ns, name = md["namespace"], md["name"]
        labels = {**(md.get("labels") or {}), SKIP_MIRROR: "true"}
        ep = self.reg.try_get("endpoints", name, ns)
        if ep is None:
            body = {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {"name": name, "namespace": ns, "labels": labels},
                "subsets": subsets,
            }
            with contextlib.suppress(AlreadyExists):
                self.reg.create("endpoints", body, ns)
        elif (ep.get("subsets") or []) != subsets:
            ep["subsets"] = subsets
            self.reg.update("endpoints", ep, ns)

    async def run(self) -> None:
        self.services.start()
        self.pods.start()
        await self.services.synced.wait()
        await self.pods.synced.wait()
        for svc in self.services.list():
            self._mark(object_key(svc))
        try:
            while not self.ctx.stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), 1.0)
                self.wake.clear()
                await asyncio.sleep(0.05)  # let a burst of pod changes gather
                batch = sorted(self.dirty)[:BATCH]
                self.dirty.difference_update(batch)
                if len(self.dirty):
                    self.wake.set()
                for key in batch:
                    try:
                        self.reconcile(key)
                    except ApiError as exc:
                        log.warning("endpoints of %s: %s; retrying", key, exc)
                        self.dirty.add(key)
                    await asyncio.sleep(0)
        finally:
            await self.services.stop()
            await self.pods.stop()


async def _run(ctx: ControlPlaneContext) -> None:
    await EndpointSliceController(ctx).run()


def component() -> Component:
    return Component(name="endpointslice-controller", start=_run)
