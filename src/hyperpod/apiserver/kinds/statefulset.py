"""apps/v1 StatefulSet: defaults, validation and kubectl's columns (controller:
``controllers/statefulset.py``)."""

from __future__ import annotations

from typing import Any

from hyperpod.apiserver import errors
from hyperpod.apiserver.kinds import Cause, Obj, Row, Strategy
from hyperpod.apiserver.kinds import columns as cols
from hyperpod.apiserver.kinds import podtemplates as pt
from hyperpod.apiserver.resources import ALL_VERBS, ResourceType

_MUTABLE = (
    "replicas",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
    "ordinals",
    "revisionHistoryLimit",
)


def _with_claim_volumes(spec: Obj) -> Any:
    """The template as its pods will be: each volumeClaimTemplate is a volume of the pod."""
    template = spec.get("template")
    claims = [cols.d(t) for t in spec.get("volumeClaimTemplates") or []]
    if not isinstance(template, dict) or not claims or not isinstance(template.get("spec"), dict):
        return template
    names = [cols.d(t.get("metadata")).get("name") for t in claims]
    pod_spec = dict(template["spec"])
    pod_spec["volumes"] = [
        v for v in pod_spec.get("volumes") or [] if cols.d(v).get("name") not in names
    ] + [{"name": n, "persistentVolumeClaim": {"claimName": str(n)}} for n in names if n]
    return {**template, "spec": pod_spec}


class StatefulSetStrategy(Strategy):
    def resource_type(self) -> ResourceType:
        return ResourceType(
            "apps",
            "v1",
            "StatefulSet",
            "statefulsets",
            "statefulset",
            True,
            ["sts"],
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
        spec.setdefault("podManagementPolicy", "OrderedReady")
        spec.setdefault("revisionHistoryLimit", 10)
        strategy = spec.setdefault("updateStrategy", {})
        if isinstance(strategy, dict):
            strategy.setdefault("type", "RollingUpdate")
            if strategy["type"] == "RollingUpdate":
                ru = strategy.setdefault("rollingUpdate", {})
                if isinstance(ru, dict):
                    ru.setdefault("partition", 0)
        spec.setdefault(
            "persistentVolumeClaimRetentionPolicy",
            {"whenDeleted": "Retain", "whenScaled": "Retain"},
        )
        pt.default_template(spec.get("template"))

    def prepare_for_create(self, obj: Obj) -> None:
        obj.pop("status", None)

    def validate(self, obj: Obj, old: Obj | None) -> list[Cause]:
        spec = cols.d(obj.get("spec"))
        causes = pt.non_negative(obj, "spec", "replicas")
        causes += pt.validate_template(_with_claim_volumes(spec), spec.get("selector"))
        policy = spec.get("podManagementPolicy")
        if policy not in ("OrderedReady", "Parallel"):
            causes.append(
                errors.cause(
                    "spec.podManagementPolicy",
                    f'Unsupported value: "{policy}": supported values: "OrderedReady", "Parallel"',
                    "FieldValueNotSupported",
                )
            )
        typ = cols.d(spec.get("updateStrategy")).get("type")
        if typ not in ("RollingUpdate", "OnDelete"):
            causes.append(
                errors.cause(
                    "spec.updateStrategy.type",
                    f'Unsupported value: "{typ}": supported values: "OnDelete", "RollingUpdate"',
                    "FieldValueNotSupported",
                )
            )
        if old is not None:
            ospec = cols.d(old.get("spec"))
            if any(
                spec.get(k) != ospec.get(k) for k in set(spec) | set(ospec) if k not in _MUTABLE
            ):
                causes.append(
                    errors.cause(
                        "spec",
                        "Forbidden: updates to statefulset spec for fields other than 'replicas',"
                        " 'ordinals', 'template', 'updateStrategy', "
                        "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
                        "FieldValueForbidden",
                    )
                )
        return causes

    def table(self) -> tuple[list[Obj], Row]:
        def ready(o: Obj) -> str:
            return f"{cols.d(o.get('status')).get('readyReplicas', 0)}/{cols.d(o.get('spec')).get('replicas', 0)}"

        return cols.name_age_table(
            [("Ready", "string", ready)],
            [("Containers", "string", cols.containers), ("Images", "string", cols.images)],
        )


STRATEGY = StatefulSetStrategy()
