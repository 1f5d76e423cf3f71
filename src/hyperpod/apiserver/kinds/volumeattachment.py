"""storage.k8s.io/v1 VolumeAttachment: stored and validated (no attacher runs here)."""

from __future__ import annotations

from hyperpod.apiserver import errors
from hyperpod.apiserver.kinds import Cause, Obj, Row, Strategy
from hyperpod.apiserver.kinds import columns as cols
from hyperpod.apiserver.resources import ResourceType


class VolumeAttachmentStrategy(Strategy):
    def resource_type(self) -> ResourceType:
        return ResourceType(
            "storage.k8s.io",
            "v1",
            "VolumeAttachment",
            "volumeattachments",
            "volumeattachment",
            False,
            subresources=["status"],
        )

    def validate(self, obj: Obj, old: Obj | None) -> list[Cause]:
        spec = cols.d(obj.get("spec"))
        causes: list[Cause] = [
            errors.cause(f"spec.{f}", "Required value", "FieldValueRequired")
            for f in ("attacher", "nodeName")
            if not spec.get(f)
        ]
        source = cols.d(spec.get("source"))
        if ("persistentVolumeName" in source) == ("inlineVolumeSpec" in source):
            causes.append(
                errors.cause(
                    "spec.source",
                    "Required value: must specify exactly one of persistentVolumeName and "
                    "inlineVolumeSpec",
                )
            )
        if old is not None and spec != cols.d(old.get("spec")):
            causes.append(errors.cause("spec", "Invalid value: field is immutable"))
        return causes

    def table(self) -> tuple[list[Obj], Row]:
        def spec(o: Obj) -> Obj:
            return cols.d(o.get("spec"))

        return cols.name_age_table(
            [
                ("Attacher", "string", lambda o: str(spec(o).get("attacher", ""))),
                (
                    "PV",
                    "string",
                    lambda o: str(cols.d(spec(o).get("source")).get("persistentVolumeName", "")),
                ),
                ("Node", "string", lambda o: str(spec(o).get("nodeName", ""))),
                (
                    "Attached",
                    "boolean",
                    lambda o: bool(cols.d(o.get("status")).get("attached")),
                ),
            ]
        )


STRATEGY = VolumeAttachmentStrategy()
