"""core/v1 ReplicationController: the ReplicaSet's predecessor with a plain-map selector
(run by ``controllers/replicaset.py``)."""

from __future__ import annotations

from typing import Any

from hyperpod.apiserver import errors
from hyperpod.apiserver.kinds import Cause, Obj, Row, Strategy
from hyperpod.apiserver.kinds import columns as cols
from hyperpod.apiserver.kinds import podtemplates as pt
from hyperpod.apiserver.resources import ALL_VERBS, ResourceType


class ReplicationControllerStrategy(Strategy):
    def resource_type(self) -> ResourceType:
        return ResourceType(
            "",
            "v1",
            "ReplicationController",
            "replicationcontrollers",
            "replicationcontroller",
            True,
            ["rc"],
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
        template = spec.get("template")
        if isinstance(template, dict):
            tmd = template.setdefault("metadata", {})
            labels = cols.d(tmd).get("labels")
            if not spec.get("selector") and labels:
                spec["selector"] = dict(labels)
            elif spec.get("selector") and not labels and isinstance(tmd, dict):
                tmd["labels"] = dict(spec["selector"])
        pt.default_template(template)

    def prepare_for_create(self, obj: Obj) -> None:
        obj.pop("status", None)

    def validate(self, obj: Obj, old: Obj | None) -> list[Cause]:
        spec = cols.d(obj.get("spec"))
        causes = pt.non_negative(obj, "spec", "replicas")
        sel = spec.get("selector")
        if not isinstance(sel, dict) or not sel:
            causes.append(errors.cause("spec.selector", "Required value", "FieldValueRequired"))
            sel = None
        causes += pt.validate_template(
            spec.get("template"), {"matchLabels": sel} if sel else None, selector_required=False
        )
        return causes

    def table(self) -> tuple[list[Obj], Row]:
        def st(field: str) -> Any:
            return lambda o: cols.d(o.get("status")).get(field, 0)

        def selector(o: Obj) -> str:
            sel = cols.d(cols.d(o.get("spec")).get("selector"))
            return ",".join(f"{k}={v}" for k, v in sel.items()) or "<none>"

        return cols.name_age_table(
            [
                ("Desired", "integer", lambda o: cols.d(o.get("spec")).get("replicas", 0)),
                ("Current", "integer", st("replicas")),
                ("Ready", "integer", st("readyReplicas")),
            ],
            [
                ("Containers", "string", cols.containers),
                ("Images", "string", cols.images),
                ("Selector", "string", selector),
            ],
        )


STRATEGY = ReplicationControllerStrategy()
