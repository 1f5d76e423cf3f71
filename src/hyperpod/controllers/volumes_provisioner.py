"""Persistent volumes: the default StorageClass, a local-path provisioner, binding, reclaim.

- At start the StorageClass ``hyperpod-local-path`` (provisioner ``hyperpod.local/local-path``,
  reclaimPolicy Delete, volumeBindingMode WaitForFirstConsumer, like Rancher's local-path
  provisioner that kind and k3s ship) is created when no default class exists, and an admission
  hook gives claims without ``storageClassName`` the default class.
- A Pending claim binds to the smallest Available PersistentVolume of its class whose access
  modes and capacity fit (or to ``spec.volumeName``). Otherwise, for a class of this
  provisioner, a PersistentVolume ``pvc-<claim uid>`` is created with a ``hostPath`` directory
  ``<data_dir>/storage/pvc-<uid>_<ns>_<claim>`` (an existing pre-PVC data directory
  ``<data_dir>/volumes/<ns>/<claim>`` is adopted instead, so old checkpoints stay). With
  WaitForFirstConsumer that happens once a pod uses the claim.
- When a bound claim is deleted its volume is Released; Delete removes the directory and the
  volume, Retain keeps both. Claims carry ``kubernetes.io/pvc-protection`` so a claim in use
  by a pod that is not finished is deleted only after the pod.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import weakref
from pathlib import Path
from typing import Any

from hyperpod.apiserver.errors import AlreadyExists, ApiError, NotFound
from hyperpod.apiserver.kinds.persistentvolume import volume_path
from hyperpod.apiserver.kinds.storageclass import DEFAULT_ANNOTATION, is_default
from hyperpod.apiserver.quantity import parse_quantity
from hyperpod.apiserver.registry import Registry
from hyperpod.runtime.context import Component, ControlPlaneContext
from hyperpod.runtime.machinery import Controller, Informer, record_event, split_key

log = logging.getLogger(__name__)

Obj = dict[str, Any]
COMPONENT = "persistentvolume-controller"
PVC = "persistentvolumeclaims"
PV = "persistentvolumes"
SC = "storageclasses.storage.k8s.io"
DEFAULT_CLASS = "hyperpod-local-path"
PROVISIONER = "hyperpod.local/local-path"
PROTECTION = "kubernetes.io/pvc-protection"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
BOUND_BY_CONTROLLER = "pv.kubernetes.io/bind-completed"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
TERMINAL = ("Succeeded", "Failed")
_HOOKED: weakref.WeakSet[Registry] = weakref.WeakSet()


def default_class() -> Obj:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": DEFAULT_CLASS, "annotations": {DEFAULT_ANNOTATION: "true"}},
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer",
    }


def claim_names(pod: Obj) -> list[str]:
    return [
        str(v["persistentVolumeClaim"].get("claimName"))
        for v in (pod.get("spec") or {}).get("volumes") or []
        if isinstance(v, dict) and isinstance(v.get("persistentVolumeClaim"), dict)
    ]


def _storage(obj: Obj, *path: str) -> Any:
    node: Any = obj
    for p in path:
        node = (node or {}).get(p) if isinstance(node, dict) else None
    try:
        return parse_quantity(node) if node is not None else None
    except ValueError:
        return None


def fits(pv: Obj, claim: Obj) -> bool:
    """Whether static volume ``pv`` can satisfy ``claim`` (class, modes, size, claimRef)."""
    pspec, cspec = pv.get("spec") or {}, claim.get("spec") or {}
    if str(pspec.get("storageClassName") or "") != str(cspec.get("storageClassName") or ""):
        return False
    if not set(cspec.get("accessModes") or []) <= set(pspec.get("accessModes") or []):
        return False
    want, have = (
        _storage(cspec, "resources", "requests", "storage"),
        _storage(pspec, "capacity", "storage"),
    )
    if want is None or have is None or have < want:
        return False
    ref = pspec.get("claimRef") or {}
    md = claim["metadata"]
    if ref and (ref.get("name"), ref.get("namespace")) != (md.get("name"), md.get("namespace")):
        return False
    return (pv.get("status") or {}).get("phase") in ("Available", "Pending", None)


class VolumesController:
    def __init__(self, reg: Registry, data_dir: Path) -> None:
        self.reg = reg
        self.root = data_dir / "storage"
        self.legacy = data_dir / "volumes"
        self.controller = Controller(COMPONENT, self.reconcile)
        self.claims = Informer(reg, PVC)
        self.volumes = Informer(reg, PV)
        self.pods = Informer(reg, "pods")
        self.claims.add_handler(self._on_claim)
        self.volumes.add_handler(self._on_volume)
        self.pods.add_handler(self._on_pod)
        self._waiting_noted: set[str] = set()

    # ------------------------------------------------------------------ admission
    def default_claim(self, obj: Obj) -> None:
        """DefaultStorageClass + protection: run on claim create and update."""
        md = obj.setdefault("metadata", {})
        if not isinstance(md, dict) or md.get("resourceVersion") or md.get("deletionTimestamp"):
            return
        if md.get("creationTimestamp") and self.reg.try_get(
            PVC, str(md.get("name")), md.get("namespace")
        ):
            return  # an update: the class was chosen at create
        spec = obj.get("spec")
        if isinstance(spec, dict) and "storageClassName" not in spec:
            defaults = [sc for sc in self.reg.list(SC) if is_default(sc)]
            if defaults:
                newest = max(defaults, key=lambda s: str(s["metadata"].get("creationTimestamp")))
                spec["storageClassName"] = newest["metadata"]["name"]
        finalizers = md.setdefault("finalizers", [])
        if isinstance(finalizers, list) and PROTECTION not in finalizers:
            finalizers.append(PROTECTION)

    # ------------------------------------------------------------------ events
    def _on_claim(self, typ: str, obj: Obj, old: Obj | None) -> None:
        md = obj.get("metadata") or {}
        self.controller.enqueue(f"claim:{md.get('namespace')}/{md.get('name')}")
        name = (obj.get("spec") or {}).get("volumeName")
        if typ == "DELETED" and name:
            self.controller.enqueue(f"volume:{name}")

    def _on_volume(self, typ: str, obj: Obj, old: Obj | None) -> None:
        self.controller.enqueue(f"volume:{obj['metadata'].get('name')}")
        ref = (obj.get("spec") or {}).get("claimRef") or {}
        if ref.get("name"):
            self.controller.enqueue(f"claim:{ref.get('namespace')}/{ref.get('name')}")

    def _on_pod(self, typ: str, obj: Obj, old: Obj | None) -> None:
        ns = (obj.get("metadata") or {}).get("namespace")
        for claim in claim_names(obj):
            self.controller.enqueue(f"claim:{ns}/{claim}")

    async def run(self, stopping: asyncio.Event) -> None:
        with contextlib.suppress(ApiError):
            if not any(is_default(sc) for sc in self.reg.list(SC)):
                self.reg.create(SC, default_class())
        informers = (self.claims, self.volumes, self.pods)
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

    async def reconcile(self, key: str) -> float | None:
        kind, _, rest = key.partition(":")
        try:
            if kind == "claim":
                ns, name = split_key(rest)
                self._claim(ns, name)
            else:
                self._volume(rest)
        except (NotFound, AlreadyExists):
            self.controller.enqueue_after(key, 0.2)  # raced with another writer: look again
        return None

    # ------------------------------------------------------------------ claims
    def _users(self, ns: str | None, name: str) -> list[Obj]:
        return [
            p
            for p in self.pods.list()
            if p["metadata"].get("namespace") == ns
            and name in claim_names(p)
            and (p.get("status") or {}).get("phase") not in TERMINAL
        ]

    def _claim(self, ns: str | None, name: str) -> None:
        claim = self.reg.try_get(PVC, name, ns)
        if claim is None:
            return
        md = claim["metadata"]
        if md.get("deletionTimestamp"):
            if PROTECTION in (md.get("finalizers") or []) and not self._users(ns, name):
                md["finalizers"] = [f for f in md["finalizers"] if f != PROTECTION]
                self.reg.update(PVC, claim, ns)
            return
        spec = claim.get("spec") or {}
        if spec.get("volumeName"):
            self._bind(claim, str(spec["volumeName"]))
            return
        static = sorted(
            (pv for pv in self.volumes.list() if fits(pv, claim)),
            key=lambda pv: _storage(pv, "spec", "capacity", "storage") or 0,
        )
        if static:
            self._bind(claim, static[0]["metadata"]["name"])
            return
        cls_name = str(spec.get("storageClassName") or "")
        if not cls_name:
            return  # waits for a matching static volume
        cls = self.reg.try_get(SC, cls_name)
        if cls is None:
            self._note(
                claim, "ProvisioningFailed", f'storageclass.storage.k8s.io "{cls_name}" not found'
            )
            return
        if cls.get("provisioner") != PROVISIONER:
            self._note(
                claim,
                "ExternalProvisioning",
                "Waiting for a volume to be created either by the external provisioner "
                f"'{cls.get('provisioner')}' or manually by the system administrator. If volume "
                "creation is delayed, please verify that the provisioner is running and "
                "correctly registered.",
                "Normal",
            )
            return
        users = self._users(ns, name)
        if cls.get("volumeBindingMode") == "WaitForFirstConsumer" and not users:
            self._note(
                claim,
                "WaitForFirstConsumer",
                "waiting for first consumer to be created before binding",
                "Normal",
            )
            return
        node = next(
            (str(p["spec"]["nodeName"]) for p in users if (p.get("spec") or {}).get("nodeName")),
            None,
        )
        self._provision(claim, cls, node)

    def _note(self, claim: Obj, reason: str, message: str, type_: str = "Warning") -> None:
        key = f"{claim['metadata'].get('uid')}/{reason}"
        if key not in self._waiting_noted:
            self._waiting_noted.add(key)
            record_event(self.reg, claim, type_, reason, message, COMPONENT)

    def _provision(self, claim: Obj, cls: Obj, node: str | None) -> None:
        md = claim["metadata"]
        ns, name = str(md.get("namespace")), str(md["name"])
        pv_name = f"pvc-{md['uid']}"
        legacy = self.legacy / ns / name
        path = legacy if legacy.is_dir() else self.root / f"{pv_name}_{ns}_{name}"
        path.mkdir(parents=True, exist_ok=True)
        spec = claim.get("spec") or {}
        pv: Obj = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {
                "name": pv_name,
                "annotations": {PROVISIONED_BY: PROVISIONER},
            },
            "spec": {
                "capacity": {"storage": spec["resources"]["requests"]["storage"]},
                "accessModes": list(spec.get("accessModes") or []),
                "persistentVolumeReclaimPolicy": cls.get("reclaimPolicy") or "Delete",
                "storageClassName": cls["metadata"]["name"],
                "volumeMode": spec.get("volumeMode") or "Filesystem",
                "hostPath": {"path": str(path), "type": "DirectoryOrCreate"},
                "claimRef": self._ref(claim),
            },
        }
        if node:
            pv["metadata"]["annotations"]["hyperpod.local/node"] = node
        self.reg.create(PV, pv)
        record_event(
            self.reg,
            claim,
            "Normal",
            "ProvisioningSucceeded",
            f"Successfully provisioned volume {pv_name} at {path}",
            COMPONENT,
        )
        self._bind(claim, pv_name)

    @staticmethod
    def _ref(claim: Obj) -> Obj:
        md = claim["metadata"]
        return {
            "kind": "PersistentVolumeClaim",
            "apiVersion": "v1",
            "namespace": md.get("namespace"),
            "name": md.get("name"),
            "uid": md.get("uid"),
            "resourceVersion": md.get("resourceVersion"),
        }

    def _bind(self, claim: Obj, pv_name: str) -> None:
        md = claim["metadata"]
        ns = md.get("namespace")
        pv = self.reg.try_get(PV, pv_name)
        if pv is None:
            if (claim.get("status") or {}).get("phase") == "Bound":
                claim["status"]["phase"] = "Lost"
                self.reg.update(f"{PVC}/status", claim, ns)
            return
        ref = (pv.get("spec") or {}).get("claimRef") or {}
        if ref.get("uid") and ref.get("uid") != md.get("uid"):
            return  # bound to another claim
        if ref.get("name") and (ref.get("name"), ref.get("namespace")) != (md.get("name"), ns):
            return
        if ref.get("uid") != md.get("uid"):
            pv["spec"]["claimRef"] = self._ref(claim)
            pv = self.reg.update(PV, pv)
        if (pv.get("status") or {}).get("phase") != "Bound":
            pv["status"] = {"phase": "Bound"}
            self.reg.update(f"{PV}/status", pv)
        if (claim.get("spec") or {}).get("volumeName") != pv_name:
            claim["spec"]["volumeName"] = pv_name
            ann = md.setdefault("annotations", {})
            ann[BOUND_BY_CONTROLLER] = "yes"
            if pv["metadata"].get("annotations", {}).get(PROVISIONED_BY):
                ann["volume.kubernetes.io/storage-provisioner"] = PROVISIONER
            claim = self.reg.update(PVC, claim, ns)
        status = {
            "phase": "Bound",
            "accessModes": list((pv.get("spec") or {}).get("accessModes") or []),
            "capacity": dict((pv.get("spec") or {}).get("capacity") or {}),
        }
        if claim.get("status") != status:
            claim["status"] = status
            self.reg.update(f"{PVC}/status", claim, ns)

    # ------------------------------------------------------------------ volumes
    def _volume(self, name: str) -> None:
        pv = self.reg.try_get(PV, name)
        if pv is None or pv["metadata"].get("deletionTimestamp"):
            return
        spec = pv.get("spec") or {}
        ref = spec.get("claimRef") or {}
        phase = (pv.get("status") or {}).get("phase")
        if not ref.get("name"):
            if phase != "Available":
                pv["status"] = {"phase": "Available"}
                self.reg.update(f"{PV}/status", pv)
            return
        claim = self.reg.try_get(PVC, str(ref["name"]), ref.get("namespace"))
        if claim is not None and (
            not ref.get("uid") or claim["metadata"].get("uid") == ref.get("uid")
        ):
            return  # bound (or pre-bound): the claim side finishes it
        if ref.get("uid") is None:
            return
        if spec.get("persistentVolumeReclaimPolicy") == "Delete":
            self._delete(pv)
        elif phase != "Released":
            pv["status"] = {"phase": "Released"}
            self.reg.update(f"{PV}/status", pv)

    def _delete(self, pv: Obj) -> None:
        name = pv["metadata"]["name"]
        ours = (pv["metadata"].get("annotations") or {}).get(PROVISIONED_BY) == PROVISIONER
        path = volume_path(pv)
        if not ours or path is None:
            if (pv.get("status") or {}).get("phase") != "Failed":
                pv["status"] = {
                    "phase": "Failed",
                    "message": "error getting deleter volume plugin for volume "
                    f'"{name}": no deletable volume plugin matched',
                }
                self.reg.update(f"{PV}/status", pv)
            return
        target = Path(path).resolve()
        if self.root.resolve() in target.parents or self.legacy.resolve() in target.parents:
            shutil.rmtree(target, ignore_errors=True)
        with contextlib.suppress(NotFound):
            self.reg.delete(PV, name)


async def _start(ctx: ControlPlaneContext) -> None:
    ctrl = VolumesController(ctx.reg, ctx.data_dir)
    if ctx.reg not in _HOOKED:  # once per registry, even when the component restarts
        _HOOKED.add(ctx.reg)
        ctx.reg.add_admission(PVC, ctrl.default_claim, None)
    await ctrl.run(ctx.stopping)


def component() -> Component:
    return Component(name=COMPONENT, start=_start)
