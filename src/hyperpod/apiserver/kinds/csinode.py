"""storage.k8s.io/v1 CSINode: the CSI drivers installed on a node (stored; none run here)."""

from __future__ import annotations

from hyperpod.apiserver import errors
from hyperpod.apiserver.kinds import Cause, Obj, Row, Strategy
from hyperpod.apiserver.kinds import columns as cols
from hyperpod.apiserver.resources import ResourceType


class CSINodeStrategy(Strategy):
    def resource_type(self) -> ResourceType:
        return ResourceType("storage.k8s.io", "v1", "CSINode", "csinodes", "csinode", False)

    def validate(self, obj: Obj, old: Obj | None) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict) or not isinstance(spec.get("drivers"), list):
            return [errors.cause("spec.drivers", "Required value", "FieldValueRequired")]
        causes: list[Cause] = []
        seen: set[str] = set()
        for i, drv in enumerate(spec["drivers"]):
            drv = cols.d(drv)
            for field in ("name", "nodeID"):
                if not drv.get(field):
                    causes.append(
                        errors.cause(
                            f"spec.drivers[{i}].{field}", "Required value", "FieldValueRequired"
                        )
                    )
            name = str(drv.get("name") or "")
            if name and name in seen:
                causes.append(
                    errors.cause(
                        f"spec.drivers[{i}].name",
                        f'Duplicate value: "{name}"',
                        "FieldValueDuplicate",
                    )
                )
            seen.add(name)
        return causes

    def table(self) -> tuple[list[Obj], Row]:
        return cols.name_age_table(
            [("Drivers", "integer", lambda o: len(cols.d(o.get("spec")).get("drivers") or []))]
        )


STRATEGY = CSINodeStrategy()
