"""HyperPod task governance as pure builders of Kueue objects.

A team's compute quota becomes the namespace ``hyperpod-ns-<team>``, the LocalQueue
``hyperpod-ns-<team>-localqueue`` and the ClusterQueue ``hyperpod-ns-<team>-clusterqueue`` in
one shared cohort, with one ResourceFlavor per instance type, plus the team's Role and
RoleBinding (see tenants.py). The cluster scheduling policy
becomes WorkloadPriorityClasses ``<name>-priority`` and a ConfigMap that turns fair sharing on.
Nothing here does I/O: the CLI sends what these functions return, so ``--dry-run`` prints it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from hyperpod.api import instance_types
from hyperpod.api import kueue as api
from hyperpod.client import tenants
from hyperpod.client.errors import UserError

Obj = dict[str, Any]

COHORT = "hyperpod-shared-cohort"
TEAM_LABEL = "hyperpod.io/team"
MANAGED_LABEL = "hyperpod.io/task-governance"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
DEFAULT_FLAVOR = "hyperpod-default"
POLICY_NAMESPACE = "kube-system"
POLICY_CONFIGMAP = "hyperpod-cluster-policy"
SHARING = ("Lend", "DontLend", "LendAndBorrow")
PREEMPT = ("Never", "LowerPriority")
_TEAM = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class InvalidGovernance(UserError):
    """A quota or policy flag has a bad value; the message names the flag."""


def namespace_name(team: str) -> str:
    return f"hyperpod-ns-{team}"


def local_queue_name(team: str) -> str:
    return f"hyperpod-ns-{team}-localqueue"


def cluster_queue_name(team: str) -> str:
    return f"hyperpod-ns-{team}-clusterqueue"


def priority_class_name(name: str) -> str:
    return name if name.endswith("-priority") else f"{name}-priority"


def team_of(cluster_queue: str) -> str | None:
    m = re.match(r"^hyperpod-ns-(.+)-clusterqueue$", cluster_queue)
    return m.group(1) if m else None


# --------------------------------------------------------------------------- policy


@dataclass
class PriorityClass:
    name: str
    weight: int


@dataclass
class ClusterPolicy:
    priority_classes: list[PriorityClass] = field(default_factory=list)
    fair_share: bool = False

    def validate(self) -> None:
        seen: set[str] = set()
        for pc in self.priority_classes:
            if not _TEAM.match(pc.name) or len(pc.name) > 54:
                raise InvalidGovernance(
                    f"--priority-class {pc.name}={pc.weight}: the name must be lowercase letters,"
                    " digits and '-' (at most 54 characters)",
                    "for example --priority-class training=70",
                )
            if not 0 <= pc.weight <= 100:
                raise InvalidGovernance(
                    f"--priority-class {pc.name}={pc.weight}: the weight must be 0-100",
                    "higher weights are admitted first and may preempt lower ones",
                )
            if pc.name in seen:
                raise InvalidGovernance(f"--priority-class {pc.name} is given twice", "")
            seen.add(pc.name)


def parse_priority_class(text: str) -> PriorityClass:
    name, sep, weight = text.partition("=")
    if not sep or not weight.strip().lstrip("-").isdigit():
        raise InvalidGovernance(
            f"--priority-class {text!r}: expected NAME=WEIGHT",
            "for example --priority-class inference=90 --priority-class training=70",
        )
    return PriorityClass(name.strip(), int(weight))


def policy_objects(policy: ClusterPolicy) -> list[Obj]:
    """WorkloadPriorityClasses and the policy ConfigMap."""
    policy.validate()
    out: list[Obj] = [
        {
            "apiVersion": api.API_VERSION,
            "kind": "WorkloadPriorityClass",
            "metadata": {
                "name": priority_class_name(pc.name),
                "labels": {MANAGED_LABEL: "true"},
            },
            "value": pc.weight,
            "description": f"HyperPod task priority {pc.name} (weight {pc.weight})",
        }
        for pc in policy.priority_classes
    ]
    out.append(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": POLICY_CONFIGMAP,
                "namespace": POLICY_NAMESPACE,
                "labels": {MANAGED_LABEL: "true"},
            },
            "data": {
                "fairSharing": "Enabled" if policy.fair_share else "Disabled",
                "priorityClasses": ",".join(
                    f"{pc.name}={pc.weight}" for pc in policy.priority_classes
                ),
            },
        }
    )
    return out


# --------------------------------------------------------------------------- quotas


@dataclass
class ComputeQuota:
    team: str
    instances: list[tuple[str, int]] = field(default_factory=list)  # (instance type, count)
    accelerators: int | None = None
    vcpu: float | None = None
    memory_gib: float | None = None
    sharing: str = "LendAndBorrow"
    borrow_limit: int = 50  # percent of the team's quota it may borrow on top
    preempt: str = "LowerPriority"
    fair_share_weight: int | None = None

    def validate(self) -> None:
        if not _TEAM.match(self.team) or len(self.team) > 40:
            raise InvalidGovernance(
                f"--team {self.team!r}: use lowercase letters, digits and '-' (at most 40)",
                "the team names the namespace hyperpod-ns-<team>",
            )
        if (
            not self.instances
            and self.accelerators is None
            and self.vcpu is None
            and self.memory_gib is None
        ):
            raise InvalidGovernance(
                "a quota needs --instance-type with --count, or --accelerators/--vcpu/--memory",
                "for example --instance-type ml.p5.48xlarge --count 2",
            )
        if self.instances and (self.vcpu is not None or self.memory_gib is not None):
            raise InvalidGovernance(
                "--vcpu/--memory cannot be combined with --instance-type (it sets them)",
                "give either instance types with counts, or raw resources",
            )
        for it, count in self.instances:
            if instance_types.get(it) is None:
                raise InvalidGovernance(
                    f"--instance-type {it}: unknown instance type",
                    "known types: " + ", ".join(sorted(instance_types.INSTANCE_TYPES)),
                )
            if count < 1:
                raise InvalidGovernance(f"--count {count}: must be at least 1", "")
        for flag, value in (
            ("--accelerators", self.accelerators),
            ("--vcpu", self.vcpu),
            ("--memory", self.memory_gib),
        ):
            if value is not None and value < 0:
                raise InvalidGovernance(f"{flag} {value}: must not be negative", "")
        if self.sharing not in SHARING:
            raise InvalidGovernance(
                f"--sharing {self.sharing}: choose one of {', '.join(SHARING)}", ""
            )
        if not 0 <= self.borrow_limit <= 10000:
            raise InvalidGovernance(f"--borrow-limit {self.borrow_limit}: a percent, 0 or more", "")
        if self.preempt not in PREEMPT:
            raise InvalidGovernance(f"--preempt {self.preempt}: choose Never or LowerPriority", "")
        if self.fair_share_weight is not None and not 0 <= self.fair_share_weight <= 100:
            raise InvalidGovernance(
                f"--fair-share-weight {self.fair_share_weight}: must be 0-100", ""
            )

    def flavors(self) -> dict[str, dict[str, int]]:
        """Flavor -> resource -> quota in thousandths."""
        out: dict[str, dict[str, int]] = {}
        for it_name, count in self.instances:
            it = instance_types.get(it_name)
            assert it is not None
            res = out.setdefault(it_name, {})
            _add(res, "cpu", it.vcpu * count * 1000)
            _add(res, "memory", it.memory_gib * count * 2**30 * 1000)
            if it.accelerator_resource and it.accelerators:
                n = (
                    self.accelerators
                    if self.accelerators is not None and len(self.instances) == 1
                    else it.accelerators * count
                )
                _add(res, it.accelerator_resource, n * 1000)
            if it.efa:
                _add(res, instance_types.EFA, it.efa * count * 1000)
        if not self.instances:
            res = out.setdefault(DEFAULT_FLAVOR, {})
            if self.accelerators is not None:
                _add(res, instance_types.GPU, self.accelerators * 1000)
            if self.vcpu is not None:
                _add(res, "cpu", int(self.vcpu * 1000))
            if self.memory_gib is not None:
                _add(res, "memory", int(self.memory_gib * 2**30) * 1000)
        return out


def _add(res: dict[str, int], name: str, value: int) -> None:
    res[name] = res.get(name, 0) + value


def flavor_objects(quota: ComputeQuota) -> list[Obj]:
    out = []
    for name in quota.flavors():
        spec: Obj = {}
        if name != DEFAULT_FLAVOR:
            spec["nodeLabels"] = {INSTANCE_TYPE_LABEL: name}
        out.append(
            {
                "apiVersion": api.API_VERSION,
                "kind": "ResourceFlavor",
                "metadata": {"name": name, "labels": {MANAGED_LABEL: "true"}},
                "spec": spec,
            }
        )
    return out


def cluster_queue(quota: ComputeQuota) -> Obj:
    flavors = quota.flavors()
    covered: list[str] = []
    for res in flavors.values():
        for r in res:
            if r not in covered:
                covered.append(r)
    rg_flavors = []
    for fname, res in flavors.items():
        rows = []
        for r in covered:
            nominal = res.get(r, 0)
            row: Obj = {"name": r, "nominalQuota": api.format_milli(r, nominal)}
            if quota.sharing == "DontLend":
                row["lendingLimit"] = "0"
                row["borrowingLimit"] = "0"
            elif quota.sharing == "Lend":
                row["borrowingLimit"] = "0"
            else:
                row["borrowingLimit"] = api.format_milli(
                    r, nominal * quota.borrow_limit // 100 // 1000 * 1000
                )
            rows.append(row)
        rg_flavors.append({"name": fname, "resources": rows})
    spec: Obj = {
        "cohort": COHORT,
        "namespaceSelector": {
            "matchLabels": {"kubernetes.io/metadata.name": namespace_name(quota.team)}
        },
        "queueingStrategy": "BestEffortFIFO",
        "resourceGroups": [{"coveredResources": covered, "flavors": rg_flavors}],
        "preemption": {
            "reclaimWithinCohort": "Any",
            "borrowWithinCohort": {"policy": "Never"},
            "withinClusterQueue": quota.preempt,
        },
        "flavorFungibility": {"whenCanBorrow": "MayStopSearch", "whenCanPreempt": "TryNextFlavor"},
    }
    if quota.fair_share_weight is not None:
        spec["fairSharing"] = {"weight": str(quota.fair_share_weight)}
    return {
        "apiVersion": api.API_VERSION,
        "kind": "ClusterQueue",
        "metadata": {
            "name": cluster_queue_name(quota.team),
            "labels": {MANAGED_LABEL: "true", TEAM_LABEL: quota.team},
        },
        "spec": spec,
    }


def quota_objects(quota: ComputeQuota) -> list[Obj]:
    """Everything a team's quota needs, in creation order."""
    quota.validate()
    ns = namespace_name(quota.team)
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": ns, "labels": {MANAGED_LABEL: "true", TEAM_LABEL: quota.team}},
        },
        *flavor_objects(quota),
        cluster_queue(quota),
        {
            "apiVersion": api.API_VERSION,
            "kind": "LocalQueue",
            "metadata": {
                "name": local_queue_name(quota.team),
                "namespace": ns,
                "labels": {MANAGED_LABEL: "true", TEAM_LABEL: quota.team},
            },
            "spec": {"clusterQueue": cluster_queue_name(quota.team)},
        },
        *tenants.team_access_objects(quota.team, ns),
    ]


def quota_warnings(queues: list[Obj], nodes: list[Obj]) -> list[str]:
    """Warnings when the teams' nominal quotas add up to more than the nodes offer."""
    want: dict[tuple[str, str], int] = {}
    for cq in queues:
        for rg in (cq.get("spec") or {}).get("resourceGroups") or []:
            for f in rg.get("flavors") or []:
                for r in f.get("resources") or []:
                    key = (f["name"], r["name"])
                    want[key] = want.get(key, 0) + api.milli(r.get("nominalQuota", 0))
    have: dict[tuple[str, str], int] = {}
    for node in nodes:
        it = ((node.get("metadata") or {}).get("labels") or {}).get(INSTANCE_TYPE_LABEL, "")
        alloc = (
            (node.get("status") or {}).get("allocatable")
            or (node.get("status") or {}).get("capacity")
            or {}
        )
        for r, q in alloc.items():
            for flavor in (it, DEFAULT_FLAVOR):
                have[(flavor, r)] = have.get((flavor, r), 0) + api.milli(q)
    out = []
    for (flavor, r), total in sorted(want.items()):
        cap = have.get((flavor, r), 0)
        if total > cap:
            out.append(
                f"quotas for {r} in {flavor} add up to {api.format_milli(r, total)} but the"
                f" cluster's nodes offer {api.format_milli(r, cap)}; jobs beyond that stay pending"
            )
    return out


# --------------------------------------------------------------------------- views


def _conditions(obj: Obj) -> dict[str, Obj]:
    return {c.get("type", ""): c for c in (obj.get("status") or {}).get("conditions") or []}


def queue_rows(
    cluster_queues: list[Obj], local_queues: list[Obj], workloads: list[Obj]
) -> list[Obj]:
    """Per team: quota, used and borrowed per resource, and pending jobs in admission order."""
    lq_to_cq = {
        (lq["metadata"].get("namespace"), lq["metadata"]["name"]): (lq.get("spec") or {}).get(
            "clusterQueue"
        )
        for lq in local_queues
    }
    rows = []
    for cq in sorted(cluster_queues, key=lambda c: c["metadata"]["name"]):
        name = cq["metadata"]["name"]
        quota: dict[str, int] = {}
        for rg in (cq.get("spec") or {}).get("resourceGroups") or []:
            for f in rg.get("flavors") or []:
                for r in f.get("resources") or []:
                    quota[r["name"]] = quota.get(r["name"], 0) + api.milli(r.get("nominalQuota", 0))
        used: dict[str, int] = {}
        borrowed: dict[str, int] = {}
        for f in (cq.get("status") or {}).get("flavorsUsage") or []:
            for r in f.get("resources") or []:
                used[r["name"]] = used.get(r["name"], 0) + api.milli(r.get("total", 0))
                borrowed[r["name"]] = borrowed.get(r["name"], 0) + api.milli(r.get("borrowed", 0))
        pending = []
        for wl in workloads:
            adm = (wl.get("status") or {}).get("admission")
            conds = _conditions(wl)
            if adm or conds.get("Finished", {}).get("status") == "True":
                continue
            if (wl.get("spec") or {}).get("active") is False:
                continue
            md = wl["metadata"]
            if lq_to_cq.get((md.get("namespace"), (wl.get("spec") or {}).get("queueName"))) != name:
                continue
            pending.append(wl)
        pending.sort(
            key=lambda w: (
                -int((w.get("spec") or {}).get("priority") or 0),
                w["metadata"].get("creationTimestamp", ""),
            )
        )

        def fmt(values: dict[str, int], keys: dict[str, int] = quota) -> str:
            return ", ".join(
                f"{_short(r)} {api.format_milli(r, v)}" for r, v in values.items() if r in keys
            )

        rows.append(
            {
                "team": team_of(name) or name,
                "cluster_queue": name,
                "cohort": (cq.get("spec") or {}).get("cohort", ""),
                "quota": fmt(quota),
                "used": fmt({r: used.get(r, 0) for r in quota}),
                "borrowed": fmt({r: borrowed.get(r, 0) for r in quota}),
                "admitted": (cq.get("status") or {}).get("admittedWorkloads", 0),
                "pending": [
                    {
                        "position": i + 1,
                        "workload": f"{w['metadata'].get('namespace')}/{w['metadata']['name']}",
                        "job": _owner(w),
                        "priority": (w.get("spec") or {}).get("priority", 0),
                        "reason": _conditions(w).get("QuotaReserved", {}).get("message")
                        or "waiting for its turn in the queue",
                    }
                    for i, w in enumerate(pending)
                ],
            }
        )
    return rows


def _owner(wl: Obj) -> str:
    for ref in (wl.get("metadata") or {}).get("ownerReferences") or []:
        return f"{ref.get('kind')}/{ref.get('name')}"
    return ""


def _short(resource: str) -> str:
    return {
        "nvidia.com/gpu": "gpu",
        "vpc.amazonaws.com/efa": "efa",
        "aws.amazon.com/neurondevice": "neuron",
    }.get(resource, resource)
