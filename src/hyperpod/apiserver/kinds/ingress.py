"""networking.k8s.io/v1 Ingress: stored and validated, not routed.

The local cluster runs no ingress controller, so rules are kept for tools (helm charts,
GitOps diffs) and ``status.loadBalancer`` stays empty: reach Services with port-forward or
NodePort instead. Validation follows upstream's main rules (a backend or rules, path types,
one backend kind, service name and port).
"""

from __future__ import annotations

import re
from typing import Any

from hyperpod.apiserver import errors
from hyperpod.apiserver.kinds import Cause, Obj, Row, Strategy
from hyperpod.apiserver.kinds import columns as cols
from hyperpod.apiserver.resources import ALL_VERBS, ResourceType

PATH_TYPES = ("Exact", "Prefix", "ImplementationSpecific")
_HOST = re.compile(r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_IP = re.compile(r"^[0-9.]+$|:")


def _backend(backend: Any, at: str) -> list[Cause]:
    b = cols.d(backend)
    has_service, has_resource = "service" in b, "resource" in b
    if has_service == has_resource:
        return [errors.cause(at, "Invalid value: exactly one of service or resource is required")]
    if has_resource:
        return []
    svc = cols.d(b.get("service"))
    causes: list[Cause] = []
    if not svc.get("name"):
        causes.append(errors.cause(f"{at}.service.name", "Required value", "FieldValueRequired"))
    port = cols.d(svc.get("port"))
    if ("number" in port) == ("name" in port):
        causes.append(
            errors.cause(
                f"{at}.service.port", "Invalid value: exactly one of name or number is required"
            )
        )
    elif "number" in port and not (isinstance(port["number"], int) and 0 < port["number"] < 65536):
        causes.append(
            errors.cause(
                f"{at}.service.port.number",
                f"Invalid value: {port['number']}: must be between 1 and 65535, inclusive",
            )
        )
    return causes


def _flatten_rules(obj: Obj) -> None:
    """Inline a rule's ``ingressRuleValue`` (how the protobuf form nests ``http``)."""
    for rule in cols.ls(cols.d(obj.get("spec")).get("rules")):
        if isinstance(rule, dict) and isinstance(rule.get("ingressRuleValue"), dict):
            rule.update(rule.pop("ingressRuleValue"))


class IngressStrategy(Strategy):
    def resource_type(self) -> ResourceType:
        return ResourceType(
            "networking.k8s.io",
            "v1",
            "Ingress",
            "ingresses",
            "ingress",
            True,
            ["ing"],
            [],
            list(ALL_VERBS),
            ["status"],
        )

    def prepare_for_create(self, obj: Obj) -> None:
        obj.pop("status", None)
        _flatten_rules(obj)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        _flatten_rules(new)

    def validate(self, obj: Obj, old: Obj | None) -> list[Cause]:
        spec = cols.d(obj.get("spec"))
        causes: list[Cause] = []
        rules = cols.ls(spec.get("rules"))
        causes += cols.not_a_list(spec.get("rules"), "spec.rules")
        causes += cols.not_a_list(spec.get("tls"), "spec.tls")
        if not rules and "defaultBackend" not in spec:
            causes.append(
                errors.cause(
                    "spec", "Invalid value: either `defaultBackend` or `rules` must be specified"
                )
            )
        if "defaultBackend" in spec:
            causes += _backend(spec["defaultBackend"], "spec.defaultBackend")
        for i, rule in enumerate(rules):
            rule = cols.d(rule)
            host = rule.get("host")
            if host is not None and (
                not isinstance(host, str) or _IP.search(host) or not _HOST.match(host)
            ):
                causes.append(
                    errors.cause(
                        f"spec.rules[{i}].host",
                        f'Invalid value: "{host}": must be a DNS name, not an IP address',
                    )
                )
            for j, path in enumerate(cols.ls(cols.d(rule.get("http")).get("paths"))):
                path = cols.d(path)
                at = f"spec.rules[{i}].http.paths[{j}]"
                typ = path.get("pathType")
                if typ is None:
                    causes.append(
                        errors.cause(
                            f"{at}.pathType",
                            "Required value: pathType must be specified",
                            "FieldValueRequired",
                        )
                    )
                elif typ not in PATH_TYPES:
                    causes.append(
                        errors.cause(
                            f"{at}.pathType",
                            f'Unsupported value: "{typ}": supported values: "Exact", "ImplementationSpecific", "Prefix"',
                            "FieldValueNotSupported",
                        )
                    )
                p = path.get("path", "")
                if typ in ("Exact", "Prefix") and not str(p).startswith("/"):
                    causes.append(
                        errors.cause(
                            f"{at}.path", f'Invalid value: "{p}": must be an absolute path'
                        )
                    )
                causes += _backend(path.get("backend"), f"{at}.backend")
        return causes

    def table(self) -> tuple[list[Obj], Row]:
        def hosts(o: Obj) -> str:
            found = [
                str(cols.d(r).get("host") or "*")
                for r in cols.ls(cols.d(o.get("spec")).get("rules"))
            ]
            return ",".join(found) or "*"

        def address(o: Obj) -> str:
            lb = cols.ls(cols.d(cols.d(o.get("status")).get("loadBalancer")).get("ingress"))
            return ",".join(str(cols.d(x).get("ip") or cols.d(x).get("hostname") or "") for x in lb)

        def ports(o: Obj) -> str:
            return "80, 443" if cols.d(o.get("spec")).get("tls") else "80"

        return cols.name_age_table(
            [
                (
                    "Class",
                    "string",
                    lambda o: str(cols.d(o.get("spec")).get("ingressClassName") or "<none>"),
                ),
                ("Hosts", "string", hosts),
                ("Address", "string", address),
                ("Ports", "string", ports),
            ]
        )


STRATEGY = IngressStrategy()
