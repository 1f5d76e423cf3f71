"""ControllerRevisions for DaemonSets and StatefulSets: one per pod template, newest revision
highest, as ``kubectl rollout history|undo`` expects."""

from __future__ import annotations

import contextlib
import copy
from typing import Any

from hyperpod.apiserver.errors import AlreadyExists, NotFound
from hyperpod.apiserver.metadata import owner_reference
from hyperpod.apiserver.registry import Registry
from hyperpod.controllers import workloads as wl

Obj = dict[str, Any]
REVISIONS = "controllerrevisions.apps"
HASH_LABEL = "controller-revision-hash"


def record_revision(reg: Registry, owner: Obj, h: str) -> str:
    """Keep the owner's template as ControllerRevision ``<owner>-<hash>`` with the newest
    revision number (a template seen before is renumbered); returns the revision's name."""
    ns = owner["metadata"].get("namespace")
    uid = owner["metadata"]["uid"]
    spec = owner.get("spec") or {}
    mine = [r for r in reg.list(REVISIONS, ns) if wl.controller_uid(r) == uid]
    name = f"{owner['metadata']['name']}-{h}"
    top = max([0, *(int(r.get("revision") or 0) for r in mine)])
    existing = next((r for r in mine if r["metadata"]["name"] == name), None)
    if existing is not None:
        if int(existing.get("revision") or 0) < top:
            existing["revision"] = top + 1
            reg.update(REVISIONS, existing, ns)
        return name
    template = copy.deepcopy(spec.get("template") or {})
    template["$patch"] = "replace"
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    rev = {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {**labels, HASH_LABEL: h},
            "ownerReferences": [owner_reference(owner)],
        },
        "data": {"spec": {"template": template}},
        "revision": top + 1,
    }
    with contextlib.suppress(AlreadyExists):
        reg.create(REVISIONS, rev, ns)
    limit = int(spec.get("revisionHistoryLimit", 10))
    old = sorted(mine, key=lambda r: int(r.get("revision") or 0))
    for r in old[: max(0, len(old) - limit)]:
        with contextlib.suppress(NotFound):
            reg.delete(REVISIONS, r["metadata"]["name"], ns)
    return name
