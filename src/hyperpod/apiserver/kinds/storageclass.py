"""storage.k8s.io/v1 StorageClass: how claims of a class are provisioned.

The cluster's default class is ``hyperpod-local-path`` (see ``controllers/volumes_provisioner``).
provisioner, parameters, reclaimPolicy and volumeBindingMode are immutable, as upstream.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hyperpod.apiserver import errors
from hyperpod.apiserver.kinds import Cause, Obj, Row, Strategy
from hyperpod.apiserver.kinds import columns as cols
from hyperpod.apiserver.resources import ResourceType

DEFAULT_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
IMMUTABLE = ("provisioner", "parameters", "reclaimPolicy", "volumeBindingMode")


def is_default(sc: Obj) -> bool:
    ann = cols.d(cols.d(sc.get("metadata")).get("annotations"))
    return (
        ann.get(DEFAULT_ANNOTATION) == "true"
        or ann.get("storageclass.beta.kubernetes.io/is-default-class") == "true"
    )


class StorageClassStrategy(Strategy):
    def resource_type(self) -> ResourceType:
        return ResourceType(
            "storage.k8s.io", "v1", "StorageClass", "storageclasses", "storageclass", False, ["sc"]
        )

    def default(self, obj: Obj) -> None:
        obj.setdefault("reclaimPolicy", "Delete")
        obj.setdefault("volumeBindingMode", "Immediate")

    def validate(self, obj: Obj, old: Obj | None) -> list[Cause]:
        causes: list[Cause] = []
        if not obj.get("provisioner"):
            causes.append(errors.cause("provisioner", "Required value", "FieldValueRequired"))
        if obj.get("reclaimPolicy") not in ("Delete", "Retain"):
            causes.append(
                errors.cause(
                    "reclaimPolicy",
                    f'Unsupported value: "{obj.get("reclaimPolicy")}": supported values: "Delete", "Retain"',
                    "FieldValueNotSupported",
                )
            )
        if obj.get("volumeBindingMode") not in ("Immediate", "WaitForFirstConsumer"):
            causes.append(
                errors.cause(
                    "volumeBindingMode",
                    f'Unsupported value: "{obj.get("volumeBindingMode")}": supported values: "Immediate", "WaitForFirstConsumer"',
                    "FieldValueNotSupported",
                )
            )
        if old is not None:
            for field in IMMUTABLE:
                if obj.get(field) != old.get(field):
                    causes.append(
                        errors.cause(
                            field,
                            "Forbidden: updates to " + field + " are forbidden.",
                            "FieldValueForbidden",
                        )
                    )
        return causes

    def table(self) -> tuple[list[Obj], Row]:
        defs, row = cols.name_age_table(
            [
                ("Provisioner", "string", lambda o: str(o.get("provisioner", ""))),
                ("ReclaimPolicy", "string", lambda o: str(o.get("reclaimPolicy", ""))),
                ("VolumeBindingMode", "string", lambda o: str(o.get("volumeBindingMode", ""))),
                (
                    "AllowVolumeExpansion",
                    "string",
                    lambda o: str(bool(o.get("allowVolumeExpansion"))).lower(),
                ),
            ]
        )

        def named(o: Obj, now: datetime) -> list[Any]:
            out = row(o, now)
            if is_default(o):
                out[0] = f"{out[0]} (default)"
            return out

        return defs, named


STRATEGY = StorageClassStrategy()
