"""Defaulting and validation of built-in kinds, with Kubernetes' own error messages.

The name checks (DNS-1123, qualified names, label values) return lists of messages, empty when
valid, exactly like ``k8s.io/apimachinery/pkg/util/validation``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from hyperpod.apiserver import kinds
from hyperpod.apiserver.errors import cause
from hyperpod.apiserver.quantity import parse_quantity

DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + r"(\." + DNS1123_LABEL_FMT + ")*"
DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
LABEL_VALUE_FMT = "(" + QUALIFIED_NAME_FMT + ")?"

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
DNS1035_LABEL_MAX = 63
QUALIFIED_NAME_MAX = 63
LABEL_VALUE_MAX = 63

_DNS1123_LABEL = re.compile("^" + DNS1123_LABEL_FMT + "$")
_DNS1123_SUBDOMAIN = re.compile("^" + DNS1123_SUBDOMAIN_FMT + "$")
_DNS1035_LABEL = re.compile("^" + DNS1035_LABEL_FMT + "$")
_QUALIFIED_NAME = re.compile("^" + QUALIFIED_NAME_FMT + "$")
_LABEL_VALUE = re.compile("^" + LABEL_VALUE_FMT + "$")


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    text = msg
    if examples:
        text += " (e.g. " + ",  or ".join(f"'{e}'" for e in examples) + ", "
    else:
        text += " ("
    return text + f"regex used for validation is '{fmt}')"


def max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def is_dns1123_label(value: str) -> list[str]:
    """Messages for ``value`` as an RFC 1123 label (``my-name``); empty when valid."""
    errs: list[str] = []
    if len(value) > DNS1123_LABEL_MAX:
        errs.append(max_len_error(DNS1123_LABEL_MAX))
    if not _DNS1123_LABEL.fullmatch(value):
        errs.append(
            _regex_error(
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
                "or '-', and must start and end with an alphanumeric character",
                DNS1123_LABEL_FMT,
                "my-name",
                "123-abc",
            )
        )
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    """Messages for ``value`` as an RFC 1123 subdomain (``example.com``); empty when valid."""
    errs: list[str] = []
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX))
    if not _DNS1123_SUBDOMAIN.fullmatch(value):
        errs.append(
            _regex_error(
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                "characters, '-' or '.', and must start and end with an alphanumeric character",
                DNS1123_SUBDOMAIN_FMT,
                "example.com",
            )
        )
    return errs


def is_dns1035_label(value: str) -> list[str]:
    """Messages for ``value`` as an RFC 1035 label (``my-name``, starts with a letter)."""
    errs: list[str] = []
    if len(value) > DNS1035_LABEL_MAX:
        errs.append(max_len_error(DNS1035_LABEL_MAX))
    if not _DNS1035_LABEL.fullmatch(value):
        errs.append(
            _regex_error(
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
                "start with an alphabetic character, and end with an alphanumeric character",
                DNS1035_LABEL_FMT,
                "my-name",
                "abc-123",
            )
        )
    return errs


def is_qualified_name(value: str) -> list[str]:
    """Messages for a label/annotation key (``[prefix/]name``); empty when valid."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in is_dns1123_subdomain(prefix))
    else:
        return [
            _regex_error(
                "a qualified name must consist of alphanumeric characters, '-', '_' or '.', "
                "and must start and end with an alphanumeric character",
                QUALIFIED_NAME_FMT,
                "MyName",
                "my.name",
                "123-abc",
            ).removesuffix(")")
            + ") with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > QUALIFIED_NAME_MAX:
        errs.append("name part " + max_len_error(QUALIFIED_NAME_MAX))
    if name and not _QUALIFIED_NAME.fullmatch(name):
        errs.append(
            "name part "
            + _regex_error(
                "must consist of alphanumeric characters, '-', '_' or '.', and must start and "
                "end with an alphanumeric character",
                QUALIFIED_NAME_FMT,
                "MyName",
                "my.name",
                "123-abc",
            )
        )
    return errs


def is_valid_label_value(value: str) -> list[str]:
    """Messages for a label value (empty string allowed); empty when valid."""
    errs: list[str] = []
    if len(value) > LABEL_VALUE_MAX:
        errs.append(max_len_error(LABEL_VALUE_MAX))
    if not _LABEL_VALUE.fullmatch(value):
        errs.append(
            _regex_error(
                "a valid label must be an empty string or consist of alphanumeric characters, "
                "'-', '_' or '.', and must start and end with an alphanumeric character",
                LABEL_VALUE_FMT,
                "MyValue",
                "my_value",
                "12345",
            )
        )
    return errs


# --- helpers --------------------------------------------------------------------------------

Cause = dict[str, str]
Obj = dict[str, Any]


def _q(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, dict | list) else f'"{type(value).__name__}"'


def _invalid(field: str, value: Any, detail: str) -> Cause:
    return cause(field, f"Invalid value: {_q(value)}: {detail}")


def _required(field: str, detail: str = "") -> Cause:
    return cause(field, "Required value" + (f": {detail}" if detail else ""), "FieldValueRequired")


def _unsupported(field: str, value: Any, supported: list[str]) -> Cause:
    return cause(
        field,
        f"Unsupported value: {_q(value)}: supported values: "
        + ", ".join(f'"{s}"' for s in sorted(supported)),
        "FieldValueNotSupported",
    )


def _forbidden(field: str, detail: str) -> Cause:
    return cause(field, f"Forbidden: {detail}", "FieldValueForbidden")


def _duplicate(field: str, value: Any) -> Cause:
    return cause(field, f"Duplicate value: {_q(value)}", "FieldValueDuplicate")


def _not_found(field: str, value: Any) -> Cause:
    return cause(field, f"Not found: {_q(value)}", "FieldValueNotFound")


def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


ENV_VAR_NAME_FMT = "[-._a-zA-Z][-._a-zA-Z0-9]*"
CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"
IANA_SVC_NAME_FMT = "[-a-z0-9]*[a-z]([-a-z0-9]*[a-z0-9])?"
TOTAL_ANNOTATION_SIZE = 256 * 1024
CONFIG_MAP_MAX = 1024 * 1024
HIGHEST_USER_PRIORITY = 1_000_000_000
SYSTEM_PRIORITY_PREFIX = "system-"


def is_env_var_name(value: str) -> list[str]:
    if re.fullmatch(ENV_VAR_NAME_FMT, value):
        return []
    return [
        _regex_error(
            "a valid environment variable name must consist of alphabetic characters, digits, "
            "'_', '-', or '.', and must not start with a digit",
            ENV_VAR_NAME_FMT,
            "my.env-name",
            "MY_ENV.NAME",
            "MyEnvName1",
        )
    ]


def is_config_map_key(value: str) -> list[str]:
    errs: list[str] = []
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX))
    if not re.fullmatch(CONFIG_KEY_FMT, value):
        errs.append(
            _regex_error(
                "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                CONFIG_KEY_FMT,
                "key.name",
                "KEY_NAME",
                "key-name",
            )
        )
    elif value in (".", ".."):
        errs.append(f"must not be '{value}'")
    elif value.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def is_port_name(value: str) -> list[str]:
    """An IANA service name, as Kubernetes requires for named ports."""
    errs: list[str] = []
    if len(value) > 15:
        errs.append(max_len_error(15))
    if not re.fullmatch(IANA_SVC_NAME_FMT, value):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if "--" in value:
        errs.append("must not contain consecutive hyphens")
    if not re.search("[a-z]", value):
        errs.append("must contain at least one letter (a-z)")
    return errs


# --- defaulting ------------------------------------------------------------------------------

_COMPUTE = ("cpu", "memory")


def _default_container(c: Obj) -> None:
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    if "imagePullPolicy" not in c:
        image = str(c.get("image") or "")
        tail = image.rsplit("/", 1)[-1]
        tagged = ":" in tail and not tail.endswith(":latest")
        c["imagePullPolicy"] = "IfNotPresent" if tagged or "@" in image else "Always"
    resources = c.setdefault("resources", {})
    if isinstance(resources, dict):
        limits = resources.get("limits")
        if isinstance(limits, dict) and limits:
            requests = resources.setdefault("requests", {})
            if isinstance(requests, dict):
                for name, value in limits.items():
                    requests.setdefault(name, value)
    for port in _list(c.get("ports")):
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for env in _list(c.get("env")):
        field_ref = _dict(_dict(env).get("valueFrom")).get("fieldRef")
        if isinstance(field_ref, dict):
            field_ref.setdefault("apiVersion", "v1")


def qos_class(pod: Obj) -> str:
    """Guaranteed, Burstable or BestEffort, computed like the kubelet does."""
    spec = _dict(pod.get("spec"))
    containers = [
        _dict(c) for c in _list(spec.get("containers")) + _list(spec.get("initContainers"))
    ]
    any_set = False
    guaranteed = bool(containers)
    for c in containers:
        res = _dict(c.get("resources"))
        requests, limits = _dict(res.get("requests")), _dict(res.get("limits"))
        for name in _COMPUTE:
            req, lim = requests.get(name), limits.get(name)
            if req is not None or lim is not None:
                any_set = True
            if lim is None:
                guaranteed = False
                continue
            if req is not None:
                try:
                    if parse_quantity(req) != parse_quantity(lim):
                        guaranteed = False
                except ValueError:
                    guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _default_pod_spec(spec: Obj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    if "serviceAccountName" not in spec and "serviceAccount" in spec:
        spec["serviceAccountName"] = spec["serviceAccount"]
    spec.setdefault("serviceAccountName", "default")
    if not spec.get("priorityClassName"):
        spec.setdefault("priority", 0)
    for key in ("containers", "initContainers"):
        for c in _list(spec.get(key)):
            if isinstance(c, dict):
                _default_container(c)
    for v in _list(spec.get("volumes")):
        v = _dict(v)
        for source in ("configMap", "secret"):
            if isinstance(v.get(source), dict):
                v[source].setdefault("defaultMode", 420)
    for t in _list(spec.get("tolerations")):
        if isinstance(t, dict) and "operator" not in t and t.get("key"):
            t["operator"] = "Equal"


def default_builtin(kind: str, obj: Obj) -> None:
    """Kubernetes' defaults for built-in kinds (in place; only absent fields are set)."""
    if (strategy := kinds.strategy_for(kind)) is not None:
        strategy.default(obj)
    if kind == "Pod":
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict):
            _default_pod_spec(spec)
        status = obj.setdefault("status", {})
        if isinstance(status, dict):
            status.setdefault("phase", "Pending")
            status.setdefault("qosClass", qos_class(obj))
    elif kind == "Service":
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict):
            spec.setdefault("type", "ClusterIP")
            spec.setdefault("sessionAffinity", "None")
            if spec["type"] != "ExternalName":
                spec.setdefault("internalTrafficPolicy", "Cluster")
            for port in _list(spec.get("ports")):
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
        for s in _list(obj.get("subjects")):
            if isinstance(s, dict) and s.get("kind") in ("User", "Group"):
                s.setdefault("apiGroup", "rbac.authorization.k8s.io")
    elif kind == "Node":
        obj.setdefault("spec", {})


# --- validation ----------------------------------------------------------------------------

_LABEL_NAMED = {"Namespace"}
_DNS1035_NAMED = {"Service"}
_RBAC = {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}


def validate_object_meta(kind: str, obj: Obj) -> list[Cause]:
    """Name, labels, annotations, finalizers and owner references."""
    causes: list[Cause] = []
    md = obj.get("metadata")
    if not isinstance(md, dict):
        return [_required("metadata")]
    name = md.get("name")
    if not name:
        if not md.get("generateName"):
            causes.append(_required("metadata.name", "name or generateName is required"))
    elif not isinstance(name, str):
        causes.append(_invalid("metadata.name", name, "must be a string"))
    else:
        if kind in _LABEL_NAMED:
            msgs = is_dns1123_label(name)
        elif kind in _DNS1035_NAMED:
            msgs = is_dns1035_label(name)
        elif kind in _RBAC:
            msgs = [m for m in ("/", "%") if m in name]
            msgs = [f"may not contain '{m}'" for m in msgs]
        else:
            msgs = is_dns1123_subdomain(name)
        causes.extend(_invalid("metadata.name", name, m) for m in msgs)
    labels = md.get("labels")
    if labels is not None:
        if not isinstance(labels, dict):
            causes.append(_invalid("metadata.labels", labels, "must be a map of string to string"))
        else:
            for k, v in labels.items():
                causes.extend(_invalid("metadata.labels", k, m) for m in is_qualified_name(str(k)))
                if not isinstance(v, str):
                    causes.append(_invalid(f"metadata.labels[{k}]", v, "must be a string"))
                else:
                    causes.extend(
                        _invalid("metadata.labels", v, m) for m in is_valid_label_value(v)
                    )
    annotations = md.get("annotations")
    if annotations is not None:
        if not isinstance(annotations, dict):
            causes.append(
                _invalid("metadata.annotations", annotations, "must be a map of string to string")
            )
        else:
            total = 0
            for k, v in annotations.items():
                causes.extend(
                    _invalid("metadata.annotations", k, m)
                    for m in is_qualified_name(str(k).lower())
                )
                if not isinstance(v, str):
                    causes.append(_invalid(f"metadata.annotations[{k}]", v, "must be a string"))
                    continue
                total += len(str(k)) + len(v)
            if total > TOTAL_ANNOTATION_SIZE:
                causes.append(
                    cause(
                        "metadata.annotations",
                        f"Too long: must have at most {TOTAL_ANNOTATION_SIZE} bytes",
                        "FieldValueTooLong",
                    )
                )
    for i, fin in enumerate(_list(md.get("finalizers"))):
        if not isinstance(fin, str):
            causes.append(_invalid(f"metadata.finalizers[{i}]", fin, "must be a string"))
        else:
            causes.extend(
                _invalid(f"metadata.finalizers[{i}]", fin, m) for m in is_qualified_name(fin)
            )
    for i, ref in enumerate(_list(md.get("ownerReferences"))):
        ref = _dict(ref)
        for key in ("apiVersion", "kind", "name", "uid"):
            if not ref.get(key):
                causes.append(_required(f"metadata.ownerReferences[{i}].{key}"))
    controllers = [r for r in _list(md.get("ownerReferences")) if _dict(r).get("controller")]
    if len(controllers) > 1:
        causes.append(
            _invalid(
                "metadata.ownerReferences",
                [],
                "Only one reference can have Controller set to true",
            )
        )
    return causes


def _validate_port(field: str, port: Any, lo: int = 1) -> list[Cause]:
    if port is None:
        return [_required(field)]
    if isinstance(port, bool) or not isinstance(port, int) or not lo <= port <= 65535:
        return [_invalid(field, port, f"must be between {lo} and 65535, inclusive")]
    return []


_PROTOCOLS = ["TCP", "UDP", "SCTP"]


def _validate_resources(field: str, res: Any) -> list[Cause]:
    causes: list[Cause] = []
    res = _dict(res)
    parsed: dict[str, dict[str, Decimal]] = {"requests": {}, "limits": {}}
    for part in ("requests", "limits"):
        values = res.get(part)
        if values is None:
            continue
        if not isinstance(values, dict):
            causes.append(
                _invalid(f"{field}.{part}", values, "must be a map of resource quantities")
            )
            continue
        for name, value in values.items():
            where = f"{field}.{part}[{name}]"
            if "/" not in name or name.startswith("kubernetes.io/"):
                if name not in (
                    "cpu",
                    "memory",
                    "ephemeral-storage",
                    "pods",
                ) and not name.startswith(("hugepages-", "requests.", "limits.")):
                    causes.append(
                        _invalid(where, name, "must be a standard resource type or fully qualified")
                    )
                    continue
            else:
                causes.extend(_invalid(where, name, m) for m in is_qualified_name(name))
            try:
                q = parse_quantity(value)
            except ValueError as exc:
                causes.append(_invalid(where, value, str(exc)))
                continue
            if q < 0:
                causes.append(_invalid(where, value, "must be greater than or equal to 0"))
                continue
            if "/" in name and not name.startswith("kubernetes.io/") and q != q.to_integral_value():
                causes.append(_invalid(where, value, "must be an integer"))
                continue
            parsed[part][name] = q
    for name, req in parsed["requests"].items():
        lim = parsed["limits"].get(name)
        if lim is not None and req > lim:
            causes.append(
                _invalid(
                    f"{field}.requests",
                    str(res["requests"][name]),
                    f"must be less than or equal to {name} limit of {res['limits'][name]}",
                )
            )
    for name in parsed["requests"]:
        if "/" in name and not name.startswith("kubernetes.io/"):
            lim = parsed["limits"].get(name)
            if lim is None or lim != parsed["requests"][name]:
                causes.append(
                    _invalid(
                        f"{field}.requests[{name}]",
                        str(res["requests"][name]),
                        f"must be equal to {name} limit of {res.get('limits', {}).get(name, 0)}",
                    )
                )
    return causes


def _validate_container(
    field: str, c: Any, volumes: set[str], names: set[str], regular: bool
) -> list[Cause]:
    causes: list[Cause] = []
    if not isinstance(c, dict):
        return [_invalid(field, c, "must be an object")]
    name = c.get("name")
    if not name:
        causes.append(_required(f"{field}.name"))
    elif not isinstance(name, str):
        causes.append(_invalid(f"{field}.name", name, "must be a string"))
    else:
        causes.extend(_invalid(f"{field}.name", name, m) for m in is_dns1123_label(name))
        if name in names:
            causes.append(_duplicate(f"{field}.name", name))
        names.add(name)
    if not c.get("image"):
        causes.append(_required(f"{field}.image"))
    port_names: set[str] = set()
    for i, port in enumerate(_list(c.get("ports"))):
        where = f"{field}.ports[{i}]"
        port = _dict(port)
        causes.extend(_validate_port(f"{where}.containerPort", port.get("containerPort")))
        if port.get("hostPort") is not None:
            causes.extend(_validate_port(f"{where}.hostPort", port.get("hostPort"), lo=0))
        protocol = port.get("protocol", "TCP")
        if protocol not in _PROTOCOLS:
            causes.append(_unsupported(f"{where}.protocol", protocol, _PROTOCOLS))
        pname = port.get("name")
        if pname:
            causes.extend(_invalid(f"{where}.name", pname, m) for m in is_port_name(str(pname)))
            if pname in port_names:
                causes.append(_duplicate(f"{where}.name", pname))
            port_names.add(str(pname))
    for i, env in enumerate(_list(c.get("env"))):
        env = _dict(env)
        ename = env.get("name")
        if not ename:
            causes.append(_required(f"{field}.env[{i}].name"))
        else:
            causes.extend(
                _invalid(f"{field}.env[{i}].name", ename, m) for m in is_env_var_name(str(ename))
            )
        if "value" in env and "valueFrom" in env and env.get("value"):
            causes.append(
                _invalid(
                    f"{field}.env[{i}].valueFrom",
                    "",
                    "may not be specified when `value` is not empty",
                )
            )
    causes.extend(_validate_resources(f"{field}.resources", c.get("resources")))
    mount_paths: set[str] = set()
    for i, mount in enumerate(_list(c.get("volumeMounts"))):
        where = f"{field}.volumeMounts[{i}]"
        mount = _dict(mount)
        vname = mount.get("name")
        if not vname:
            causes.append(_required(f"{where}.name"))
        elif vname not in volumes:
            causes.append(_not_found(f"{where}.name", vname))
        path = mount.get("mountPath")
        if not path:
            causes.append(_required(f"{where}.mountPath"))
        elif path in mount_paths:
            causes.append(_invalid(f"{where}.mountPath", path, "must be unique"))
        else:
            mount_paths.add(str(path))
    if not regular:
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            if c.get(probe) is not None and c.get("restartPolicy") != "Always":
                causes.append(_forbidden(f"{field}.{probe}", "may not be set for init containers"))
    return causes


_RESTART_POLICIES = ["Always", "OnFailure", "Never"]
_DNS_POLICIES = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
_TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"]
_TOLERATION_OPERATORS = ["Exists", "Equal"]


def validate_pod_spec(spec: Any, field: str = "spec") -> list[Cause]:
    """Validation of a PodSpec (also used for pod templates)."""
    if not isinstance(spec, dict):
        return [_required(field)]
    causes: list[Cause] = []
    volumes: set[str] = set()
    for i, vol in enumerate(_list(spec.get("volumes"))):
        where = f"{field}.volumes[{i}]"
        vol = _dict(vol)
        vname = vol.get("name")
        if not vname:
            causes.append(_required(f"{where}.name"))
        else:
            causes.extend(_invalid(f"{where}.name", vname, m) for m in is_dns1123_label(str(vname)))
            if vname in volumes:
                causes.append(_duplicate(f"{where}.name", vname))
            volumes.add(str(vname))
        sources = [k for k in vol if k != "name"]
        if not sources:
            causes.append(_required(where, "must specify a volume type"))
        elif len(sources) > 1:
            causes.append(
                _forbidden(f"{where}.{sources[1]}", "may not specify more than 1 volume type")
            )
    containers = _list(spec.get("containers"))
    if not containers:
        causes.append(_required(f"{field}.containers"))
    names: set[str] = set()
    for i, c in enumerate(_list(spec.get("initContainers"))):
        causes.extend(
            _validate_container(f"{field}.initContainers[{i}]", c, volumes, names, regular=False)
        )
    for i, c in enumerate(containers):
        causes.extend(
            _validate_container(f"{field}.containers[{i}]", c, volumes, names, regular=True)
        )
    policy = spec.get("restartPolicy")
    if policy is not None and policy not in _RESTART_POLICIES:
        causes.append(_unsupported(f"{field}.restartPolicy", policy, _RESTART_POLICIES))
    dns = spec.get("dnsPolicy")
    if dns is not None and dns not in _DNS_POLICIES:
        causes.append(_unsupported(f"{field}.dnsPolicy", dns, _DNS_POLICIES))
    ads = spec.get("activeDeadlineSeconds")
    if ads is not None and (not isinstance(ads, int) or isinstance(ads, bool) or ads <= 0):
        causes.append(
            _invalid(
                f"{field}.activeDeadlineSeconds", ads, "must be between 1 and 2147483647, inclusive"
            )
        )
    grace = spec.get("terminationGracePeriodSeconds")
    if grace is not None and (not isinstance(grace, int) or isinstance(grace, bool) or grace < 0):
        causes.append(
            _invalid(
                f"{field}.terminationGracePeriodSeconds",
                grace,
                "must be greater than or equal to 0",
            )
        )
    for i, tol in enumerate(_list(spec.get("tolerations"))):
        where = f"{field}.tolerations[{i}]"
        tol = _dict(tol)
        op = tol.get("operator", "Equal")
        if op not in _TOLERATION_OPERATORS:
            causes.append(_unsupported(f"{where}.operator", op, _TOLERATION_OPERATORS))
        if tol.get("key"):
            causes.extend(
                _invalid(f"{where}.key", tol["key"], m) for m in is_qualified_name(str(tol["key"]))
            )
        elif op != "Exists":
            causes.append(
                _invalid(
                    f"{where}.operator",
                    op,
                    'operator must be Exists when `key` is empty, which means "match all values and all keys"',
                )
            )
        if op == "Exists" and tol.get("value"):
            causes.append(
                _invalid(
                    f"{where}.operator",
                    tol["value"],
                    "value must be empty when `operator` is 'Exists'",
                )
            )
        effect = tol.get("effect")
        if effect and effect not in _TAINT_EFFECTS:
            causes.append(_unsupported(f"{where}.effect", effect, _TAINT_EFFECTS))
    node_selector = spec.get("nodeSelector")
    if node_selector is not None and not isinstance(node_selector, dict):
        causes.append(
            _invalid(f"{field}.nodeSelector", node_selector, "must be a map of string to string")
        )
    for k, v in _dict(node_selector).items():
        causes.extend(_invalid(f"{field}.nodeSelector", k, m) for m in is_qualified_name(str(k)))
        causes.extend(_invalid(f"{field}.nodeSelector", v, m) for m in is_valid_label_value(str(v)))
    return causes


POD_UPDATE_MESSAGE = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
    "(allow it to be set to 1 if it was previously negative)"
)


def _validate_pod_update(new: Obj, old: Obj) -> list[Cause]:
    new_spec, old_spec = _dict(new.get("spec")), _dict(old.get("spec"))
    causes: list[Cause] = []
    mutable = copy.deepcopy(new_spec)
    for key in ("containers", "initContainers"):
        old_list = _list(old_spec.get(key))
        new_list = _list(mutable.get(key))
        if len(old_list) == len(new_list):
            for oc, nc in zip(old_list, new_list, strict=True):
                if isinstance(oc, dict) and isinstance(nc, dict) and "image" in oc:
                    nc["image"] = oc["image"]
    old_ads, new_ads = old_spec.get("activeDeadlineSeconds"), new_spec.get("activeDeadlineSeconds")
    if new_ads is not None and (
        old_ads is None or (isinstance(new_ads, int) and new_ads <= old_ads)
    ):
        if "activeDeadlineSeconds" in old_spec:
            mutable["activeDeadlineSeconds"] = old_ads
        else:
            mutable.pop("activeDeadlineSeconds", None)
    elif new_ads is None and old_ads is not None:
        causes.append(
            _invalid(
                "spec.activeDeadlineSeconds",
                None,
                "must not update from a positive integer to nil value",
            )
        )
        mutable["activeDeadlineSeconds"] = old_ads
    old_tol = _list(old_spec.get("tolerations"))
    new_tol = _list(new_spec.get("tolerations"))
    if all(t in new_tol for t in old_tol):
        if "tolerations" in old_spec:
            mutable["tolerations"] = old_spec["tolerations"]
        else:
            mutable.pop("tolerations", None)
    # Binding sets nodeName once; scheduling gates may only be removed.
    if not old_spec.get("nodeName") and new_spec.get("nodeName"):
        mutable.pop("nodeName", None)
        if "nodeName" in old_spec:
            mutable["nodeName"] = old_spec["nodeName"]
    old_gates = _list(old_spec.get("schedulingGates"))
    if all(g in old_gates for g in _list(new_spec.get("schedulingGates"))):
        if "schedulingGates" in old_spec:
            mutable["schedulingGates"] = old_spec["schedulingGates"]
        else:
            mutable.pop("schedulingGates", None)
    if mutable != old_spec:
        causes.append(_forbidden("spec", POD_UPDATE_MESSAGE))
    return causes


def _validate_pod(obj: Obj, old: Obj | None) -> list[Cause]:
    causes = validate_pod_spec(obj.get("spec"))
    if old is not None:
        causes.extend(_validate_pod_update(obj, old))
    return causes


_SERVICE_TYPES = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"]


def _validate_service(obj: Obj, old: Obj | None) -> list[Cause]:
    causes: list[Cause] = []
    spec = _dict(obj.get("spec"))
    stype = spec.get("type", "ClusterIP")
    if stype not in _SERVICE_TYPES:
        causes.append(_unsupported("spec.type", stype, _SERVICE_TYPES))
    ports = _list(spec.get("ports"))
    headless = spec.get("clusterIP") == "None"
    if not ports and stype != "ExternalName" and not headless:
        causes.append(_required("spec.ports"))
    if stype == "ExternalName" and not spec.get("externalName"):
        causes.append(_required("spec.externalName"))
    seen_names: set[str] = set()
    seen_ports: set[tuple[Any, Any]] = set()
    for i, port in enumerate(ports):
        where = f"spec.ports[{i}]"
        port = _dict(port)
        pname = port.get("name")
        if len(ports) > 1 and not pname:
            causes.append(_required(f"{where}.name"))
        elif pname:
            causes.extend(_invalid(f"{where}.name", pname, m) for m in is_dns1123_label(str(pname)))
            if pname in seen_names:
                causes.append(_duplicate(f"{where}.name", pname))
            seen_names.add(str(pname))
        causes.extend(_validate_port(f"{where}.port", port.get("port")))
        protocol = port.get("protocol", "TCP")
        if protocol not in _PROTOCOLS:
            causes.append(_unsupported(f"{where}.protocol", protocol, _PROTOCOLS))
        ident = (port.get("port"), protocol)
        if ident in seen_ports:
            causes.append(_duplicate(where, {"port": port.get("port"), "protocol": protocol}))
        seen_ports.add(ident)
        target = port.get("targetPort")
        if isinstance(target, str):
            causes.extend(_invalid(f"{where}.targetPort", target, m) for m in is_port_name(target))
        elif target is not None:
            causes.extend(_validate_port(f"{where}.targetPort", target))
        if port.get("nodePort") is not None and stype not in ("NodePort", "LoadBalancer"):
            causes.append(
                _forbidden(f"{where}.nodePort", "may not be used when `type` is 'ClusterIP'")
            )
    for k, v in _dict(spec.get("selector")).items():
        causes.extend(_invalid("spec.selector", k, m) for m in is_qualified_name(str(k)))
        causes.extend(_invalid("spec.selector", v, m) for m in is_valid_label_value(str(v)))
    if old is not None:
        old_ip = _dict(old.get("spec")).get("clusterIP")
        new_ip = spec.get("clusterIP")
        if old_ip and new_ip and old_ip != new_ip and stype != "ExternalName":
            causes.append(_invalid("spec.clusterIP", new_ip, "field is immutable"))
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
            causes.append(_invalid(f, data, "must be a map"))
            continue
        for k, v in data.items():
            causes.extend(_invalid(f"{f}[{k}]", k, m) for m in is_config_map_key(str(k)))
            if k in seen:
                causes.append(_invalid(f"{f}[{k}]", k, "duplicate of key present in another field"))
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
            causes.append(_forbidden(f, "field is immutable when `immutable` is set"))
    if not obj.get("immutable"):
        causes.append(_forbidden("immutable", "field is immutable when `immutable` is set"))
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
    for k, v in _dict(obj.get("data")).items():
        try:
            base64.b64decode(str(v), validate=True)
        except (binascii.Error, ValueError):
            causes.append(
                _invalid(f"data[{k}]", "<secret contents redacted>", "must be base64-encoded")
            )
    stype = obj.get("type", "Opaque")
    if old is not None and old.get("type", "Opaque") != stype:
        causes.append(_invalid("type", stype, "field is immutable"))
    sa_name = _dict(_dict(obj.get("metadata")).get("annotations")).get(
        "kubernetes.io/service-account.name"
    )
    if stype == "kubernetes.io/service-account-token" and not sa_name:
        causes.append(_required("metadata.annotations[kubernetes.io/service-account.name]"))
    return causes + _validate_immutable_data(obj, old, fields)


def _validate_node(obj: Obj, old: Obj | None) -> list[Cause]:
    causes: list[Cause] = []
    spec = _dict(obj.get("spec"))
    for i, taint in enumerate(_list(spec.get("taints"))):
        taint = _dict(taint)
        where = f"spec.taints[{i}]"
        if not taint.get("key"):
            causes.append(_required(f"{where}.key"))
        else:
            causes.extend(
                _invalid(f"{where}.key", taint["key"], m)
                for m in is_qualified_name(str(taint["key"]))
            )
        effect = taint.get("effect")
        if not effect:
            causes.append(_required(f"{where}.effect"))
        elif effect not in _TAINT_EFFECTS:
            causes.append(_unsupported(f"{where}.effect", effect, _TAINT_EFFECTS))
    status = _dict(obj.get("status"))
    for part in ("capacity", "allocatable"):
        for name, value in _dict(status.get(part)).items():
            try:
                if parse_quantity(value) < 0:
                    causes.append(
                        _invalid(
                            f"status.{part}[{name}]", value, "must be greater than or equal to 0"
                        )
                    )
            except ValueError as exc:
                causes.append(_invalid(f"status.{part}[{name}]", value, str(exc)))
    return causes


def _validate_lease(obj: Obj, old: Obj | None) -> list[Cause]:
    causes: list[Cause] = []
    spec = _dict(obj.get("spec"))
    duration = spec.get("leaseDurationSeconds")
    if duration is not None and (not isinstance(duration, int) or duration <= 0):
        causes.append(_invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    transitions = spec.get("leaseTransitions")
    if transitions is not None and (not isinstance(transitions, int) or transitions < 0):
        causes.append(
            _invalid("spec.leaseTransitions", transitions, "must be greater than or equal to 0")
        )
    return causes


_PREEMPTION = ["PreemptLowerPriority", "Never"]


def _validate_priority_class(obj: Obj, old: Obj | None) -> list[Cause]:
    causes: list[Cause] = []
    name = str(_dict(obj.get("metadata")).get("name") or "")
    value = obj.get("value")
    if value is None:
        causes.append(_required("value"))
    elif not isinstance(value, int) or isinstance(value, bool):
        causes.append(_invalid("value", value, "must be an integer"))
    elif not name.startswith(SYSTEM_PRIORITY_PREFIX) and value > HIGHEST_USER_PRIORITY:
        causes.append(
            _forbidden(
                "value",
                f"maximum allowed value of a user defined priority is {HIGHEST_USER_PRIORITY}",
            )
        )
    policy = obj.get("preemptionPolicy")
    if policy is not None and policy not in _PREEMPTION:
        causes.append(_unsupported("preemptionPolicy", policy, _PREEMPTION))
    if old is not None:
        if old.get("value") != value:
            causes.append(_forbidden("value", "may not be changed in an update."))
        if old.get("preemptionPolicy") != policy:
            causes.append(_invalid("preemptionPolicy", policy, "field is immutable"))
    return causes


_EVENT_TYPES = ["Normal", "Warning"]


def _validate_event(obj: Obj, old: Obj | None) -> list[Cause]:
    causes: list[Cause] = []
    involved = obj.get("involvedObject")
    if not isinstance(involved, dict) or not involved:
        causes.append(_required("involvedObject"))
        involved = {}
    event_ns = _dict(obj.get("metadata")).get("namespace")
    inv_ns = involved.get("namespace")
    if inv_ns and event_ns and inv_ns != event_ns:
        causes.append(
            _invalid("involvedObject.namespace", inv_ns, "does not match event.namespace")
        )
    etype = obj.get("type")
    if etype and etype not in _EVENT_TYPES:
        causes.append(_unsupported("type", etype, _EVENT_TYPES))
    return causes


def _validate_rules(obj: Obj, namespaced: bool) -> list[Cause]:
    causes: list[Cause] = []
    for i, rule in enumerate(_list(obj.get("rules"))):
        rule = _dict(rule)
        where = f"rules[{i}]"
        if not _list(rule.get("verbs")):
            causes.append(_required(f"{where}.verbs", "verbs must contain at least one value"))
        urls = _list(rule.get("nonResourceURLs"))
        if urls:
            if namespaced:
                causes.append(
                    _invalid(
                        f"{where}.nonResourceURLs",
                        urls,
                        "namespaced rules cannot apply to non-resource URLs",
                    )
                )
            if _list(rule.get("apiGroups")) or _list(rule.get("resources")):
                causes.append(
                    _invalid(
                        f"{where}.nonResourceURLs",
                        urls,
                        "rules cannot apply to both regular resources and non-resource URLs",
                    )
                )
        else:
            if not _list(rule.get("apiGroups")):
                causes.append(
                    _required(
                        f"{where}.apiGroups", "resource rules must supply at least one api group"
                    )
                )
            if not _list(rule.get("resources")):
                causes.append(
                    _required(
                        f"{where}.resources", "resource rules must supply at least one resource"
                    )
                )
    return causes


_SUBJECT_KINDS = ["ServiceAccount", "User", "Group"]


def _validate_binding(obj: Obj, old: Obj | None, cluster: bool) -> list[Cause]:
    causes: list[Cause] = []
    ref = obj.get("roleRef")
    if not isinstance(ref, dict):
        causes.append(_required("roleRef"))
        ref = {}
    else:
        allowed = ["ClusterRole"] if cluster else ["Role", "ClusterRole"]
        if ref.get("kind") not in allowed:
            causes.append(_unsupported("roleRef.kind", ref.get("kind", ""), allowed))
        if ref.get("apiGroup", "rbac.authorization.k8s.io") != "rbac.authorization.k8s.io":
            causes.append(
                _unsupported("roleRef.apiGroup", ref.get("apiGroup"), ["rbac.authorization.k8s.io"])
            )
        if not ref.get("name"):
            causes.append(_required("roleRef.name"))
    for i, subject in enumerate(_list(obj.get("subjects"))):
        subject = _dict(subject)
        where = f"subjects[{i}]"
        kind = subject.get("kind")
        if kind not in _SUBJECT_KINDS:
            causes.append(_unsupported(f"{where}.kind", kind or "", _SUBJECT_KINDS))
        if not subject.get("name"):
            causes.append(_required(f"{where}.name"))
        if kind == "ServiceAccount" and cluster and not subject.get("namespace"):
            causes.append(_required(f"{where}.namespace"))
    if old is not None and old.get("roleRef") != obj.get("roleRef"):
        causes.append(_invalid("roleRef", ref, "cannot change roleRef"))
    return causes


def _validate_namespace(obj: Obj, old: Obj | None) -> list[Cause]:
    causes: list[Cause] = []
    for i, fin in enumerate(_list(_dict(obj.get("spec")).get("finalizers"))):
        causes.extend(
            _invalid(f"spec.finalizers[{i}]", fin, m) for m in is_qualified_name(str(fin))
        )
    return causes


_VALIDATORS: dict[str, Callable[[Obj, Obj | None], list[Cause]]] = {
    "Pod": _validate_pod,
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
        return [_invalid("", obj, "must be an object")]
    causes = validate_object_meta(kind, obj)
    check = _VALIDATORS.get(kind)
    if check is not None:
        causes.extend(check(obj, old))
    if (strategy := kinds.strategy_for(kind)) is not None:
        causes.extend(strategy.validate(obj, old))
    return causes
