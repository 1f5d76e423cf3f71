"""What every job integration does the same way: compose and create a job's Workload, put an
admission's flavors (nodeLabels, tolerations, topology domain) into a pod template, and put the
template back when the job is suspended again."""

from __future__ import annotations

import copy
from typing import Any

from hyperpod.api import kueue as api
from hyperpod.apiserver.errors import AlreadyExists, ApiError
from hyperpod.apiserver.registry import Registry
from hyperpod.controllers.kueue import topology
from hyperpod.controllers.kueue.state import WORKLOADS
from hyperpod.runtime.machinery import record_event

Obj = dict[str, Any]


def create_workload(
    reg: Registry, job: Obj, name: str, spec: Obj, api_version: str, kind: str, component: str
) -> None:
    """Create the Workload ``name`` owned by ``job``; a Normal or Warning event says how it went
    (none when it already exists)."""
    md = job["metadata"]
    wl: Obj = {
        "apiVersion": api.API_VERSION,
        "kind": "Workload",
        "metadata": {
            "name": name,
            "namespace": md.get("namespace"),
            "labels": {api.JOB_UID_LABEL: md.get("uid", "")},
            "ownerReferences": [
                {
                    "apiVersion": api_version,
                    "kind": kind,
                    "name": md["name"],
                    "uid": md.get("uid", ""),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": spec,
    }
    try:
        reg.create(WORKLOADS, wl, md.get("namespace"))
    except AlreadyExists:
        return
    except ApiError as exc:
        record_event(reg, job, "Warning", "ErrWorkloadCompose", exc.message, component)
        return
    record_event(
        reg,
        job,
        "Normal",
        "CreatedWorkload",
        f"Created Workload: {md.get('namespace')}/{name}",
        component,
    )


def inject_flavors(tspec: Obj, assignment: Obj, flavors: dict[str, Obj]) -> str | None:
    """Add the assigned flavors' nodeLabels and tolerations and the topology domain to a pod
    template's spec; a conflict with a nodeSelector the job set is returned as its text (the
    template is then left partly changed: the caller evicts)."""
    for fname in sorted(set((assignment.get("flavors") or {}).values())):
        fspec = (flavors.get(fname) or {}).get("spec") or {}
        selector = tspec.setdefault("nodeSelector", {})
        for k, v in (fspec.get("nodeLabels") or {}).items():
            if k in selector and selector[k] != v:
                return f"nodeSelector {k}={selector[k]} conflicts with flavor {fname} ({k}={v})"
            selector[k] = v
        selector.update(topology.node_selector(assignment.get("topologyAssignment") or {}))
        if not selector:
            tspec.pop("nodeSelector", None)
        tols = tspec.setdefault("tolerations", [])
        for t in fspec.get("tolerations") or []:
            if t not in tols:
                tols.append(t)
        if not tols:
            tspec.pop("tolerations", None)
    return None


def restore_template(tspec: Obj, original: Obj) -> None:
    """Put back the nodeSelector and tolerations a pod template had before admission."""
    for field in ("nodeSelector", "tolerations"):
        if original.get(field):
            tspec[field] = copy.deepcopy(original[field])
        else:
            tspec.pop(field, None)
