"""networking.k8s.io/v1 NetworkPolicy: stored and validated, NOT enforced locally.

Local pods share the host network (or per-pod addresses without a policy engine), so
nothing filters traffic; policies are kept for tools and for clusters they are applied to.
``policyTypes`` defaults as upstream (Ingress, plus Egress when egress rules are present).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from hyperpod.apiserver import errors
from hyperpod.apiserver.kinds import Cause, Obj, Row, Strategy
from hyperpod.apiserver.kinds import columns as cols
from hyperpod.apiserver.resources import ResourceType
from hyperpod.apiserver.selectors import label_selector_from_dict

PROTOCOLS = ("TCP", "UDP", "SCTP")


def _peer_causes(peer: Any, at: str) -> list[Cause]:
    p = cols.d(peer)
    causes: list[Cause] = []
    block = p.get("ipBlock")
    if block is not None:
        if "podSelector" in p or "namespaceSelector" in p:
            causes.append(
                errors.cause(
                    at,
                    "Forbidden: may not specify both ipBlock and another peer",
                    "FieldValueForbidden",
                )
            )
        cidr = cols.d(block).get("cidr")
        try:
            net = ipaddress.ip_network(str(cidr), strict=False)
        except ValueError:
            return [
                *causes,
                errors.cause(
                    f"{at}.ipBlock.cidr", f'Invalid value: "{cidr}": must be a valid CIDR'
                ),
            ]
        for k, ex in enumerate(cols.ls(cols.d(block).get("except"))):
            try:
                inner = ipaddress.ip_network(str(ex), strict=False)
                inside = inner.version == net.version and inner.subnet_of(net)  # type: ignore[arg-type]
            except ValueError:
                inside = False
            if not inside:
                causes.append(
                    errors.cause(
                        f"{at}.ipBlock.except[{k}]",
                        f'Invalid value: "{ex}": must be a strict subset of `cidr`',
                    )
                )
    for sel in ("podSelector", "namespaceSelector"):
        if p.get(sel) is not None:
            try:
                label_selector_from_dict(p[sel])
            except ValueError as exc:
                causes.append(errors.cause(f"{at}.{sel}", str(exc)))
    return causes


def _ports(ports: Any, at: str) -> list[Cause]:
    causes: list[Cause] = []
    for k, port in enumerate(cols.ls(ports)):
        proto = cols.d(port).get("protocol", "TCP")
        if proto not in PROTOCOLS:
            causes.append(
                errors.cause(
                    f"{at}[{k}].protocol",
                    f'Unsupported value: "{proto}": supported values: "SCTP", "TCP", "UDP"',
                    "FieldValueNotSupported",
                )
            )
    return causes


class NetworkPolicyStrategy(Strategy):
    def resource_type(self) -> ResourceType:
        return ResourceType(
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            "networkpolicies",
            "networkpolicy",
            True,
            ["netpol"],
        )

    def default(self, obj: Obj) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        if "policyTypes" not in spec:
            spec["policyTypes"] = ["Ingress"] + (["Egress"] if spec.get("egress") else [])
        for rules, _peers in (("ingress", "from"), ("egress", "to")):
            for rule in cols.ls(spec.get(rules)):
                for port in cols.ls(cols.d(rule).get("ports")):
                    if isinstance(port, dict):
                        port.setdefault("protocol", "TCP")

    def validate(self, obj: Obj, old: Obj | None) -> list[Cause]:
        spec = cols.d(obj.get("spec"))
        causes: list[Cause] = []
        if "podSelector" not in spec:
            causes.append(errors.cause("spec.podSelector", "Required value", "FieldValueRequired"))
        else:
            try:
                label_selector_from_dict(spec["podSelector"])
            except ValueError as exc:
                causes.append(errors.cause("spec.podSelector", str(exc)))
        for field in ("policyTypes", "ingress", "egress"):
            causes += cols.not_a_list(spec.get(field), f"spec.{field}")
        for i, typ in enumerate(cols.ls(spec.get("policyTypes"))):
            if typ not in ("Ingress", "Egress"):
                causes.append(
                    errors.cause(
                        f"spec.policyTypes[{i}]",
                        f'Unsupported value: "{typ}": supported values: "Egress", "Ingress"',
                        "FieldValueNotSupported",
                    )
                )
        for rules, peers in (("ingress", "from"), ("egress", "to")):
            for i, rule in enumerate(cols.ls(spec.get(rules))):
                rule = cols.d(rule)
                causes += _ports(rule.get("ports"), f"spec.{rules}[{i}].ports")
                for j, peer in enumerate(cols.ls(rule.get(peers))):
                    causes += _peer_causes(peer, f"spec.{rules}[{i}].{peers}[{j}]")
        return causes

    def table(self) -> tuple[list[Obj], Row]:
        def selector(o: Obj) -> str:
            sel = cols.d(cols.d(o.get("spec")).get("podSelector"))
            text = cols.selector({"spec": {"selector": sel}})
            return "<none>" if text == "<none>" else text

        return cols.name_age_table([("Pod-Selector", "string", selector)])


STRATEGY = NetworkPolicyStrategy()
