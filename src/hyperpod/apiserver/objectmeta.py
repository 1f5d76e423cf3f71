"""Validation of ``metadata``: name, labels, annotations, finalizers and owner references."""

from __future__ import annotations

from typing import Any

from hyperpod.apiserver.errors import cause
from hyperpod.apiserver.fielderrors import Cause, Obj, as_dict, as_list, invalid, required
from hyperpod.apiserver.names import (
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_qualified_name,
    is_valid_label_value,
)

TOTAL_ANNOTATION_SIZE = 256 * 1024

_LABEL_NAMED = {"Namespace"}
_DNS1035_NAMED = {"Service"}
_RBAC = {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}


def validate_object_meta(kind: str, obj: Obj) -> list[Cause]:
    """Name, labels, annotations, finalizers and owner references."""
    md = obj.get("metadata")
    if not isinstance(md, dict):
        return [required("metadata")]
    causes = _validate_name(kind, md)
    causes.extend(_validate_labels(md.get("labels")))
    causes.extend(_validate_annotations(md.get("annotations")))
    causes.extend(_validate_finalizers(as_list(md.get("finalizers"))))
    causes.extend(_validate_owner_references(as_list(md.get("ownerReferences"))))
    return causes


def _validate_name(kind: str, md: Obj) -> list[Cause]:
    """``metadata.name`` in the kind's format (or ``generateName`` in its place)."""
    name = md.get("name")
    if not name:
        if not md.get("generateName"):
            return [required("metadata.name", "name or generateName is required")]
        return []
    if not isinstance(name, str):
        return [invalid("metadata.name", name, "must be a string")]
    if kind in _LABEL_NAMED:
        msgs = is_dns1123_label(name)
    elif kind in _DNS1035_NAMED:
        msgs = is_dns1035_label(name)
    elif kind in _RBAC:
        msgs = [m for m in ("/", "%") if m in name]
        msgs = [f"may not contain '{m}'" for m in msgs]
    else:
        msgs = is_dns1123_subdomain(name)
    return [invalid("metadata.name", name, m) for m in msgs]


def _validate_labels(labels: Any) -> list[Cause]:
    if labels is None:
        return []
    if not isinstance(labels, dict):
        return [invalid("metadata.labels", labels, "must be a map of string to string")]
    causes: list[Cause] = []
    for k, v in labels.items():
        causes.extend(invalid("metadata.labels", k, m) for m in is_qualified_name(str(k)))
        if not isinstance(v, str):
            causes.append(invalid(f"metadata.labels[{k}]", v, "must be a string"))
        else:
            causes.extend(invalid("metadata.labels", v, m) for m in is_valid_label_value(v))
    return causes


def _validate_annotations(annotations: Any) -> list[Cause]:
    if annotations is None:
        return []
    if not isinstance(annotations, dict):
        return [invalid("metadata.annotations", annotations, "must be a map of string to string")]
    causes: list[Cause] = []
    total = 0
    for k, v in annotations.items():
        causes.extend(
            invalid("metadata.annotations", k, m) for m in is_qualified_name(str(k).lower())
        )
        if not isinstance(v, str):
            causes.append(invalid(f"metadata.annotations[{k}]", v, "must be a string"))
            continue
        total += len(str(k)) + len(v)
    if total > TOTAL_ANNOTATION_SIZE:
        causes.append(
            cause(
                "metadata.annotations",
                f"Too long: must have at most {TOTAL_ANNOTATION_SIZE} bytes",
                "FieldValueTooLong",
            )
        )
    return causes


def _validate_finalizers(finalizers: list[Any]) -> list[Cause]:
    causes: list[Cause] = []
    for i, fin in enumerate(finalizers):
        if not isinstance(fin, str):
            causes.append(invalid(f"metadata.finalizers[{i}]", fin, "must be a string"))
        else:
            causes.extend(
                invalid(f"metadata.finalizers[{i}]", fin, m) for m in is_qualified_name(fin)
            )
    return causes


def _validate_owner_references(refs: list[Any]) -> list[Cause]:
    causes: list[Cause] = []
    for i, ref in enumerate(refs):
        ref = as_dict(ref)
        for key in ("apiVersion", "kind", "name", "uid"):
            if not ref.get(key):
                causes.append(required(f"metadata.ownerReferences[{i}].{key}"))
    controllers = [r for r in refs if as_dict(r).get("controller")]
    if len(controllers) > 1:
        causes.append(
            invalid(
                "metadata.ownerReferences",
                [],
                "Only one reference can have Controller set to true",
            )
        )
    return causes
