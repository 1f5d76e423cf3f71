"""apiextensions.k8s.io/v1 CustomResourceDefinition: checks, status, and serving its resource.

A CRD is checked against the catalog (it must not shadow a built-in resource), gets its names
accepted and ``Established`` at once, and from the commit on its resource is served (and
removed again with the CRD).
"""

from __future__ import annotations

from typing import Any

from hyperpod.api.meta import now_rfc3339
from hyperpod.apiserver import errors, schema
from hyperpod.apiserver.kinds import Cause, Obj, Strategy
from hyperpod.apiserver.resources import Catalog, from_crd

RESOURCE = "customresourcedefinitions.apiextensions.k8s.io"


class CrdStrategy(Strategy):
    kind = "CustomResourceDefinition"

    def validate_in(self, store: Any, obj: Obj, old: Obj | None) -> list[Cause]:
        return validate_crd(store.catalog, obj, old)

    def prepare_status(self, obj: Obj) -> None:
        obj["status"] = crd_status(obj)

    def after_commit(self, store: Any, obj: Obj, deleted: bool) -> None:
        name = obj["metadata"]["name"]
        if deleted:
            store.catalog.remove(name)
            return
        if obj["metadata"].get("deletionTimestamp"):
            return
        try:
            store.catalog.add(from_crd(obj))
        except (KeyError, IndexError, TypeError):
            pass


def validate_crd(catalog: Catalog, obj: Obj, old: Obj | None) -> list[Cause]:
    causes: list[Cause] = []
    spec = obj.get("spec") or {}
    group = spec.get("group") or ""
    names = spec.get("names") or {}
    plural = names.get("plural") or ""
    if not group:
        causes.append(errors.cause("spec.group", "Required value", "FieldValueRequired"))
    if not plural:
        causes.append(errors.cause("spec.names.plural", "Required value", "FieldValueRequired"))
    if not names.get("kind"):
        causes.append(errors.cause("spec.names.kind", "Required value", "FieldValueRequired"))
    if plural and group and obj["metadata"].get("name") != f"{plural}.{group}":
        causes.append(
            errors.cause(
                "metadata.name",
                f'Invalid value: "{obj["metadata"].get("name")}": must be '
                f'spec.names.plural+"."+spec.group',
            )
        )
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(
            errors.cause(
                "spec.scope",
                f'Unsupported value: "{spec.get("scope")}": supported values: '
                '"Cluster", "Namespaced"',
                "FieldValueNotSupported",
            )
        )
    versions = spec.get("versions") or []
    if not versions:
        causes.append(errors.cause("spec.versions", "Required value", "FieldValueRequired"))
    storage = [v for v in versions if isinstance(v, dict) and v.get("storage")]
    if versions and len(storage) != 1:
        causes.append(
            errors.cause(
                "spec.versions",
                "Invalid value: must have exactly one version marked as storage version",
            )
        )
    for i, v in enumerate(versions):
        if not isinstance(v, dict) or not v.get("name"):
            causes.append(
                errors.cause(f"spec.versions[{i}].name", "Required value", "FieldValueRequired")
            )
            continue
        sch = (v.get("schema") or {}).get("openAPIV3Schema")
        if sch is not None:
            causes.extend(
                schema.check_structural(sch, f"spec.versions[{i}].schema.openAPIV3Schema")
            )
    existing = catalog.get(f"{plural}.{group}")
    if old is None and existing is not None and not existing.crd:
        causes.append(
            errors.cause(
                "metadata.name",
                "Invalid value: a built-in resource is already served under this name",
            )
        )
    if old is not None and (old.get("spec") or {}).get("scope") != spec.get("scope"):
        causes.append(errors.cause("spec.scope", "Invalid value: field is immutable"))
    return causes


def crd_status(crd: Obj) -> Obj:
    """Names accepted and Established at once (no conflicts are checked)."""
    now = now_rfc3339()
    names = dict((crd.get("spec") or {}).get("names") or {})
    return {
        "acceptedNames": names,
        "storedVersions": [v["name"] for v in crd["spec"]["versions"] if v.get("storage")],
        "conditions": [
            {
                "type": "NamesAccepted",
                "status": "True",
                "reason": "NoConflicts",
                "message": "no conflicts found",
                "lastTransitionTime": now,
            },
            {
                "type": "Established",
                "status": "True",
                "reason": "InitialNamesAccepted",
                "message": "the initial names have been accepted",
                "lastTransitionTime": now,
            },
        ],
    }


STRATEGY = CrdStrategy()
