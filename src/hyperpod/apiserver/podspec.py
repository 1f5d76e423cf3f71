"""Defaults and validation of a PodSpec (pods and pod templates), and a pod's QoS class."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from hyperpod.apiserver.fielderrors import (
    Cause,
    Obj,
    as_dict,
    as_list,
    duplicate,
    forbidden,
    invalid,
    not_found,
    required,
    unsupported,
)
from hyperpod.apiserver.names import (
    is_dns1123_label,
    is_env_var_name,
    is_port_name,
    is_qualified_name,
    is_valid_label_value,
)
from hyperpod.apiserver.quantity import parse_quantity

_COMPUTE = ("cpu", "memory")


def default_container_fields(c: Obj) -> None:
    """The defaults a container gets alike in a pod and in a pod template."""
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    if "imagePullPolicy" not in c:
        image = str(c.get("image") or "")
        tail = image.rsplit("/", 1)[-1]
        tagged = ":" in tail and not tail.endswith(":latest")
        c["imagePullPolicy"] = "IfNotPresent" if tagged or "@" in image else "Always"
    c.setdefault("resources", {})
    for port in as_list(c.get("ports")):
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")


def _default_container(c: Obj) -> None:
    """A pod's container: the shared defaults, requests from limits, fieldRef versions."""
    default_container_fields(c)
    resources = c["resources"]
    if isinstance(resources, dict):
        limits = resources.get("limits")
        if isinstance(limits, dict) and limits:
            requests = resources.setdefault("requests", {})
            if isinstance(requests, dict):
                for name, value in limits.items():
                    requests.setdefault(name, value)
    for env in as_list(c.get("env")):
        field_ref = as_dict(as_dict(env).get("valueFrom")).get("fieldRef")
        if isinstance(field_ref, dict):
            field_ref.setdefault("apiVersion", "v1")


def qos_class(pod: Obj) -> str:
    """Guaranteed, Burstable or BestEffort, computed like the kubelet does."""
    spec = as_dict(pod.get("spec"))
    containers = [
        as_dict(c) for c in as_list(spec.get("containers")) + as_list(spec.get("initContainers"))
    ]
    any_set = False
    guaranteed = bool(containers)
    for c in containers:
        res = as_dict(c.get("resources"))
        requests, limits = as_dict(res.get("requests")), as_dict(res.get("limits"))
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


def default_pod_spec(spec: Obj) -> None:
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
        for c in as_list(spec.get(key)):
            if isinstance(c, dict):
                _default_container(c)
    for v in as_list(spec.get("volumes")):
        v = as_dict(v)
        for source in ("configMap", "secret"):
            if isinstance(v.get(source), dict):
                v[source].setdefault("defaultMode", 420)
    for t in as_list(spec.get("tolerations")):
        if isinstance(t, dict) and "operator" not in t and t.get("key"):
            t["operator"] = "Equal"


def default_pod(pod: Obj) -> None:
    """A pod's spec defaults, ``status.phase`` Pending and its QoS class (in place)."""
    spec = pod.setdefault("spec", {})
    if isinstance(spec, dict):
        default_pod_spec(spec)
    status = pod.setdefault("status", {})
    if isinstance(status, dict):
        status.setdefault("phase", "Pending")
        status.setdefault("qosClass", qos_class(pod))


def validate_port(field: str, port: Any, lo: int = 1) -> list[Cause]:
    if port is None:
        return [required(field)]
    if isinstance(port, bool) or not isinstance(port, int) or not lo <= port <= 65535:
        return [invalid(field, port, f"must be between {lo} and 65535, inclusive")]
    return []


PROTOCOLS = ["TCP", "UDP", "SCTP"]


def _validate_resources(field: str, res: Any) -> list[Cause]:
    causes: list[Cause] = []
    res = as_dict(res)
    parsed: dict[str, dict[str, Decimal]] = {"requests": {}, "limits": {}}
    for part in ("requests", "limits"):
        values = res.get(part)
        if values is None:
            continue
        if not isinstance(values, dict):
            causes.append(
                invalid(f"{field}.{part}", values, "must be a map of resource quantities")
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
                        invalid(where, name, "must be a standard resource type or fully qualified")
                    )
                    continue
            else:
                causes.extend(invalid(where, name, m) for m in is_qualified_name(name))
            try:
                q = parse_quantity(value)
            except ValueError as exc:
                causes.append(invalid(where, value, str(exc)))
                continue
            if q < 0:
                causes.append(invalid(where, value, "must be greater than or equal to 0"))
                continue
            if "/" in name and not name.startswith("kubernetes.io/") and q != q.to_integral_value():
                causes.append(invalid(where, value, "must be an integer"))
                continue
            parsed[part][name] = q
    for name, req in parsed["requests"].items():
        lim = parsed["limits"].get(name)
        if lim is not None and req > lim:
            causes.append(
                invalid(
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
                    invalid(
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
        return [invalid(field, c, "must be an object")]
    name = c.get("name")
    if not name:
        causes.append(required(f"{field}.name"))
    elif not isinstance(name, str):
        causes.append(invalid(f"{field}.name", name, "must be a string"))
    else:
        causes.extend(invalid(f"{field}.name", name, m) for m in is_dns1123_label(name))
        if name in names:
            causes.append(duplicate(f"{field}.name", name))
        names.add(name)
    if not c.get("image"):
        causes.append(required(f"{field}.image"))
    port_names: set[str] = set()
    for i, port in enumerate(as_list(c.get("ports"))):
        where = f"{field}.ports[{i}]"
        port = as_dict(port)
        causes.extend(validate_port(f"{where}.containerPort", port.get("containerPort")))
        if port.get("hostPort") is not None:
            causes.extend(validate_port(f"{where}.hostPort", port.get("hostPort"), lo=0))
        protocol = port.get("protocol", "TCP")
        if protocol not in PROTOCOLS:
            causes.append(unsupported(f"{where}.protocol", protocol, PROTOCOLS))
        pname = port.get("name")
        if pname:
            causes.extend(invalid(f"{where}.name", pname, m) for m in is_port_name(str(pname)))
            if pname in port_names:
                causes.append(duplicate(f"{where}.name", pname))
            port_names.add(str(pname))
    for i, env in enumerate(as_list(c.get("env"))):
        env = as_dict(env)
        ename = env.get("name")
        if not ename:
            causes.append(required(f"{field}.env[{i}].name"))
        else:
            causes.extend(
                invalid(f"{field}.env[{i}].name", ename, m) for m in is_env_var_name(str(ename))
            )
        if "value" in env and "valueFrom" in env and env.get("value"):
            causes.append(
                invalid(
                    f"{field}.env[{i}].valueFrom",
                    "",
                    "may not be specified when `value` is not empty",
                )
            )
    causes.extend(_validate_resources(f"{field}.resources", c.get("resources")))
    mount_paths: set[str] = set()
    for i, mount in enumerate(as_list(c.get("volumeMounts"))):
        where = f"{field}.volumeMounts[{i}]"
        mount = as_dict(mount)
        vname = mount.get("name")
        if not vname:
            causes.append(required(f"{where}.name"))
        elif vname not in volumes:
            causes.append(not_found(f"{where}.name", vname))
        path = mount.get("mountPath")
        if not path:
            causes.append(required(f"{where}.mountPath"))
        elif path in mount_paths:
            causes.append(invalid(f"{where}.mountPath", path, "must be unique"))
        else:
            mount_paths.add(str(path))
    if not regular:
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            if c.get(probe) is not None and c.get("restartPolicy") != "Always":
                causes.append(forbidden(f"{field}.{probe}", "may not be set for init containers"))
    return causes


_RESTART_POLICIES = ["Always", "OnFailure", "Never"]
_DNS_POLICIES = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"]
_TOLERATION_OPERATORS = ["Exists", "Equal"]


def validate_pod_spec(spec: Any, field: str = "spec") -> list[Cause]:
    """Validation of a PodSpec (also used for pod templates)."""
    if not isinstance(spec, dict):
        return [required(field)]
    volumes: set[str] = set()
    causes = _validate_volumes(field, as_list(spec.get("volumes")), volumes)
    containers = as_list(spec.get("containers"))
    if not containers:
        causes.append(required(f"{field}.containers"))
    names: set[str] = set()
    for i, c in enumerate(as_list(spec.get("initContainers"))):
        causes.extend(
            _validate_container(f"{field}.initContainers[{i}]", c, volumes, names, regular=False)
        )
    for i, c in enumerate(containers):
        causes.extend(
            _validate_container(f"{field}.containers[{i}]", c, volumes, names, regular=True)
        )
    causes.extend(_validate_policies(field, spec))
    for i, tol in enumerate(as_list(spec.get("tolerations"))):
        causes.extend(_validate_toleration(f"{field}.tolerations[{i}]", as_dict(tol)))
    causes.extend(_validate_node_selector(f"{field}.nodeSelector", spec.get("nodeSelector")))
    return causes


def _validate_volumes(field: str, vols: list[Any], volumes: set[str]) -> list[Cause]:
    """Names unique DNS labels and exactly one source each; ``volumes`` collects the names."""
    causes: list[Cause] = []
    for i, vol in enumerate(vols):
        where = f"{field}.volumes[{i}]"
        vol = as_dict(vol)
        vname = vol.get("name")
        if not vname:
            causes.append(required(f"{where}.name"))
        else:
            causes.extend(invalid(f"{where}.name", vname, m) for m in is_dns1123_label(str(vname)))
            if vname in volumes:
                causes.append(duplicate(f"{where}.name", vname))
            volumes.add(str(vname))
        sources = [k for k in vol if k != "name"]
        if not sources:
            causes.append(required(where, "must specify a volume type"))
        elif len(sources) > 1:
            causes.append(
                forbidden(f"{where}.{sources[1]}", "may not specify more than 1 volume type")
            )
    return causes


def _validate_policies(field: str, spec: Obj) -> list[Cause]:
    """restartPolicy, dnsPolicy, activeDeadlineSeconds and terminationGracePeriodSeconds."""
    causes: list[Cause] = []
    policy = spec.get("restartPolicy")
    if policy is not None and policy not in _RESTART_POLICIES:
        causes.append(unsupported(f"{field}.restartPolicy", policy, _RESTART_POLICIES))
    dns = spec.get("dnsPolicy")
    if dns is not None and dns not in _DNS_POLICIES:
        causes.append(unsupported(f"{field}.dnsPolicy", dns, _DNS_POLICIES))
    ads = spec.get("activeDeadlineSeconds")
    if ads is not None and (not isinstance(ads, int) or isinstance(ads, bool) or ads <= 0):
        causes.append(
            invalid(
                f"{field}.activeDeadlineSeconds", ads, "must be between 1 and 2147483647, inclusive"
            )
        )
    grace = spec.get("terminationGracePeriodSeconds")
    if grace is not None and (not isinstance(grace, int) or isinstance(grace, bool) or grace < 0):
        causes.append(
            invalid(
                f"{field}.terminationGracePeriodSeconds",
                grace,
                "must be greater than or equal to 0",
            )
        )
    return causes


def _validate_toleration(where: str, tol: Obj) -> list[Cause]:
    causes: list[Cause] = []
    op = tol.get("operator", "Equal")
    if op not in _TOLERATION_OPERATORS:
        causes.append(unsupported(f"{where}.operator", op, _TOLERATION_OPERATORS))
    if tol.get("key"):
        causes.extend(
            invalid(f"{where}.key", tol["key"], m) for m in is_qualified_name(str(tol["key"]))
        )
    elif op != "Exists":
        causes.append(
            invalid(
                f"{where}.operator",
                op,
                'operator must be Exists when `key` is empty, which means "match all values and all keys"',
            )
        )
    if op == "Exists" and tol.get("value"):
        causes.append(
            invalid(
                f"{where}.operator",
                tol["value"],
                "value must be empty when `operator` is 'Exists'",
            )
        )
    effect = tol.get("effect")
    if effect and effect not in TAINT_EFFECTS:
        causes.append(unsupported(f"{where}.effect", effect, TAINT_EFFECTS))
    return causes


def _validate_node_selector(where: str, node_selector: Any) -> list[Cause]:
    causes: list[Cause] = []
    if node_selector is not None and not isinstance(node_selector, dict):
        causes.append(invalid(where, node_selector, "must be a map of string to string"))
    for k, v in as_dict(node_selector).items():
        causes.extend(invalid(where, k, m) for m in is_qualified_name(str(k)))
        causes.extend(invalid(where, v, m) for m in is_valid_label_value(str(v)))
    return causes


POD_UPDATE_MESSAGE = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
    "(allow it to be set to 1 if it was previously negative)"
)


def _validate_pod_update(new: Obj, old: Obj) -> list[Cause]:
    new_spec, old_spec = as_dict(new.get("spec")), as_dict(old.get("spec"))
    causes: list[Cause] = []
    mutable = copy.deepcopy(new_spec)
    for key in ("containers", "initContainers"):
        old_list = as_list(old_spec.get(key))
        new_list = as_list(mutable.get(key))
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
            invalid(
                "spec.activeDeadlineSeconds",
                None,
                "must not update from a positive integer to nil value",
            )
        )
        mutable["activeDeadlineSeconds"] = old_ads
    old_tol = as_list(old_spec.get("tolerations"))
    new_tol = as_list(new_spec.get("tolerations"))
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
    old_gates = as_list(old_spec.get("schedulingGates"))
    if all(g in old_gates for g in as_list(new_spec.get("schedulingGates"))):
        if "schedulingGates" in old_spec:
            mutable["schedulingGates"] = old_spec["schedulingGates"]
        else:
            mutable.pop("schedulingGates", None)
    if mutable != old_spec:
        causes.append(forbidden("spec", POD_UPDATE_MESSAGE))
    return causes


def validate_pod(obj: Obj, old: Obj | None) -> list[Cause]:
    causes = validate_pod_spec(obj.get("spec"))
    if old is not None:
        causes.extend(_validate_pod_update(obj, old))
    return causes
