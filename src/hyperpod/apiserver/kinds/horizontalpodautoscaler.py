"""autoscaling/v2 HorizontalPodAutoscaler: stored, defaulted, validated, with kubectl's columns.

``controllers/horizontal.py`` scales the target on metrics.k8s.io pod metrics. A ``behavior``
that is given gets upstream's defaults for the rules it leaves out. autoscaling/v1 (what ``kubectl autoscale`` sends) is served too and
converted: ``targetCPUUtilizationPercentage`` is the cpu Utilization metric of v2.
"""

from __future__ import annotations

import copy
from typing import Any

from hyperpod.apiserver import errors
from hyperpod.apiserver.kinds import Cause, Obj, Row, Strategy
from hyperpod.apiserver.kinds import columns as cols
from hyperpod.apiserver.resources import ALL_VERBS, ResourceType

# Upstream's defaults for a behavior's rules (scaleDown's window is the controller's, 300 s).
SCALE_UP: Obj = {
    "stabilizationWindowSeconds": 0,
    "selectPolicy": "Max",
    "policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15},
    ],
}
SCALE_DOWN: Obj = {
    "selectPolicy": "Max",
    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
}
METRIC_TYPES = ("Resource", "Pods", "Object", "External", "ContainerResource")


def _target(metric: Obj) -> tuple[str, Obj, Obj]:
    """(name, target, current) of a metric, whatever its type."""
    typ = str(metric.get("type", ""))
    key = typ[0].lower() + typ[1:] if typ else ""
    body = cols.d(metric.get(key))
    name = str(body.get("name") or cols.d(body.get("metric")).get("name") or typ)
    return name, cols.d(body.get("target")), cols.d(body.get("current"))


def _metric_cell(spec_metric: Any, status_metric: Any) -> str:
    name, target, _ = _target(cols.d(spec_metric))
    _, _, current = _target(cols.d(status_metric))
    if target.get("type") == "Utilization":
        have = current.get("averageUtilization")
        now = f"{have}%" if have is not None else "<unknown>"
        return f"{name}: {now}/{target.get('averageUtilization')}%"
    want = target.get("averageValue", target.get("value", ""))
    have = current.get("averageValue", current.get("value"))
    return f"{name}: {have if have is not None else '<unknown>'}/{want}"


def targets(o: Obj) -> str:
    metrics = cols.ls(cols.d(o.get("spec")).get("metrics"))
    current = cols.ls(cols.d(o.get("status")).get("currentMetrics"))
    cells = [_metric_cell(m, current[i] if i < len(current) else {}) for i, m in enumerate(metrics)]
    if len(cells) > 2:
        return f"{', '.join(cells[:2])} + {len(cells) - 2} more..."
    return ", ".join(cells) or "<none>"


def _cpu_metric(utilization: Any) -> Obj:
    return {
        "type": "Resource",
        "resource": {
            "name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": utilization},
        },
    }


def _behavior_causes(behavior: Any) -> list[Cause]:
    """Upstream's limits on ``spec.behavior`` (windows, policy types, values and periods)."""
    causes: list[Cause] = []
    for direction in ("scaleUp", "scaleDown"):
        rules = cols.d(cols.d(behavior).get(direction))
        where = f"spec.behavior.{direction}"
        window = rules.get("stabilizationWindowSeconds")
        if window is not None and (not isinstance(window, int) or not 0 <= window <= 3600):
            causes.append(
                errors.cause(
                    f"{where}.stabilizationWindowSeconds",
                    f"Invalid value: {window}: must be less than or equal to 3600",
                )
            )
        pick = rules.get("selectPolicy")
        if pick is not None and pick not in ("Max", "Min", "Disabled"):
            causes.append(
                errors.cause(
                    f"{where}.selectPolicy",
                    f'Unsupported value: "{pick}": supported values: "Disabled", "Max", "Min"',
                    "FieldValueNotSupported",
                )
            )
        for i, policy in enumerate(cols.ls(rules.get("policies"))):
            p, at = cols.d(policy), f"{where}.policies[{i}]"
            if p.get("type") not in ("Pods", "Percent"):
                causes.append(
                    errors.cause(
                        f"{at}.type",
                        f'Unsupported value: "{p.get("type")}": supported values: "Percent", "Pods"',
                        "FieldValueNotSupported",
                    )
                )
            value, period = p.get("value"), p.get("periodSeconds")
            if not isinstance(value, int) or value <= 0:
                causes.append(
                    errors.cause(f"{at}.value", f"Invalid value: {value}: must be greater than 0")
                )
            if not isinstance(period, int) or not 0 < period <= 1800:
                causes.append(
                    errors.cause(
                        f"{at}.periodSeconds",
                        f"Invalid value: {period}: must be greater than 0 and less than or equal to 1800",
                    )
                )
    return causes


class HorizontalPodAutoscalerStrategy(Strategy):
    def resource_type(self) -> ResourceType:
        return ResourceType(
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            "horizontalpodautoscalers",
            "horizontalpodautoscaler",
            True,
            ["hpa"],
            ["all"],
            list(ALL_VERBS),
            ["status"],
            versions=["v2", "v1"],
        )

    def to_storage(self, obj: Obj, version: str) -> None:
        if version != "v1" or not isinstance(obj.get("spec"), dict):
            return
        spec = obj["spec"]
        target = spec.pop("targetCPUUtilizationPercentage", None)
        if target is not None:
            spec["metrics"] = [_cpu_metric(target)]
        status = obj.get("status")
        if isinstance(status, dict):
            current = status.pop("currentCPUUtilizationPercentage", None)
            if current is not None:
                status["currentMetrics"] = [
                    {
                        "type": "Resource",
                        "resource": {"name": "cpu", "current": {"averageUtilization": current}},
                    }
                ]

    def from_storage(self, obj: Obj, version: str) -> None:
        if version != "v1":
            return
        spec = cols.d(obj.get("spec"))
        for metric in cols.ls(spec.pop("metrics", None)):
            name, target, _ = _target(cols.d(metric))
            if name == "cpu" and target.get("type") == "Utilization":
                spec["targetCPUUtilizationPercentage"] = target.get("averageUtilization")
        spec.pop("behavior", None)
        status = cols.d(obj.get("status"))
        for metric in cols.ls(status.pop("currentMetrics", None)):
            name, _, current = _target(cols.d(metric))
            if name == "cpu" and current.get("averageUtilization") is not None:
                status["currentCPUUtilizationPercentage"] = current["averageUtilization"]
        status.pop("conditions", None)

    def default(self, obj: Obj) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        spec.setdefault("minReplicas", 1)
        if not spec.get("metrics"):
            spec["metrics"] = [_cpu_metric(80)]
        behavior = spec.get("behavior")
        if isinstance(behavior, dict):
            for direction, defaults in (("scaleUp", SCALE_UP), ("scaleDown", SCALE_DOWN)):
                rules = behavior.get(direction)
                rules = rules if isinstance(rules, dict) else {}
                for key, value in defaults.items():
                    if rules.get(key) is None:
                        rules[key] = copy.deepcopy(value)
                behavior[direction] = rules

    def prepare_for_create(self, obj: Obj) -> None:
        obj.pop("status", None)

    def validate(self, obj: Obj, old: Obj | None) -> list[Cause]:
        spec = cols.d(obj.get("spec"))
        causes: list[Cause] = []
        ref = cols.d(spec.get("scaleTargetRef"))
        for field in ("kind", "name"):
            if not ref.get(field):
                causes.append(
                    errors.cause(
                        f"spec.scaleTargetRef.{field}", "Required value", "FieldValueRequired"
                    )
                )
        low, high = spec.get("minReplicas", 1), spec.get("maxReplicas")
        if not isinstance(low, int) or isinstance(low, bool) or low < 1:
            causes.append(
                errors.cause(
                    "spec.minReplicas", f"Invalid value: {low}: must be greater than or equal to 1"
                )
            )
        if not isinstance(high, int) or isinstance(high, bool) or high < 1:
            causes.append(
                errors.cause("spec.maxReplicas", f"Invalid value: {high}: must be greater than 0")
            )
        elif isinstance(low, int) and high < low:
            causes.append(
                errors.cause(
                    "spec.maxReplicas",
                    f"Invalid value: {high}: must be greater than or equal to `minReplicas`",
                )
            )
        causes += cols.not_a_list(spec.get("metrics"), "spec.metrics")
        causes += _behavior_causes(spec.get("behavior"))
        for i, metric in enumerate(cols.ls(spec.get("metrics"))):
            typ = cols.d(metric).get("type")
            if typ not in METRIC_TYPES:
                causes.append(
                    errors.cause(
                        f"spec.metrics[{i}].type",
                        f'Unsupported value: "{typ}": supported values: "ContainerResource", "External", "Object", "Pods", "Resource"',
                        "FieldValueNotSupported",
                    )
                )
                continue
            _, target, _ = _target(cols.d(metric))
            if target.get("type") not in ("Utilization", "Value", "AverageValue"):
                causes.append(
                    errors.cause(
                        f"spec.metrics[{i}].target.type",
                        "Required value: must specify a metric target type",
                        "FieldValueRequired",
                    )
                )
        return causes

    def table(self) -> tuple[list[Obj], Row]:
        def ref(o: Obj) -> str:
            r = cols.d(cols.d(o.get("spec")).get("scaleTargetRef"))
            return f"{r.get('kind')}/{r.get('name')}"

        return cols.name_age_table(
            [
                ("Reference", "string", ref),
                ("Targets", "string", targets),
                ("MinPods", "string", lambda o: str(cols.d(o.get("spec")).get("minReplicas", 1))),
                ("MaxPods", "integer", lambda o: cols.d(o.get("spec")).get("maxReplicas", 0)),
                (
                    "Replicas",
                    "integer",
                    lambda o: cols.d(o.get("status")).get("currentReplicas", 0),
                ),
            ]
        )


STRATEGY = HorizontalPodAutoscalerStrategy()
