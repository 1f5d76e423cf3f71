"""Kueue kinds (kueue.x-k8s.io): CRD manifests, defaulting and validation hooks.

ResourceFlavor, ClusterQueue, LocalQueue, Workload, WorkloadPriorityClass and Cohort are
served as ``v1beta1`` (storage) and ``v1beta2`` (same schema; ``cohortName`` is accepted as
the v1beta2 spelling of ClusterQueue ``cohort``). The hooks follow Kueue's webhooks: a
ClusterQueue with borrowing limits but no cohort, duplicate flavors or a
``borrowWithinCohort`` without reclaim is refused with a cause naming the field.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

GROUP = "kueue.x-k8s.io"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"

QUEUE_NAME_LABEL = "kueue.x-k8s.io/queue-name"
PRIORITY_CLASS_LABEL = "kueue.x-k8s.io/priority-class"
JOB_UID_LABEL = "kueue.x-k8s.io/job-uid"

QUEUEING_STRATEGIES = ("StrictFIFO", "BestEffortFIFO")
RECLAIM_POLICIES = ("Never", "LowerPriority", "Any")
BORROW_POLICIES = ("Never", "LowerPriority")
WITHIN_CQ_POLICIES = ("Never", "LowerPriority", "LowerOrNewerEqualPriority")
STOP_POLICIES = ("None", "Hold", "HoldAndDrain")
WHEN_CAN_BORROW = ("MayStopSearch", "TryNextFlavor", "Borrow")
WHEN_CAN_PREEMPT = ("MayStopSearch", "TryNextFlavor", "Preempt")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")

_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eE][+-]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$")
_SUFFIX = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}

Obj = dict[str, Any]


def cause(field: str, message: str, reason: str = "FieldValueInvalid") -> dict[str, str]:
    """One ``details.causes`` entry (same shape as ``hyperpod.apiserver.errors.cause``)."""
    return {"reason": reason, "message": message, "field": field}


def milli(value: Any) -> int:
    """A Kubernetes quantity (``"500m"``, ``"2Gi"``, ``8``) as an integer count of thousandths.

    Fractions below one milli-unit round up, as Kubernetes does. Raises ``ValueError``.
    """
    if isinstance(value, bool):
        raise ValueError(f"quantity must be a string or number, not {value!r}")
    if isinstance(value, int):
        return value * 1000
    if isinstance(value, float):
        value = repr(value)
    if not isinstance(value, str):
        raise ValueError(f"quantity must be a string or number, not {value!r}")
    m = _QUANTITY.match(value.strip())
    if not m:
        raise ValueError(f"quantities must match the regular expression '{_QUANTITY.pattern}'")
    try:
        number = Decimal(m.group(1))
    except InvalidOperation as exc:
        raise ValueError(f"invalid quantity {value!r}") from exc
    suffix = m.group(2) or ""
    scale = Decimal(10) ** int(suffix[1:]) if suffix[:1] in ("e", "E") else _SUFFIX[suffix]
    thousandths = number * scale * 1000
    as_int = int(thousandths)
    return as_int + 1 if thousandths > as_int else as_int


def format_milli(resource: str, value: int) -> str:
    """Format thousandths back into a short quantity (``8``, ``500m``, ``16Gi``)."""
    if value % 1000:
        return f"{value}m"
    whole = value // 1000
    if resource == "memory" or resource.endswith("storage"):
        for suffix, size in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
            if whole and whole % size == 0:
                return f"{whole // size}{suffix}"
    return str(whole)


# --------------------------------------------------------------------------------------
# CRD manifests

_ANY: Obj = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
_QTY: Obj = {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True}
_STR: Obj = {"type": "string"}
_INT: Obj = {"type": "integer"}
_STRMAP: Obj = {"type": "object", "additionalProperties": {"type": "string"}}
_CONDITIONS: Obj = {"type": "array", "items": _ANY}


def _arr(items: Obj, max_items: int | None = None) -> Obj:
    out: Obj = {"type": "array", "items": items}
    if max_items is not None:
        out["maxItems"] = max_items
    return out


def _obj(props: Obj, required: list[str] | None = None, **extra: Any) -> Obj:
    out: Obj = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    out.update(extra)
    return out


_FAIR_SHARING = _obj({"weight": _QTY})
_RESOURCE_GROUPS = _arr(
    _obj(
        {
            "coveredResources": _arr(_STR, 64),
            "flavors": _arr(
                _obj(
                    {
                        "name": _STR,
                        "resources": _arr(
                            _obj(
                                {
                                    "name": _STR,
                                    "nominalQuota": _QTY,
                                    "borrowingLimit": _QTY,
                                    "lendingLimit": _QTY,
                                },
                                ["name", "nominalQuota"],
                            ),
                            64,
                        ),
                    },
                    ["name", "resources"],
                ),
                64,
            ),
        },
        ["coveredResources", "flavors"],
    ),
    16,
)
_USAGE = _arr(
    _obj({"name": _STR, "resources": _arr(_obj({"name": _STR, "total": _QTY, "borrowed": _QTY}))})
)

_CLUSTER_QUEUE_SPEC = _obj(
    {
        "cohort": _STR,
        "cohortName": _STR,
        "namespaceSelector": _ANY,
        "resourceGroups": _RESOURCE_GROUPS,
        "queueingStrategy": {"type": "string", "enum": list(QUEUEING_STRATEGIES)},
        "preemption": _obj(
            {
                "reclaimWithinCohort": {"type": "string", "enum": list(RECLAIM_POLICIES)},
                "borrowWithinCohort": _obj(
                    {
                        "policy": {"type": "string", "enum": list(BORROW_POLICIES)},
                        "maxPriorityThreshold": _INT,
                    }
                ),
                "withinClusterQueue": {"type": "string", "enum": list(WITHIN_CQ_POLICIES)},
            }
        ),
        "flavorFungibility": _obj(
            {
                "whenCanBorrow": {"type": "string", "enum": list(WHEN_CAN_BORROW)},
                "whenCanPreempt": {"type": "string", "enum": list(WHEN_CAN_PREEMPT)},
            }
        ),
        "stopPolicy": {"type": "string", "enum": list(STOP_POLICIES)},
        "fairSharing": _FAIR_SHARING,
        "admissionChecks": _arr(_STR),
        "admissionChecksStrategy": _ANY,
    }
)
_CLUSTER_QUEUE_STATUS = _obj(
    {
        "pendingWorkloads": _INT,
        "reservingWorkloads": _INT,
        "admittedWorkloads": _INT,
        "flavorsReservation": _USAGE,
        "flavorsUsage": _USAGE,
        "conditions": _CONDITIONS,
        "fairSharing": _obj({"weightedShare": _INT}),
        "pendingWorkloadsStatus": _ANY,
    }
)

_POD_SET = _obj(
    {"name": _STR, "count": _INT, "minCount": _INT, "template": _ANY, "topologyRequest": _ANY},
    ["name", "template"],
)
_WORKLOAD_SPEC = _obj(
    {
        "podSets": _arr(_POD_SET, 8),
        "queueName": _STR,
        "priorityClassName": _STR,
        "priority": _INT,
        "priorityClassSource": _STR,
        "active": {"type": "boolean"},
        "maximumExecutionTimeSeconds": _INT,
    },
    ["podSets"],
)
_WORKLOAD_STATUS = _obj(
    {
        "admission": _ANY,
        "conditions": _CONDITIONS,
        "requeueState": _obj({"count": _INT, "requeueAt": _STR}),
        "reclaimablePods": _arr(_ANY),
        "admissionChecks": _arr(_ANY),
        "resourceRequests": _arr(_ANY),
        "accumulatedPastExexcutionTimeSeconds": _INT,
    }
)


def _crd(
    kind: str,
    plural: str,
    scope: str,
    spec: Obj | None,
    status: Obj | None,
    columns: list[Obj],
    short_names: list[str] | None = None,
    extra_props: Obj | None = None,
) -> Obj:
    props: Obj = {"apiVersion": _STR, "kind": _STR, "metadata": {"type": "object"}}
    if spec is not None:
        props["spec"] = spec
    if status is not None:
        props["status"] = status
    props.update(extra_props or {})
    schema: Obj = {"openAPIV3Schema": {"type": "object", "properties": props}}
    versions = []
    for version in ("v1beta1", "v1beta2"):
        v: Obj = {
            "name": version,
            "served": True,
            "storage": version == VERSION,
            "schema": schema,
            "additionalPrinterColumns": columns,
        }
        if status is not None:
            v["subresources"] = {"status": {}}
        versions.append(v)
    names: Obj = {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": plural,
        "singular": kind.lower(),
        "categories": ["kueue"],
    }
    if short_names:
        names["shortNames"] = short_names
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {"group": GROUP, "names": names, "scope": scope, "versions": versions},
    }


def _col(name: str, path: str, type_: str = "string", priority: int = 0, desc: str = "") -> Obj:
    col: Obj = {"name": name, "type": type_, "jsonPath": path}
    if priority:
        col["priority"] = priority
    if desc:
        col["description"] = desc
    return col


_AGE = _col("Age", ".metadata.creationTimestamp", "date")


def crds() -> list[dict[str, Any]]:
    """The seven Kueue CustomResourceDefinitions (Topology: topology-aware scheduling)."""
    return [
        _crd(
            "Topology",
            "topologies",
            "Cluster",
            _obj({"levels": _arr(_obj({"nodeLabel": _STR}, ["nodeLabel"]), 16)}, ["levels"]),
            None,
            [_AGE],
        ),
        _crd(
            "ResourceFlavor",
            "resourceflavors",
            "Cluster",
            _obj(
                {
                    "nodeLabels": _STRMAP,
                    "nodeTaints": _arr(_ANY, 8),
                    "tolerations": _arr(_ANY, 8),
                    "topologyName": _STR,
                }
            ),
            None,
            [_AGE],
            ["flavor", "flavors", "rf"],
        ),
        _crd(
            "ClusterQueue",
            "clusterqueues",
            "Cluster",
            _CLUSTER_QUEUE_SPEC,
            _CLUSTER_QUEUE_STATUS,
            [
                _col("Cohort", ".spec.cohort", desc="Cohort that this ClusterQueue belongs to"),
                _col("Strategy", ".spec.queueingStrategy", priority=1),
                _col("Pending Workloads", ".status.pendingWorkloads", "integer"),
                _col("Admitted Workloads", ".status.admittedWorkloads", "integer", priority=1),
                _AGE,
            ],
            ["cq"],
        ),
        _crd(
            "LocalQueue",
            "localqueues",
            "Namespaced",
            _obj(
                {"clusterQueue": _STR, "stopPolicy": _STR, "fairSharing": _FAIR_SHARING},
            ),
            _obj(
                {
                    "pendingWorkloads": _INT,
                    "reservingWorkloads": _INT,
                    "admittedWorkloads": _INT,
                    "conditions": _CONDITIONS,
                    "flavorUsage": _USAGE,
                    "flavorsReservation": _USAGE,
                    "flavorsUsage": _USAGE,
                    "fairSharing": _ANY,
                }
            ),
            [
                _col("ClusterQueue", ".spec.clusterQueue"),
                _col("Pending Workloads", ".status.pendingWorkloads", "integer"),
                _col("Admitted Workloads", ".status.admittedWorkloads", "integer"),
                _AGE,
            ],
            ["queue", "queues", "lq"],
        ),
        _crd(
            "Workload",
            "workloads",
            "Namespaced",
            _WORKLOAD_SPEC,
            _WORKLOAD_STATUS,
            [
                _col("Queue", ".spec.queueName"),
                _col("Reserved in", ".status.admission.clusterQueue"),
                _col("Admitted", ".status.conditions[?(@.type=='Admitted')].status"),
                _col("Finished", ".status.conditions[?(@.type=='Finished')].status"),
                _AGE,
            ],
            ["wl"],
        ),
        _crd(
            "WorkloadPriorityClass",
            "workloadpriorityclasses",
            "Cluster",
            None,
            None,
            [_col("Value", ".value", "integer"), _AGE],
            None,
            {"value": _INT, "description": _STR},
        ),
        _crd(
            "Cohort",
            "cohorts",
            "Cluster",
            _obj(
                {
                    "parentName": _STR,
                    "parent": _STR,
                    "resourceGroups": _RESOURCE_GROUPS,
                    "fairSharing": _FAIR_SHARING,
                }
            ),
            _obj({"fairSharing": _ANY, "conditions": _CONDITIONS}),
            [_col("Parent", ".spec.parentName"), _AGE],
        ),
    ]


# --------------------------------------------------------------------------------------
# defaulting


def default(obj: Obj) -> None:
    """Kueue's defaulting webhook for every kind of the group (mutates in place)."""
    kind = obj.get("kind")
    spec = obj.get("spec")
    if kind == "ClusterQueue":
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict):
            _default_cluster_queue(spec)
    elif kind == "Workload" and isinstance(spec, dict):
        spec.setdefault("active", True)
        for ps in spec.get("podSets") or []:
            if isinstance(ps, dict):
                ps.setdefault("count", 1)
                if not ps.get("name"):
                    ps["name"] = "main"
    elif kind == "LocalQueue" and isinstance(spec, dict):
        spec.setdefault("stopPolicy", "None")
    elif kind == "ResourceFlavor":
        obj.setdefault("spec", {})


def _default_cluster_queue(spec: Obj) -> None:
    if "cohortName" in spec and "cohort" not in spec:
        spec["cohort"] = spec["cohortName"]
    spec.setdefault("queueingStrategy", "BestEffortFIFO")
    spec.setdefault("stopPolicy", "None")
    spec.setdefault("namespaceSelector", {})  # an explicit null stays: no namespace matches
    pre = spec.setdefault("preemption", {})
    if isinstance(pre, dict):
        pre.setdefault("reclaimWithinCohort", "Never")
        pre.setdefault("withinClusterQueue", "Never")
        bwc = pre.setdefault("borrowWithinCohort", {})
        if isinstance(bwc, dict):
            bwc.setdefault("policy", "Never")
    ff = spec.setdefault("flavorFungibility", {})
    if isinstance(ff, dict):
        ff.setdefault("whenCanBorrow", "MayStopSearch")
        ff.setdefault("whenCanPreempt", "TryNextFlavor")
        if ff["whenCanBorrow"] == "Borrow":
            ff["whenCanBorrow"] = "MayStopSearch"
        if ff["whenCanPreempt"] == "Preempt":
            ff["whenCanPreempt"] = "MayStopSearch"


# --------------------------------------------------------------------------------------
# validation


def validate(obj: Obj, old: Obj | None) -> list[dict[str, str]]:
    """Kueue's validating webhook for every kind of the group; ``[]`` means valid."""
    kind = obj.get("kind")
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    old_spec = (old or {}).get("spec") if isinstance((old or {}).get("spec"), dict) else None
    assert isinstance(spec, dict)
    if kind == "ClusterQueue":
        return validate_cluster_queue(spec)
    if kind == "LocalQueue":
        return _validate_local_queue(spec, old_spec)
    if kind == "Workload":
        return _validate_workload(obj, old)
    if kind == "ResourceFlavor":
        return _validate_flavor(spec)
    if kind == "Cohort":
        return _validate_cohort(obj, spec)
    if kind == "WorkloadPriorityClass":
        value = obj.get("value")
        if not isinstance(value, int) or isinstance(value, bool):
            return [cause("value", "Required value: an integer priority", "FieldValueRequired")]
        return []
    return []


def _quantity_causes(path: str, value: Any, *, required: bool = False) -> list[dict[str, str]]:
    if value is None:
        return [cause(path, "Required value", "FieldValueRequired")] if required else []
    try:
        v = milli(value)
    except ValueError as exc:
        return [cause(path, f"Invalid value: {value!r}: {exc}")]
    if v < 0:
        return [cause(path, f"Invalid value: {value!r}: must be greater than or equal to 0")]
    return []


def _validate_resource_groups(
    groups: Any, path: str, has_cohort: bool, *, cohort_kind: bool = False
) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    if groups is None:
        return out
    if not isinstance(groups, list):
        return [cause(path, "Invalid value: must be a list")]
    seen_resources: dict[str, str] = {}
    seen_flavors: dict[str, str] = {}
    for gi, group in enumerate(groups):
        gpath = f"{path}[{gi}]"
        if not isinstance(group, dict):
            out.append(cause(gpath, "Invalid value: must be an object"))
            continue
        covered = group.get("coveredResources") or []
        if not covered:
            out.append(cause(f"{gpath}.coveredResources", "Required value", "FieldValueRequired"))
        for ri, res in enumerate(covered):
            rpath = f"{gpath}.coveredResources[{ri}]"
            if res in seen_resources:
                out.append(
                    cause(
                        rpath,
                        f'Duplicate value: "{res}" (already covered by {seen_resources[res]})',
                        "FieldValueDuplicate",
                    )
                )
            else:
                seen_resources[res] = f"{path}[{gi}]"
        flavors = group.get("flavors") or []
        if not flavors:
            out.append(cause(f"{gpath}.flavors", "Required value", "FieldValueRequired"))
        for fi, flavor in enumerate(flavors):
            fpath = f"{gpath}.flavors[{fi}]"
            if not isinstance(flavor, dict):
                out.append(cause(fpath, "Invalid value: must be an object"))
                continue
            fname = flavor.get("name")
            if not fname:
                out.append(cause(f"{fpath}.name", "Required value", "FieldValueRequired"))
            elif fname in seen_flavors:
                out.append(
                    cause(
                        f"{fpath}.name",
                        f'Duplicate value: "{fname}" (a flavor may appear once per ClusterQueue;'
                        f" already in {seen_flavors[fname]})",
                        "FieldValueDuplicate",
                    )
                )
            else:
                seen_flavors[fname] = gpath
            resources = flavor.get("resources") or []
            names = [r.get("name") for r in resources if isinstance(r, dict)]
            if names != list(covered):
                out.append(
                    cause(
                        f"{fpath}.resources",
                        f"Invalid value: must list exactly the coveredResources in the same order"
                        f" ({', '.join(map(str, covered))}); got ({', '.join(map(str, names))})",
                    )
                )
            for ri, res in enumerate(resources):
                if not isinstance(res, dict):
                    continue
                rpath = f"{fpath}.resources[{ri}]"
                out += _quantity_causes(
                    f"{rpath}.nominalQuota", res.get("nominalQuota"), required=True
                )
                for lim in ("borrowingLimit", "lendingLimit"):
                    if res.get(lim) is None:
                        continue
                    if not has_cohort and not cohort_kind:
                        out.append(
                            cause(
                                f"{rpath}.{lim}",
                                f"Invalid value: {lim} must be nil when cohort is empty"
                                " (set spec.cohort or remove the limit)",
                            )
                        )
                        continue
                    out += _quantity_causes(f"{rpath}.{lim}", res.get(lim))
                lend = res.get("lendingLimit")
                if lend is not None and not _quantity_causes("", lend):
                    try:
                        if milli(lend) > milli(res.get("nominalQuota", 0)):
                            out.append(
                                cause(
                                    f"{rpath}.lendingLimit",
                                    "Invalid value: must be less than or equal to nominalQuota",
                                )
                            )
                    except ValueError:
                        pass
    return out


def validate_cluster_queue(spec: Obj) -> list[dict[str, str]]:
    """Causes for a ClusterQueue spec (public so the CLI can check quotas before sending)."""
    out: list[dict[str, str]] = []
    cohort = spec.get("cohort") or spec.get("cohortName")
    if cohort and not _DNS1123_SUBDOMAIN.match(str(cohort)):
        out.append(cause("spec.cohort", f"Invalid value: {cohort!r}: must be a DNS subdomain"))
    out += _validate_resource_groups(
        spec.get("resourceGroups"), "spec.resourceGroups", bool(cohort)
    )
    pre = spec.get("preemption") or {}
    reclaim = pre.get("reclaimWithinCohort", "Never")
    borrow = (pre.get("borrowWithinCohort") or {}).get("policy", "Never")
    if reclaim == "Never" and borrow != "Never":
        out.append(
            cause(
                "spec.preemption",
                "Invalid value: reclaimWithinCohort=Never and borrowWithinCohort.Policy!=Never"
                " is not allowed",
            )
        )
    fair = spec.get("fairSharing") or {}
    if "weight" in fair:
        out += _quantity_causes("spec.fairSharing.weight", fair["weight"])
    selector = spec.get("namespaceSelector")
    if selector is not None and not isinstance(selector, dict):
        out.append(cause("spec.namespaceSelector", "Invalid value: must be a label selector"))
    elif isinstance(selector, dict):
        for i, expr in enumerate(selector.get("matchExpressions") or []):
            op = expr.get("operator")
            if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
                out.append(
                    cause(
                        f"spec.namespaceSelector.matchExpressions[{i}].operator",
                        f'Unsupported value: "{op}": supported values: "In", "NotIn",'
                        ' "Exists", "DoesNotExist"',
                        "FieldValueNotSupported",
                    )
                )
    return out


def _validate_local_queue(spec: Obj, old_spec: Obj | None) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    cq = spec.get("clusterQueue")
    if not cq:
        out.append(cause("spec.clusterQueue", "Required value", "FieldValueRequired"))
    elif not _DNS1123_SUBDOMAIN.match(str(cq)):
        out.append(cause("spec.clusterQueue", f"Invalid value: {cq!r}: must be a DNS subdomain"))
    if old_spec is not None and old_spec.get("clusterQueue") != cq:
        out.append(cause("spec.clusterQueue", "Invalid value: field is immutable"))
    stop = spec.get("stopPolicy")
    if stop is not None and stop not in STOP_POLICIES:
        out.append(
            cause(
                "spec.stopPolicy",
                f'Unsupported value: "{stop}": supported values: "None", "Hold", "HoldAndDrain"',
                "FieldValueNotSupported",
            )
        )
    return out


def _validate_flavor(spec: Obj) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    labels = spec.get("nodeLabels") or {}
    if len(labels) > 8:
        out.append(
            cause("spec.nodeLabels", "Too many: must have at most 8 items", "FieldValueTooMany")
        )
    for field in ("nodeTaints", "tolerations"):
        items = spec.get(field) or []
        if len(items) > 8:
            out.append(
                cause(f"spec.{field}", "Too many: must have at most 8 items", "FieldValueTooMany")
            )
    for i, taint in enumerate(spec.get("nodeTaints") or []):
        if not isinstance(taint, dict) or not taint.get("key"):
            out.append(cause(f"spec.nodeTaints[{i}].key", "Required value", "FieldValueRequired"))
            continue
        if taint.get("effect") not in TAINT_EFFECTS:
            out.append(
                cause(
                    f"spec.nodeTaints[{i}].effect",
                    f'Unsupported value: "{taint.get("effect")}": supported values: "NoSchedule",'
                    ' "PreferNoSchedule", "NoExecute"',
                    "FieldValueNotSupported",
                )
            )
    return out


def _validate_cohort(obj: Obj, spec: Obj) -> list[dict[str, str]]:
    name = (obj.get("metadata") or {}).get("name")
    parent = spec.get("parentName") or spec.get("parent")
    out: list[dict[str, str]] = []
    if parent and parent == name:
        out.append(cause("spec.parentName", "Invalid value: a cohort cannot be its own parent"))
    out += _validate_resource_groups(
        spec.get("resourceGroups"), "spec.resourceGroups", bool(parent), cohort_kind=True
    )
    return out


def _validate_workload(obj: Obj, old: Obj | None) -> list[dict[str, str]]:
    spec = obj.get("spec") or {}
    out: list[dict[str, str]] = []
    pod_sets = spec.get("podSets")
    if not isinstance(pod_sets, list) or not pod_sets:
        return [cause("spec.podSets", "Required value: at least one pod set", "FieldValueRequired")]
    if len(pod_sets) > 8:
        out.append(
            cause("spec.podSets", "Too many: must have at most 8 items", "FieldValueTooMany")
        )
    names: set[str] = set()
    for i, ps in enumerate(pod_sets):
        path = f"spec.podSets[{i}]"
        if not isinstance(ps, dict):
            out.append(cause(path, "Invalid value: must be an object"))
            continue
        name = ps.get("name")
        if name in names:
            out.append(cause(f"{path}.name", f'Duplicate value: "{name}"', "FieldValueDuplicate"))
        names.add(str(name))
        count = ps.get("count", 1)
        if not isinstance(count, int) or count < 0:
            out.append(cause(f"{path}.count", "Invalid value: must be a non-negative integer"))
        min_count = ps.get("minCount")
        if min_count is not None and (not isinstance(min_count, int) or min_count > count):
            out.append(cause(f"{path}.minCount", "Invalid value: must be <= count"))
        template = ps.get("template")
        containers = ((template or {}).get("spec") or {}).get("containers")
        if not isinstance(containers, list) or not containers:
            out.append(
                cause(
                    f"{path}.template.spec.containers",
                    "Required value: a pod template with at least one container",
                    "FieldValueRequired",
                )
            )
            continue
        for ci, c in enumerate(containers):
            for kind in ("requests", "limits"):
                for res, q in ((c.get("resources") or {}).get(kind) or {}).items():
                    out += _quantity_causes(
                        f"{path}.template.spec.containers[{ci}].resources.{kind}.{res}", q
                    )
    prio = spec.get("priority")
    if prio is not None and (not isinstance(prio, int) or isinstance(prio, bool)):
        out.append(cause("spec.priority", "Invalid value: must be an integer"))
    queue = spec.get("queueName")
    if queue and not _DNS1123_SUBDOMAIN.match(str(queue)):
        out.append(cause("spec.queueName", f"Invalid value: {queue!r}: must be a DNS subdomain"))
    old_spec = (old or {}).get("spec") or {}
    reserved = bool((old or {}).get("status", {}).get("admission"))
    if old is not None and reserved:
        if old_spec.get("podSets") != spec.get("podSets"):
            out.append(
                cause("spec.podSets", "Invalid value: field is immutable while quota is reserved")
            )
        if old_spec.get("queueName") != spec.get("queueName"):
            out.append(
                cause("spec.queueName", "Invalid value: field is immutable while quota is reserved")
            )
    return out
