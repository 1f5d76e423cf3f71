"""core/v1 PersistentVolumeClaim: a namespaced request for storage.

A claim with no ``storageClassName`` gets the default StorageClass at admission (added by
``controllers/volumes_provisioner.py``, like upstream's DefaultStorageClass plugin). After
creation the spec is immutable except ``resources.requests`` and the binder setting
``volumeName`` once; status (phase Pending/Bound/Lost, capacity, accessModes) is the binder's.
"""

from __future__ import annotations

from typing import Any

from hyperpod.apiserver import errors
from hyperpod.apiserver.kinds import Cause, Obj, Row, Strategy
from hyperpod.apiserver.kinds import columns as cols
from hyperpod.apiserver.kinds.persistentvolume import (
    access_mode_causes,
    access_modes,
    string_causes,
)
from hyperpod.apiserver.quantity import is_quantity
from hyperpod.apiserver.resources import ALL_VERBS, ResourceType


class PersistentVolumeClaimStrategy(Strategy):
    def resource_type(self) -> ResourceType:
        return ResourceType(
            "",
            "v1",
            "PersistentVolumeClaim",
            "persistentvolumeclaims",
            "persistentvolumeclaim",
            True,
            ["pvc"],
            [],
            list(ALL_VERBS),
            ["status"],
        )

    def default(self, obj: Obj) -> None:
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict):
            spec.setdefault("volumeMode", "Filesystem")
        status = obj.setdefault("status", {})
        if isinstance(status, dict):
            status.setdefault("phase", "Pending")

    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {"phase": "Pending"}

    def validate(self, obj: Obj, old: Obj | None) -> list[Cause]:
        spec = cols.d(obj.get("spec"))
        causes = access_mode_causes("spec.accessModes", spec.get("accessModes"))
        causes += string_causes(spec, "spec", ("storageClassName", "volumeName"))
        storage = cols.d(cols.d(spec.get("resources")).get("requests")).get("storage")
        if storage is None:
            causes.append(
                errors.cause("spec.resources[storage]", "Required value", "FieldValueRequired")
            )
        elif not is_quantity(storage):
            causes.append(
                errors.cause(
                    "spec.resources.requests[storage]",
                    f'Invalid value: "{storage}": must be a quantity',
                )
            )
        if old is not None:
            before = dict(cols.d(old.get("spec")))
            after = dict(spec)
            for s in (before, after):
                s.pop("resources", None)
                s.pop("volumeAttributesClassName", None)
            if not before.get("volumeName"):
                before.pop("volumeName", None)
                after.pop("volumeName", None)
            if before != after:
                causes.append(
                    errors.cause(
                        "spec",
                        "Forbidden: spec is immutable after creation except resources.requests "
                        "and volumeAttributesClassName for bound claims",
                        "FieldValueForbidden",
                    )
                )
        return causes

    def table(self) -> tuple[list[Obj], Row]:
        def status(o: Obj) -> Obj:
            return cols.d(o.get("status"))

        def spec(o: Obj) -> Obj:
            return cols.d(o.get("spec"))

        return cols.name_age_table(
            [
                ("Status", "string", lambda o: str(status(o).get("phase", ""))),
                ("Volume", "string", lambda o: str(spec(o).get("volumeName", ""))),
                (
                    "Capacity",
                    "string",
                    lambda o: str(cols.d(status(o).get("capacity")).get("storage", "")),
                ),
                ("Access Modes", "string", lambda o: access_modes(status(o).get("accessModes"))),
                ("StorageClass", "string", lambda o: str(spec(o).get("storageClassName", ""))),
                (
                    "VolumeAttributesClass",
                    "string",
                    lambda o: str(spec(o).get("volumeAttributesClassName") or "<unset>"),
                ),
            ],
            [("VolumeMode", "string", lambda o: str(spec(o).get("volumeMode", "")))],
        )

    def selectable_fields(self) -> dict[str, Any]:
        return {}


STRATEGY = PersistentVolumeClaimStrategy()
