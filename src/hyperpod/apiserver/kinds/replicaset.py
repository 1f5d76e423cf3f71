"""apps/v1 ReplicaSet: defaults, validation and kubectl's columns (controller:
``controllers/replicaset.py``)."""

from __future__ import annotations

from hyperpod.apiserver.kinds import Cause, Obj, Row, Strategy
from hyperpod.apiserver.kinds import columns as cols
from hyperpod.apiserver.kinds import podtemplates as pt
from hyperpod.apiserver.resources import ALL_VERBS, ResourceType


class ReplicaSetStrategy(Strategy):
    def resource_type(self) -> ResourceType:
        return ResourceType(
            "apps",
            "v1",
            "ReplicaSet",
            "replicasets",
            "replicaset",
            True,
            ["rs"],
            ["all"],
            list(ALL_VERBS),
            ["status", "scale"],
            scale={"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"},
        )

    def default(self, obj: Obj) -> None:
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict):
            spec.setdefault("replicas", 1)
            pt.default_template(spec.get("template"))

    def prepare_for_create(self, obj: Obj) -> None:
        obj.pop("status", None)

    def validate(self, obj: Obj, old: Obj | None) -> list[Cause]:
        spec = cols.d(obj.get("spec"))
        causes = pt.non_negative(obj, "spec", "replicas")
        causes += pt.non_negative(obj, "spec", "minReadySeconds")
        causes += pt.validate_template(spec.get("template"), spec.get("selector"))
        causes += pt.immutable_selector(obj, old)
        return causes

    def table(self) -> tuple[list[Obj], Row]:
        def status(title: str, field: str) -> cols.Col:
            return (title, "integer", lambda o: cols.d(o.get("status")).get(field, 0))

        return cols.name_age_table(
            [
                ("Desired", "integer", lambda o: cols.d(o.get("spec")).get("replicas", 0)),
                status("Current", "replicas"),
                status("Ready", "readyReplicas"),
            ],
            [
                ("Containers", "string", cols.containers),
                ("Images", "string", cols.images),
                ("Selector", "string", cols.selector),
            ],
        )


STRATEGY = ReplicaSetStrategy()
