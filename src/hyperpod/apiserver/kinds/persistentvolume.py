"""core/v1 PersistentVolume: a piece of storage (here: a directory) a claim binds to.

Validation follows upstream's required fields (capacity.storage, accessModes, exactly one
volume source); status.phase is Available, Bound, Released or Failed and is written by
``controllers/volumes_provisioner.py``.
"""

from __future__ import annotations

from typing import Any

from hyperpod.apiserver import errors
from hyperpod.apiserver.kinds import Cause, Obj, Row, Strategy
from hyperpod.apiserver.kinds import columns as cols
from hyperpod.apiserver.quantity import is_quantity
from hyperpod.apiserver.resources import ALL_VERBS, ResourceType

ACCESS_MODES = {
    "ReadWriteOnce": "RWO",
    "ReadOnlyMany": "ROX",
    "ReadWriteMany": "RWX",
    "ReadWriteOncePod": "RWOP",
}
_SUPPORTED_MODES = ", ".join(f'"{m}"' for m in ACCESS_MODES)
RECLAIM_POLICIES = ("Retain", "Delete", "Recycle")
# Volume sources a PersistentVolume may name (one of them); the kubelet mounts hostPath/local.
SOURCES = (
    "hostPath",
    "local",
    "nfs",
    "csi",
    "awsElasticBlockStore",
    "fc",
    "iscsi",
    "cephfs",
    "rbd",
    "flexVolume",
)


def access_modes(modes: Any) -> str:
    """kubectl's ACCESS MODES cell: ``RWO,RWX``."""
    return ",".join(ACCESS_MODES.get(str(m), str(m)) for m in cols.ls(modes))


def access_mode_causes(path: str, modes: Any) -> list[Cause]:
    if not isinstance(modes, list) or not modes:
        return [
            errors.cause(
                path, "Required value: at least 1 access mode is required", "FieldValueRequired"
            )
        ]
    return [
        errors.cause(
            f"{path}[{i}]",
            f'Unsupported value: "{m}": supported values: {_SUPPORTED_MODES}',
            "FieldValueNotSupported",
        )
        for i, m in enumerate(modes)
        if not isinstance(m, str) or m not in ACCESS_MODES
    ]


def string_causes(spec: Obj, at: str, fields: tuple[str, ...]) -> list[Cause]:
    """Causes for ``fields`` of ``spec`` that are present but not strings."""
    return [
        errors.cause(f"{at}.{f}", f"Invalid value: {spec[f]!r}: must be a string")
        for f in fields
        if spec.get(f) is not None and not isinstance(spec[f], str)
    ]


def volume_path(pv: Obj) -> str | None:
    """The host directory of a hostPath or local PersistentVolume, else None."""
    spec = cols.d(pv.get("spec"))
    for source in ("hostPath", "local"):
        path = cols.d(spec.get(source)).get("path")
        if isinstance(path, str) and path:
            return path
    return None


class PersistentVolumeStrategy(Strategy):
    def resource_type(self) -> ResourceType:
        return ResourceType(
            "",
            "v1",
            "PersistentVolume",
            "persistentvolumes",
            "persistentvolume",
            False,
            ["pv"],
            [],
            list(ALL_VERBS),
            ["status"],
        )

    def default(self, obj: Obj) -> None:
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict):
            spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
            spec.setdefault("volumeMode", "Filesystem")
        status = obj.setdefault("status", {})
        if isinstance(status, dict):
            status.setdefault("phase", "Pending")

    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {"phase": "Pending"}

    def validate(self, obj: Obj, old: Obj | None) -> list[Cause]:
        spec = cols.d(obj.get("spec"))
        causes: list[Cause] = []
        storage = cols.d(spec.get("capacity")).get("storage")
        if storage is None:
            causes.append(errors.cause("spec.capacity", "Required value", "FieldValueRequired"))
        elif not is_quantity(storage):
            causes.append(
                errors.cause(
                    "spec.capacity.storage", f'Invalid value: "{storage}": must be a quantity'
                )
            )
        causes.extend(access_mode_causes("spec.accessModes", spec.get("accessModes")))
        if spec.get("claimRef") is not None and not isinstance(spec.get("claimRef"), dict):
            causes.append(errors.cause("spec.claimRef", "Invalid value: must be an object"))
        causes.extend(string_causes(spec, "spec", ("storageClassName",)))
        found = [s for s in SOURCES if s in spec]
        if not found:
            causes.append(
                errors.cause(
                    "spec", "Required value: must specify a volume type", "FieldValueRequired"
                )
            )
        elif len(found) > 1:
            causes.append(
                errors.cause(
                    f"spec.{found[1]}",
                    "Forbidden: may not specify more than 1 volume type",
                    "FieldValueForbidden",
                )
            )
        policy = spec.get("persistentVolumeReclaimPolicy")
        if policy not in RECLAIM_POLICIES:
            causes.append(
                errors.cause(
                    "spec.persistentVolumeReclaimPolicy",
                    f'Unsupported value: "{policy}": supported values: "Delete", "Recycle", "Retain"',
                    "FieldValueNotSupported",
                )
            )
        for source in ("hostPath", "local"):
            path = cols.d(spec.get(source)).get("path") if source in spec else "/"
            if not isinstance(path, str) or not path.startswith("/"):
                causes.append(
                    errors.cause(
                        f"spec.{source}.path", f'Invalid value: "{path}": must be an absolute path'
                    )
                )
        if old is not None:
            old_source = next((s for s in SOURCES if s in cols.d(old.get("spec"))), None)
            if (
                found
                and old_source
                and cols.d(old.get("spec")).get(old_source) != spec.get(old_source)
            ):
                causes.append(
                    errors.cause(
                        f"spec.{old_source}",
                        "Forbidden: spec.persistentvolumesource is immutable after creation",
                        "FieldValueForbidden",
                    )
                )
        return causes

    def table(self) -> tuple[list[Obj], Row]:
        def spec(o: Obj) -> Obj:
            return cols.d(o.get("spec"))

        def claim(o: Obj) -> str:
            ref = cols.d(spec(o).get("claimRef"))
            return f"{ref.get('namespace')}/{ref.get('name')}" if ref.get("name") else ""

        return cols.name_age_table(
            [
                (
                    "Capacity",
                    "string",
                    lambda o: str(cols.d(spec(o).get("capacity")).get("storage", "")),
                ),
                ("Access Modes", "string", lambda o: access_modes(spec(o).get("accessModes"))),
                (
                    "Reclaim Policy",
                    "string",
                    lambda o: str(spec(o).get("persistentVolumeReclaimPolicy", "")),
                ),
                ("Status", "string", lambda o: str(cols.d(o.get("status")).get("phase", ""))),
                ("Claim", "string", claim),
                ("StorageClass", "string", lambda o: str(spec(o).get("storageClassName", ""))),
                (
                    "VolumeAttributesClass",
                    "string",
                    lambda o: str(spec(o).get("volumeAttributesClassName") or "<unset>"),
                ),
                ("Reason", "string", lambda o: str(cols.d(o.get("status")).get("reason", ""))),
            ],
            [("VolumeMode", "string", lambda o: str(spec(o).get("volumeMode", "")))],
        )

    def selectable_fields(self) -> dict[str, Any]:
        return {"status.phase": lambda o: str(cols.d(o.get("status")).get("phase", ""))}


STRATEGY = PersistentVolumeStrategy()
