"""Node health through the API: summaries for list/describe, fault injection, reboot and replace.

Everything is a Node read or a merge patch of its annotations, which the cluster's health agent
and node-recovery controller act on (``hyperpod.local/inject-fault``,
``hyperpod.local/recovery``, ``hyperpod.local/deep-health-check``). Label and annotation names
are those of :mod:`hyperpod.api.health`.
"""

from __future__ import annotations

import json
from typing import Any

from hyperpod.api import health as h
from hyperpod.client.errors import UserError

Obj = dict[str, Any]
GPU = "nvidia.com/gpu"


class NodeNotFound(UserError):
    """No node of that name."""


class InvalidFault(UserError):
    """A fault or GPU index the node cannot take."""


def _to_dict(obj: Any, api_client: Any) -> Obj:
    return obj if isinstance(obj, dict) else dict(api_client.sanitize_for_serialization(obj))


def _ready(node: Obj) -> str:
    for c in (node.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return {"True": "Ready", "False": "NotReady", "Unknown": "NotReady"}.get(
                str(c.get("status")), "Unknown"
            )
    return "Unknown"


def summary(node: Obj) -> Obj:
    md = node.get("metadata") or {}
    labels = md.get("labels") or {}
    status = node.get("status") or {}
    cap, alloc = status.get("capacity") or {}, status.get("allocatable") or {}
    ready = _ready(node)
    if (node.get("spec") or {}).get("unschedulable"):
        ready += ",SchedulingDisabled"
    return {
        "name": md.get("name"),
        "instance_group": labels.get("sagemaker.amazonaws.com/instance-group-name", ""),
        "instance_type": labels.get("node.kubernetes.io/instance-type", ""),
        "status": ready,
        "health": labels.get(h.HEALTH_LABEL, ""),
        "deep_health_check": labels.get(h.DEEP_HEALTH_LABEL, ""),
        "gpus": f"{alloc.get(GPU, '0')}/{cap.get(GPU, '0')}",
    }


def details(node: Obj) -> Obj:
    out = summary(node)
    md = node.get("metadata") or {}
    ann = md.get("annotations") or {}
    try:
        faults = json.loads(ann.get(h.FAULTS_ANNOTATION) or "[]")
    except ValueError:
        faults = []
    try:
        unhealthy = json.loads(ann.get(h.UNHEALTHY_DEVICES_ANNOTATION) or "[]")
    except ValueError:
        unhealthy = []
    out["unhealthy_gpus"] = unhealthy
    out["taints"] = [
        f"{t.get('key')}={t.get('value', '')}:{t.get('effect')}"
        for t in (node.get("spec") or {}).get("taints") or []
    ]
    out["conditions"] = [
        {
            "type": c.get("type"),
            "status": c.get("status"),
            "reason": c.get("reason", ""),
            "message": c.get("message", ""),
        }
        for c in (node.get("status") or {}).get("conditions") or []
    ]
    out["recent_faults"] = faults
    out["replaced"] = [n for n in (ann.get(h.REPLACED_ANNOTATION) or "").split(",") if n]
    return out


class Nodes:
    """Node operations over a :class:`hyperpod.client.kube.Kube`."""

    def __init__(self, kube: Any) -> None:
        self.kube = kube

    def list(self) -> list[Obj]:
        core = self.kube.core()
        items = core.list_node().items
        return [_to_dict(n, core.api_client) for n in items]

    def get(self, name: str) -> Obj:
        core = self.kube.core()
        try:
            return _to_dict(core.read_node(name), core.api_client)
        except Exception as exc:
            if getattr(exc, "status", None) == 404:
                raise NodeNotFound(
                    f"node {name!r} not found", "`hyp list node` shows the cluster's nodes"
                ) from exc
            raise

    def _annotate(self, name: str, annotations: dict[str, str | None]) -> Obj:
        self.get(name)
        core = self.kube.core()
        body = {"metadata": {"annotations": annotations}}
        return _to_dict(core.patch_node(name, body), core.api_client)

    def inject_fault(self, name: str, fault: str, gpu: int | None) -> Obj:
        if fault not in h.FAULTS:
            raise InvalidFault(f"unknown fault {fault!r}", f"one of: {', '.join(h.FAULTS)}")
        node = self.get(name)
        gpus = int(str(((node.get("status") or {}).get("capacity") or {}).get(GPU, "0")))
        if fault in h.GPU_FAULTS:
            if gpus == 0:
                raise InvalidFault(
                    f"node {name} has no GPUs to inject {fault} into",
                    "pick a GPU node (`hyp list node`), or start the cluster with HYPERPOD_FAKE_GPUS=N",
                )
            if gpu is not None and not 0 <= gpu < gpus:
                raise InvalidFault(
                    f"--gpu {gpu} is out of range: node {name} has GPUs 0..{gpus - 1}",
                    "pass an index the node has",
                )
        elif gpu is not None:
            raise InvalidFault(f"--gpu applies only to GPU faults, not {fault}", "drop --gpu")
        value = fault if gpu is None else f"{fault}:{gpu}"
        return self._annotate(name, {h.INJECT_ANNOTATION: value})

    def recover(self, name: str, action: str) -> Obj:
        return self._annotate(name, {h.RECOVERY_ANNOTATION: action})

    def deep_health_check(self, name: str) -> Obj:
        return self._annotate(name, {h.DEEP_HEALTH_REQUEST_ANNOTATION: "requested"})
