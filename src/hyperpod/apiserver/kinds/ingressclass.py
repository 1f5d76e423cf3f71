"""networking.k8s.io/v1 IngressClass: stored and validated (no ingress controller runs)."""

from __future__ import annotations

import re

from hyperpod.apiserver import errors
from hyperpod.apiserver.kinds import Cause, Obj, Row, Strategy
from hyperpod.apiserver.kinds import columns as cols
from hyperpod.apiserver.resources import ResourceType

_CONTROLLER = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9/._-]+$")


class IngressClassStrategy(Strategy):
    def resource_type(self) -> ResourceType:
        return ResourceType(
            "networking.k8s.io", "v1", "IngressClass", "ingressclasses", "ingressclass", False
        )

    def validate(self, obj: Obj, old: Obj | None) -> list[Cause]:
        controller = cols.d(obj.get("spec")).get("controller")
        causes: list[Cause] = []
        if not controller:
            causes.append(errors.cause("spec.controller", "Required value", "FieldValueRequired"))
        elif not isinstance(controller, str) or not _CONTROLLER.match(controller):
            causes.append(
                errors.cause(
                    "spec.controller",
                    f'Invalid value: "{controller}": must be a domain-prefixed path (such as "acme.io/foo")',
                )
            )
        if old is not None and controller != cols.d(old.get("spec")).get("controller"):
            causes.append(errors.cause("spec.controller", "Invalid value: field is immutable"))
        return causes

    def table(self) -> tuple[list[Obj], Row]:
        def params(o: Obj) -> str:
            p = cols.d(cols.d(o.get("spec")).get("parameters"))
            if not p:
                return "<none>"
            group = f"{p.get('apiGroup')}/" if p.get("apiGroup") else ""
            return f"{p.get('kind')}.{group}{p.get('name')}"

        return cols.name_age_table(
            [
                (
                    "Controller",
                    "string",
                    lambda o: str(cols.d(o.get("spec")).get("controller", "")),
                ),
                ("Parameters", "string", params),
            ]
        )


STRATEGY = IngressClassStrategy()
