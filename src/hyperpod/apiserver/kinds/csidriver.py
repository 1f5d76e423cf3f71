"""storage.k8s.io/v1 CSIDriver: stored and validated (no CSI driver runs on this machine).

Defaults as kube-apiserver: attachRequired true, podInfoOnMount false, requiresRepublish
false, storageCapacity false, fsGroupPolicy ReadWriteOnceWithFSType, volumeLifecycleModes
[Persistent], seLinuxMount false. The spec is immutable except the fields upstream lets change.
"""

from __future__ import annotations

from hyperpod.apiserver import errors
from hyperpod.apiserver.kinds import Cause, Obj, Row, Strategy
from hyperpod.apiserver.kinds import columns as cols
from hyperpod.apiserver.resources import ResourceType

FS_GROUP_POLICIES = ("ReadWriteOnceWithFSType", "File", "None")
MODES = ("Persistent", "Ephemeral")
MUTABLE = (
    "podInfoOnMount",
    "requiresRepublish",
    "storageCapacity",
    "tokenRequests",
    "seLinuxMount",
)


class CSIDriverStrategy(Strategy):
    def resource_type(self) -> ResourceType:
        return ResourceType("storage.k8s.io", "v1", "CSIDriver", "csidrivers", "csidriver", False)

    def default(self, obj: Obj) -> None:
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict):
            spec.setdefault("attachRequired", True)
            spec.setdefault("podInfoOnMount", False)
            spec.setdefault("requiresRepublish", False)
            spec.setdefault("storageCapacity", False)
            spec.setdefault("fsGroupPolicy", "ReadWriteOnceWithFSType")
            spec.setdefault("volumeLifecycleModes", ["Persistent"])
            spec.setdefault("seLinuxMount", False)

    def validate(self, obj: Obj, old: Obj | None) -> list[Cause]:
        spec = cols.d(obj.get("spec"))
        causes: list[Cause] = []
        if spec.get("fsGroupPolicy") not in FS_GROUP_POLICIES:
            causes.append(
                errors.cause(
                    "spec.fsGroupPolicy",
                    f'Unsupported value: "{spec.get("fsGroupPolicy")}": supported values: '
                    '"File", "None", "ReadWriteOnceWithFSType"',
                    "FieldValueNotSupported",
                )
            )
        for i, mode in enumerate(spec.get("volumeLifecycleModes") or []):
            if mode not in MODES:
                causes.append(
                    errors.cause(
                        f"spec.volumeLifecycleModes[{i}]",
                        f'Unsupported value: "{mode}": supported values: "Ephemeral", "Persistent"',
                        "FieldValueNotSupported",
                    )
                )
        if old is not None:
            before = cols.d(old.get("spec"))
            for field in sorted(set(spec) | set(before)):
                if field not in MUTABLE and spec.get(field) != before.get(field):
                    causes.append(
                        errors.cause(f"spec.{field}", "Invalid value: field is immutable")
                    )
        return causes

    def table(self) -> tuple[list[Obj], Row]:
        def flag(field: str) -> cols.Col:
            return (
                field[0].upper() + field[1:],
                "boolean",
                lambda o: bool(cols.d(o.get("spec")).get(field)),
            )

        return cols.name_age_table(
            [
                flag("attachRequired"),
                flag("podInfoOnMount"),
                flag("storageCapacity"),
                (
                    "Modes",
                    "string",
                    lambda o: ",".join(cols.d(o.get("spec")).get("volumeLifecycleModes") or []),
                ),
            ]
        )


STRATEGY = CSIDriverStrategy()
