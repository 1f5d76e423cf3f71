"""apps/v1 DaemonSet: defaults, validation and kubectl's columns (controller:
``controllers/daemonset.py``)."""

from __future__ import annotations

from typing import Any

from hyperpod.apiserver import errors
from hyperpod.apiserver.kinds import Cause, Obj, Row, Strategy
from hyperpod.apiserver.kinds import columns as cols
from hyperpod.apiserver.kinds import podtemplates as pt
from hyperpod.apiserver.resources import ALL_VERBS, ResourceType


class DaemonSetStrategy(Strategy):
    def resource_type(self) -> ResourceType:
        return ResourceType(
            "apps",
            "v1",
            "DaemonSet",
            "daemonsets",
            "daemonset",
            True,
            ["ds"],
            ["all"],
            list(ALL_VERBS),
            ["status"],
        )

    def default(self, obj: Obj) -> None:
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        spec.setdefault("revisionHistoryLimit", 10)
        strategy = spec.setdefault("updateStrategy", {})
        if isinstance(strategy, dict):
            strategy.setdefault("type", "RollingUpdate")
            if strategy["type"] == "RollingUpdate":
                ru = strategy.setdefault("rollingUpdate", {})
                if isinstance(ru, dict):
                    ru.setdefault("maxUnavailable", 1)
                    ru.setdefault("maxSurge", 0)
        pt.default_template(spec.get("template"))

    def prepare_for_create(self, obj: Obj) -> None:
        obj.pop("status", None)

    def validate(self, obj: Obj, old: Obj | None) -> list[Cause]:
        spec = cols.d(obj.get("spec"))
        causes = pt.validate_template(spec.get("template"), spec.get("selector"))
        causes += pt.immutable_selector(obj, old)
        causes += pt.non_negative(obj, "spec", "minReadySeconds")
        typ = cols.d(spec.get("updateStrategy")).get("type")
        if typ not in ("RollingUpdate", "OnDelete"):
            causes.append(
                errors.cause(
                    "spec.updateStrategy.type",
                    f'Unsupported value: "{typ}": supported values: "OnDelete", "RollingUpdate"',
                    "FieldValueNotSupported",
                )
            )
        return causes

    def table(self) -> tuple[list[Obj], Row]:
        def st(field: str) -> Any:
            return lambda o: cols.d(o.get("status")).get(field, 0)

        def node_selector(o: Obj) -> str:
            sel = cols.d(
                cols.d(cols.d(cols.d(o.get("spec")).get("template")).get("spec")).get(
                    "nodeSelector"
                )
            )
            return ",".join(f"{k}={v}" for k, v in sel.items()) or "<none>"

        return cols.name_age_table(
            [
                ("Desired", "integer", st("desiredNumberScheduled")),
                ("Current", "integer", st("currentNumberScheduled")),
                ("Ready", "integer", st("numberReady")),
                ("Up-to-date", "integer", st("updatedNumberScheduled")),
                ("Available", "integer", st("numberAvailable")),
                ("Node Selector", "string", node_selector),
            ],
            [
                ("Containers", "string", cols.containers),
                ("Images", "string", cols.images),
                ("Selector", "string", cols.selector),
            ],
        )


STRATEGY = DaemonSetStrategy()
