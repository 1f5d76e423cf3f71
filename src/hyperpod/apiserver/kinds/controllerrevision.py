"""apps/v1 ControllerRevision: an immutable snapshot of a workload's template."""

from __future__ import annotations

from hyperpod.apiserver import errors
from hyperpod.apiserver.kinds import Cause, Obj, Row, Strategy
from hyperpod.apiserver.kinds import columns as cols
from hyperpod.apiserver.resources import ResourceType


def _controller(o: Obj) -> str:
    for ref in cols.d(o.get("metadata")).get("ownerReferences") or []:
        ref = cols.d(ref)
        if ref.get("controller"):
            group = str(ref.get("apiVersion", "")).rpartition("/")[0]
            kind = str(ref.get("kind", "")).lower()
            return f"{kind}.{group}/{ref.get('name')}" if group else f"{kind}/{ref.get('name')}"
    return "<none>"


class ControllerRevisionStrategy(Strategy):
    def resource_type(self) -> ResourceType:
        return ResourceType(
            "apps", "v1", "ControllerRevision", "controllerrevisions", "controllerrevision", True
        )

    def validate(self, obj: Obj, old: Obj | None) -> list[Cause]:
        rev = obj.get("revision")
        if not isinstance(rev, int) or isinstance(rev, bool) or rev < 0:
            return [
                errors.cause("revision", f"Invalid value: {rev}: must be a non-negative integer")
            ]
        if old is not None and obj.get("data") != old.get("data"):
            return [errors.cause("data", "Invalid value: field is immutable")]
        return []

    def table(self) -> tuple[list[Obj], Row]:
        return cols.name_age_table(
            [
                ("Controller", "string", _controller),
                ("Revision", "integer", lambda o: o.get("revision", 0)),
            ]
        )


STRATEGY = ControllerRevisionStrategy()
