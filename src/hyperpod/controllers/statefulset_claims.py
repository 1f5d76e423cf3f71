"""StatefulSet volumeClaimTemplates: one PersistentVolumeClaim per template and ordinal.

The claim of template ``data`` for pod ``web-2`` is ``data-web-2``; it is created before the
pod, labelled with the set's selector labels, and the pod's volume ``data`` points at it.
Claims are kept when the set scales down or is deleted (the default ``Retain`` retention
policy, as upstream); ``whenDeleted: Delete`` makes the set their owner so the garbage
collector removes them with it, and ``whenScaled: Delete`` deletes a removed ordinal's claims
(their ``pvc-protection`` finalizer holds them until the pod is gone).
"""

from __future__ import annotations

import copy
from typing import Any

from hyperpod.apiserver.errors import AlreadyExists, NotFound
from hyperpod.apiserver.metadata import owner_reference
from hyperpod.apiserver.registry import Registry

Obj = dict[str, Any]


def claim_name(template: Obj, sts: Obj, ordinal: int) -> str:
    return f"{(template.get('metadata') or {}).get('name')}-{sts['metadata']['name']}-{ordinal}"


def ensure_claims(reg: Registry, sts: Obj, pod: Obj, ordinal: int) -> None:
    """Create the pod's claims (when missing) and point its volumes at them; raises ApiError."""
    spec = sts.get("spec") or {}
    templates = [t for t in spec.get("volumeClaimTemplates") or [] if isinstance(t, dict)]
    if not templates:
        return
    ns = sts["metadata"].get("namespace")
    policy = spec.get("persistentVolumeClaimRetentionPolicy") or {}
    selector_labels = dict(((spec.get("selector") or {}).get("matchLabels")) or {})
    volumes = [
        v
        for v in pod["spec"].get("volumes") or []
        if v.get("name") not in {(t.get("metadata") or {}).get("name") for t in templates}
    ]
    for template in templates:
        tmd = template.get("metadata") or {}
        name = claim_name(template, sts, ordinal)
        claim: Obj = {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": name,
                "labels": {**dict(tmd.get("labels") or {}), **selector_labels},
            },
            "spec": copy.deepcopy(template.get("spec") or {}),
        }
        if tmd.get("annotations"):
            claim["metadata"]["annotations"] = dict(tmd["annotations"])
        if policy.get("whenDeleted") == "Delete":
            ref = owner_reference(sts)
            ref["controller"] = False
            claim["metadata"]["ownerReferences"] = [ref]
        if reg.try_get("persistentvolumeclaims", name, ns) is None:
            try:
                reg.create("persistentvolumeclaims", claim, ns)
            except AlreadyExists:
                pass
        volumes.append({"name": tmd.get("name"), "persistentVolumeClaim": {"claimName": name}})
    pod["spec"]["volumes"] = volumes


def release_claims(reg: Registry, sts: Obj, ordinal: int) -> None:
    """Delete a scaled-away ordinal's claims when the retention policy says ``whenScaled: Delete``."""
    spec = sts.get("spec") or {}
    if (spec.get("persistentVolumeClaimRetentionPolicy") or {}).get("whenScaled") != "Delete":
        return
    for template in spec.get("volumeClaimTemplates") or []:
        if isinstance(template, dict):
            try:
                reg.delete(
                    "persistentvolumeclaims",
                    claim_name(template, sts, ordinal),
                    sts["metadata"].get("namespace"),
                )
            except NotFound:
                pass
