"""core/v1 PodTemplate: a stored, named pod template (validated like a workload's)."""

from __future__ import annotations

from hyperpod.apiserver.kinds import Cause, Obj, Row, Strategy
from hyperpod.apiserver.kinds import columns as cols
from hyperpod.apiserver.kinds import podtemplates as pt
from hyperpod.apiserver.resources import ResourceType


def _spec(o: Obj) -> Obj:
    return cols.d(cols.d(o.get("template")).get("spec"))


class PodTemplateStrategy(Strategy):
    def resource_type(self) -> ResourceType:
        return ResourceType("", "v1", "PodTemplate", "podtemplates", "podtemplate", True)

    def default(self, obj: Obj) -> None:
        pt.default_template(obj.get("template"))

    def validate(self, obj: Obj, old: Obj | None) -> list[Cause]:
        return pt.validate_template(
            obj.get("template"),
            None,
            "template",
            ("Always", "OnFailure", "Never"),
            selector_required=False,
        )

    def table(self) -> tuple[list[Obj], Row]:
        def labels(o: Obj) -> str:
            found = cols.d(cols.d(cols.d(o.get("template")).get("metadata")).get("labels"))
            return ",".join(f"{k}={v}" for k, v in found.items()) or "<none>"

        return cols.name_age_table(
            [
                (
                    "Containers",
                    "string",
                    lambda o: ",".join(
                        str(cols.d(c).get("name", "")) for c in _spec(o).get("containers") or []
                    ),
                ),
                (
                    "Images",
                    "string",
                    lambda o: ",".join(
                        str(cols.d(c).get("image", "")) for c in _spec(o).get("containers") or []
                    ),
                ),
                ("Pod Labels", "string", labels),
            ]
        )


STRATEGY = PodTemplateStrategy()
