"""Defaulting and validation of built-in kinds, with Kubernetes' own error messages.

:func:`default_builtin` and :func:`validate_builtin` are the entry points the store calls: they
run the kind's strategy (``kinds/``), the PodSpec rules (``podspec.py``), the metadata rules
(``objectmeta.py``) and the rules of the core kinds that have no strategy yet, kept here.
Name formats are in ``names.py``, the cause builders in ``fielderrors.py``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from hyperpod.apiserver import kinds
from hyperpod.apiserver.errors import cause
from hyperpod.apiserver.fielderrors import (
    Cause,
    Obj,
    as_dict,
    as_list,
    duplicate,
    forbidden,
    invalid,
    required,
    unsupported,
)
from hyperpod.apiserver.names import (
    is_config_map_key,
    is_dns1123_label,
    is_port_name,
    is_qualified_name,
    is_valid_label_value,
)
from hyperpod.apiserver.objectmeta import validate_object_meta
from hyperpod.apiserver.podspec import (
    PROTOCOLS,
    TAINT_EFFECTS,
    default_pod,
    validate_pod,
    validate_port,
)
from hyperpod.apiserver.podspec import validate_pod_spec as validate_pod_spec  # callers' name
from hyperpod.apiserver.quantity import parse_quantity

CONFIG_MAP_MAX = 1024 * 1024
HIGHEST_USER_PRIORITY = 1_000_000_000
SYSTEM_PRIORITY_PREFIX = "system-"


def default_builtin(kind: str, obj: Obj) -> None:
    """Kubernetes' defaults for built-in kinds (in place; only absent fields are set)."""
    if (strategy := kinds.strategy_for(kind)) is not None:
        strategy.default(obj)
    if kind == "Pod":
        default_pod(obj)
    elif kind == "Service":
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict):
            spec.setdefault("type", "ClusterIP")
            spec.setdefault("sessionAffinity", "None")
            if spec["type"] != "ExternalName":
                spec.setdefault("internalTrafficPolicy", "Cluster")
            for port in as_list(spec.get("ports")):
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")
                    if "port" in port:
                        port.setdefault("targetPort", port["port"])
    elif kind == "Namespace":
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict):
            spec.setdefault("finalizers", ["kubernetes"])
        status = obj.setdefault("status", {})
        if isinstance(status, dict):
            status.setdefault("phase", "Active")
    elif kind == "Secret":
        obj.setdefault("type", "Opaque")
    elif kind == "PriorityClass":
        obj.setdefault("preemptionPolicy", "PreemptLowerPriority")
    elif kind == "Event":
        obj.setdefault("type", "Normal")
    elif kind in ("RoleBinding", "ClusterRoleBinding"):
        for s in as_list(obj.get("subjects")):
            if isinstance(s, dict) and s.get("kind") in ("User", "Group"):
                s.setdefault("apiGroup", "rbac.authorization.k8s.io")
    elif kind == "Node":
        obj.setdefault("spec", {})


# --- validation ----------------------------------------------------------------------------

_SERVICE_TYPES = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"]


def _validate_service(obj: Obj, old: Obj | None) -> list[Cause]:
    causes: list[Cause] = []
    spec = as_dict(obj.get("spec"))
    stype = spec.get("type", "ClusterIP")
    if stype not in _SERVICE_TYPES:
        causes.append(unsupported("spec.type", stype, _SERVICE_TYPES))
    ports = as_list(spec.get("ports"))
    headless = spec.get("clusterIP") == "None"
    if not ports and stype != "ExternalName" and not headless:
        causes.append(required("spec.ports"))
    if stype == "ExternalName" and not spec.get("externalName"):
        causes.append(required("spec.externalName"))
    seen_names: set[str] = set()
    seen_ports: set[tuple[Any, Any]] = set()
    for i, port in enumerate(ports):
        where = f"spec.ports[{i}]"
        port = as_dict(port)
        pname = port.get("name")
        if len(ports) > 1 and not pname:
            causes.append(required(f"{where}.name"))
        elif pname:
            causes.extend(invalid(f"{where}.name", pname, m) for m in is_dns1123_label(str(pname)))
            if pname in seen_names:
                causes.append(duplicate(f"{where}.name", pname))
            seen_names.add(str(pname))
        causes.extend(validate_port(f"{where}.port", port.get("port")))
        protocol = port.get("protocol", "TCP")
        if protocol not in PROTOCOLS:
            causes.append(unsupported(f"{where}.protocol", protocol, PROTOCOLS))
        ident = (port.get("port"), protocol)
        if ident in seen_ports:
            causes.append(duplicate(where, {"port": port.get("port"), "protocol": protocol}))
        seen_ports.add(ident)
        target = port.get("targetPort")
        if isinstance(target, str):
            causes.extend(invalid(f"{where}.targetPort", target, m) for m in is_port_name(target))
        elif target is not None:
            causes.extend(validate_port(f"{where}.targetPort", target))
        if port.get("nodePort") is not None and stype not in ("NodePort", "LoadBalancer"):
            causes.append(
                forbidden(f"{where}.nodePort", "may not be used when `type` is 'ClusterIP'")
            )
    for k, v in as_dict(spec.get("selector")).items():
        causes.extend(invalid("spec.selector", k, m) for m in is_qualified_name(str(k)))
        causes.extend(invalid("spec.selector", v, m) for m in is_valid_label_value(str(v)))
    if old is not None:
        old_ip = as_dict(old.get("spec")).get("clusterIP")
        new_ip = spec.get("clusterIP")
        if old_ip and new_ip and old_ip != new_ip and stype != "ExternalName":
            causes.append(invalid("spec.clusterIP", new_ip, "field is immutable"))
    return causes


def _validate_data_keys(obj: Obj, fields: tuple[str, ...], limit: int) -> list[Cause]:
    causes: list[Cause] = []
    seen: set[str] = set()
    total = 0
    for f in fields:
        data = obj.get(f)
        if data is None:
            continue
        if not isinstance(data, dict):
            causes.append(invalid(f, data, "must be a map"))
            continue
        for k, v in data.items():
            causes.extend(invalid(f"{f}[{k}]", k, m) for m in is_config_map_key(str(k)))
            if k in seen:
                causes.append(invalid(f"{f}[{k}]", k, "duplicate of key present in another field"))
            seen.add(str(k))
            total += len(str(v)) if v is not None else 0
    if total > limit:
        causes.append(
            cause(fields[0], f"Too long: must have at most {limit} bytes", "FieldValueTooLong")
        )
    return causes


def _validate_immutable_data(obj: Obj, old: Obj | None, fields: tuple[str, ...]) -> list[Cause]:
    if old is None or not old.get("immutable"):
        return []
    causes: list[Cause] = []
    for f in fields:
        if obj.get(f) != old.get(f):
            causes.append(forbidden(f, "field is immutable when `immutable` is set"))
    if not obj.get("immutable"):
        causes.append(forbidden("immutable", "field is immutable when `immutable` is set"))
    return causes


def _validate_config_map(obj: Obj, old: Obj | None) -> list[Cause]:
    fields = ("data", "binaryData")
    return _validate_data_keys(obj, fields, CONFIG_MAP_MAX) + _validate_immutable_data(
        obj, old, fields
    )


def _validate_secret(obj: Obj, old: Obj | None) -> list[Cause]:
    fields = ("data", "stringData")
    causes = _validate_data_keys(obj, ("data",), CONFIG_MAP_MAX)
    causes += _validate_data_keys(
        {"stringData": obj.get("stringData")}, ("stringData",), CONFIG_MAP_MAX
    )
    for k, v in as_dict(obj.get("data")).items():
        try:
            base64.b64decode(str(v), validate=True)
        except (binascii.Error, ValueError):
            causes.append(
                invalid(f"data[{k}]", "<secret contents redacted>", "must be base64-encoded")
            )
    stype = obj.get("type", "Opaque")
    if old is not None and old.get("type", "Opaque") != stype:
        causes.append(invalid("type", stype, "field is immutable"))
    sa_name = as_dict(as_dict(obj.get("metadata")).get("annotations")).get(
        "kubernetes.io/service-account.name"
    )
    if stype == "kubernetes.io/service-account-token" and not sa_name:
        causes.append(required("metadata.annotations[kubernetes.io/service-account.name]"))
    return causes + _validate_immutable_data(obj, old, fields)


def _validate_node(obj: Obj, old: Obj | None) -> list[Cause]:
    causes: list[Cause] = []
    spec = as_dict(obj.get("spec"))
    for i, taint in enumerate(as_list(spec.get("taints"))):
        taint = as_dict(taint)
        where = f"spec.taints[{i}]"
        if not taint.get("key"):
            causes.append(required(f"{where}.key"))
        else:
            causes.extend(
                invalid(f"{where}.key", taint["key"], m)
                for m in is_qualified_name(str(taint["key"]))
            )
        effect = taint.get("effect")
        if not effect:
            causes.append(required(f"{where}.effect"))
        elif effect not in TAINT_EFFECTS:
            causes.append(unsupported(f"{where}.effect", effect, TAINT_EFFECTS))
    status = as_dict(obj.get("status"))
    for part in ("capacity", "allocatable"):
        for name, value in as_dict(status.get(part)).items():
            try:
                if parse_quantity(value) < 0:
                    causes.append(
                        invalid(
                            f"status.{part}[{name}]", value, "must be greater than or equal to 0"
                        )
                    )
            except ValueError as exc:
                causes.append(invalid(f"status.{part}[{name}]", value, str(exc)))
    return causes


def _validate_lease(obj: Obj, old: Obj | None) -> list[Cause]:
    causes: list[Cause] = []
    spec = as_dict(obj.get("spec"))
    duration = spec.get("leaseDurationSeconds")
    if duration is not None and (not isinstance(duration, int) or duration <= 0):
        causes.append(invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    transitions = spec.get("leaseTransitions")
    if transitions is not None and (not isinstance(transitions, int) or transitions < 0):
        causes.append(
            invalid("spec.leaseTransitions", transitions, "must be greater than or equal to 0")
        )
    return causes


_PREEMPTION = ["PreemptLowerPriority", "Never"]


def _validate_priority_class(obj: Obj, old: Obj | None) -> list[Cause]:
    causes: list[Cause] = []
    name = str(as_dict(obj.get("metadata")).get("name") or "")
    value = obj.get("value")
    if value is None:
        causes.append(required("value"))
    elif not isinstance(value, int) or isinstance(value, bool):
        causes.append(invalid("value", value, "must be an integer"))
    elif not name.startswith(SYSTEM_PRIORITY_PREFIX) and value > HIGHEST_USER_PRIORITY:
        causes.append(
            forbidden(
                "value",
                f"maximum allowed value of a user defined priority is {HIGHEST_USER_PRIORITY}",
            )
        )
    policy = obj.get("preemptionPolicy")
    if policy is not None and policy not in _PREEMPTION:
        causes.append(unsupported("preemptionPolicy", policy, _PREEMPTION))
    if old is not None:
        if old.get("value") != value:
            causes.append(forbidden("value", "may not be changed in an update."))
        if old.get("preemptionPolicy") != policy:
            causes.append(invalid("preemptionPolicy", policy, "field is immutable"))
    return causes


_EVENT_TYPES = ["Normal", "Warning"]


def _validate_event(obj: Obj, old: Obj | None) -> list[Cause]:
    causes: list[Cause] = []
    involved = obj.get("involvedObject")
    if not isinstance(involved, dict) or not involved:
        causes.append(required("involvedObject"))
        involved = {}
    event_ns = as_dict(obj.get("metadata")).get("namespace")
    inv_ns = involved.get("namespace")
    if inv_ns and event_ns and inv_ns != event_ns:
        causes.append(invalid("involvedObject.namespace", inv_ns, "does not match event.namespace"))
    etype = obj.get("type")
    if etype and etype not in _EVENT_TYPES:
        causes.append(unsupported("type", etype, _EVENT_TYPES))
    return causes


def _validate_rules(obj: Obj, namespaced: bool) -> list[Cause]:
    causes: list[Cause] = []
    for i, rule in enumerate(as_list(obj.get("rules"))):
        rule = as_dict(rule)
        where = f"rules[{i}]"
        if not as_list(rule.get("verbs")):
            causes.append(required(f"{where}.verbs", "verbs must contain at least one value"))
        urls = as_list(rule.get("nonResourceURLs"))
        if urls:
            if namespaced:
                causes.append(
                    invalid(
                        f"{where}.nonResourceURLs",
                        urls,
                        "namespaced rules cannot apply to non-resource URLs",
                    )
                )
            if as_list(rule.get("apiGroups")) or as_list(rule.get("resources")):
                causes.append(
                    invalid(
                        f"{where}.nonResourceURLs",
                        urls,
                        "rules cannot apply to both regular resources and non-resource URLs",
                    )
                )
        else:
            if not as_list(rule.get("apiGroups")):
                causes.append(
                    required(
                        f"{where}.apiGroups", "resource rules must supply at least one api group"
                    )
                )
            if not as_list(rule.get("resources")):
                causes.append(
                    required(
                        f"{where}.resources", "resource rules must supply at least one resource"
                    )
                )
    return causes


_SUBJECT_KINDS = ["ServiceAccount", "User", "Group"]


def _validate_binding(obj: Obj, old: Obj | None, cluster: bool) -> list[Cause]:
    causes: list[Cause] = []
    ref = obj.get("roleRef")
    if not isinstance(ref, dict):
        causes.append(required("roleRef"))
        ref = {}
    else:
        allowed = ["ClusterRole"] if cluster else ["Role", "ClusterRole"]
        if ref.get("kind") not in allowed:
            causes.append(unsupported("roleRef.kind", ref.get("kind", ""), allowed))
        if ref.get("apiGroup", "rbac.authorization.k8s.io") != "rbac.authorization.k8s.io":
            causes.append(
                unsupported("roleRef.apiGroup", ref.get("apiGroup"), ["rbac.authorization.k8s.io"])
            )
        if not ref.get("name"):
            causes.append(required("roleRef.name"))
    for i, subject in enumerate(as_list(obj.get("subjects"))):
        subject = as_dict(subject)
        where = f"subjects[{i}]"
        kind = subject.get("kind")
        if kind not in _SUBJECT_KINDS:
            causes.append(unsupported(f"{where}.kind", kind or "", _SUBJECT_KINDS))
        if not subject.get("name"):
            causes.append(required(f"{where}.name"))
        if kind == "ServiceAccount" and cluster and not subject.get("namespace"):
            causes.append(required(f"{where}.namespace"))
    if old is not None and old.get("roleRef") != obj.get("roleRef"):
        causes.append(invalid("roleRef", ref, "cannot change roleRef"))
    return causes


def _validate_namespace(obj: Obj, old: Obj | None) -> list[Cause]:
    causes: list[Cause] = []
    for i, fin in enumerate(as_list(as_dict(obj.get("spec")).get("finalizers"))):
        causes.extend(invalid(f"spec.finalizers[{i}]", fin, m) for m in is_qualified_name(str(fin)))
    return causes


_VALIDATORS: dict[str, Callable[[Obj, Obj | None], list[Cause]]] = {
    "Pod": validate_pod,
    "Service": _validate_service,
    "ConfigMap": _validate_config_map,
    "Secret": _validate_secret,
    "Node": _validate_node,
    "Lease": _validate_lease,
    "PriorityClass": _validate_priority_class,
    "Event": _validate_event,
    "Role": lambda o, _old: _validate_rules(o, namespaced=True),
    "ClusterRole": lambda o, _old: _validate_rules(o, namespaced=False),
    "RoleBinding": lambda o, old: _validate_binding(o, old, cluster=False),
    "ClusterRoleBinding": lambda o, old: _validate_binding(o, old, cluster=True),
    "Namespace": _validate_namespace,
}


def validate_builtin(kind: str, obj: Obj, old: Obj | None) -> list[Cause]:
    """Causes that make ``obj`` (a defaulted built-in object) invalid; [] when it is fine."""
    if not isinstance(obj, dict):
        return [invalid("", obj, "must be an object")]
    causes = validate_object_meta(kind, obj)
    check = _VALIDATORS.get(kind)
    if check is not None:
        causes.extend(check(obj, old))
    if (strategy := kinds.strategy_for(kind)) is not None:
        causes.extend(strategy.validate(obj, old))
    return causes
