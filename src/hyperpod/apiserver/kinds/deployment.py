"""apps/v1 Deployment: defaults, validation and kubectl's columns (the controller is
``controllers/deployment.py``)."""

from __future__ import annotations

from typing import Any

from hyperpod.apiserver import errors
from hyperpod.apiserver.kinds import Cause, Obj, Row, Strategy
from hyperpod.apiserver.kinds import columns as cols
from hyperpod.apiserver.kinds import podtemplates as pt
from hyperpod.apiserver.resources import ALL_VERBS, ResourceType

STRATEGY_TYPES = ("RollingUpdate", "Recreate")


def int_or_percent(value: Any, total: int, *, round_up: bool) -> int:
    """``"25%"`` of ``total`` (rounded up or down) or the integer itself."""
    if isinstance(value, str) and value.endswith("%"):
        pct = int(value[:-1])
        scaled = pct * total
        return -(-scaled // 100) if round_up else scaled // 100
    return int(value)


def _valid_int_or_percent(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 0
    if isinstance(value, str) and value.endswith("%"):
        return value[:-1].isdigit()
    return False


class DeploymentStrategy(Strategy):
    def resource_type(self) -> ResourceType:
        return ResourceType(
            "apps",
            "v1",
            "Deployment",
            "deployments",
            "deployment",
            True,
            ["deploy"],
            ["all"],
            list(ALL_VERBS),
            ["status", "scale"],
            scale={"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"},
        )

    def default(self, obj: Obj) -> None:
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {})
        if isinstance(strategy, dict):
            strategy.setdefault("type", "RollingUpdate")
            if strategy["type"] == "RollingUpdate":
                ru = strategy.setdefault("rollingUpdate", {})
                if isinstance(ru, dict):
                    ru.setdefault("maxUnavailable", "25%")
                    ru.setdefault("maxSurge", "25%")
        pt.default_template(spec.get("template"))

    def prepare_for_create(self, obj: Obj) -> None:
        obj.pop("status", None)

    def validate(self, obj: Obj, old: Obj | None) -> list[Cause]:
        spec = cols.d(obj.get("spec"))
        causes = pt.non_negative(obj, "spec", "replicas")
        causes += pt.non_negative(obj, "spec", "minReadySeconds")
        causes += pt.non_negative(obj, "spec", "revisionHistoryLimit")
        causes += pt.validate_template(spec.get("template"), spec.get("selector"))
        causes += pt.immutable_selector(obj, old)
        strategy = cols.d(spec.get("strategy"))
        typ = strategy.get("type")
        if typ not in STRATEGY_TYPES:
            causes.append(
                errors.cause(
                    "spec.strategy.type",
                    f'Unsupported value: "{typ}": supported values: "Recreate", "RollingUpdate"',
                    "FieldValueNotSupported",
                )
            )
        ru = strategy.get("rollingUpdate")
        if typ == "Recreate" and ru is not None:
            causes.append(
                errors.cause(
                    "spec.strategy.rollingUpdate",
                    "Forbidden: may not be specified when strategy `type` is 'Recreate'",
                    "FieldValueForbidden",
                )
            )
        if typ == "RollingUpdate" and isinstance(ru, dict):
            surge, unavailable = ru.get("maxSurge", 0), ru.get("maxUnavailable", 0)
            for name, value in (("maxSurge", surge), ("maxUnavailable", unavailable)):
                if not _valid_int_or_percent(value):
                    causes.append(
                        errors.cause(
                            f"spec.strategy.rollingUpdate.{name}",
                            f"Invalid value: {value!r}: must be a non-negative integer or a "
                            "percentage such as '25%'",
                        )
                    )
            if (
                _valid_int_or_percent(surge)
                and _valid_int_or_percent(unavailable)
                and int_or_percent(surge, 100, round_up=True) == 0
                and int_or_percent(unavailable, 100, round_up=False) == 0
            ):
                causes.append(
                    errors.cause(
                        "spec.strategy.rollingUpdate.maxUnavailable",
                        "Invalid value: 0: may not be 0 when `maxSurge` is 0",
                    )
                )
        pds = spec.get("progressDeadlineSeconds")
        mrs = spec.get("minReadySeconds") or 0
        if isinstance(pds, int) and isinstance(mrs, int) and pds <= mrs:
            causes.append(
                errors.cause(
                    "spec.progressDeadlineSeconds",
                    f"Invalid value: {pds}: must be greater than minReadySeconds",
                )
            )
        return causes

    def table(self) -> tuple[list[Obj], Row]:
        def ready(o: Obj) -> str:
            st = cols.d(o.get("status"))
            return f"{st.get('readyReplicas', 0)}/{cols.d(o.get('spec')).get('replicas', 0)}"

        return cols.name_age_table(
            [
                ("Ready", "string", ready),
                (
                    "Up-to-date",
                    "string",
                    lambda o: cols.d(o.get("status")).get("updatedReplicas", 0),
                ),
                (
                    "Available",
                    "string",
                    lambda o: cols.d(o.get("status")).get("availableReplicas", 0),
                ),
            ],
            [
                ("Containers", "string", cols.containers),
                ("Images", "string", cols.images),
                ("Selector", "string", cols.selector),
            ],
        )


STRATEGY = DeploymentStrategy()
