"""What each dashboard page shows, computed from objects a :class:`Reader` may list.

Plain dicts and lists, no HTML (``pages`` renders them), so tests can compare them with the API.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from hyperpod.api import job_progress
from hyperpod.apiserver.quantity import parse_quantity
from hyperpod.dashboard.reader import Reader

Obj = dict[str, Any]
GPU = "nvidia.com/gpu"
HEALTH_LABEL = "sagemaker.amazonaws.com/node-health-status"
INSTANCE_LABEL = "node.kubernetes.io/instance-type"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
WORKLOADS = "workloads.kueue.x-k8s.io"
CLUSTER_QUEUES = "clusterqueues.kueue.x-k8s.io"
LOCAL_QUEUES = "localqueues.kueue.x-k8s.io"
_TERMINAL = ("Succeeded", "Failed")


@dataclass(frozen=True)
class JobKind:
    resource: str
    kind: str
    slug: str  # in URLs: /dashboard/jobs/<slug>/<ns>/<name>


JOB_KINDS = [
    JobKind("pytorchjobs.kubeflow.org", "PyTorchJob", "pytorchjob"),
    JobKind(
        "hyperpodpytorchjobs.sagemaker.amazonaws.com", "HyperPodPyTorchJob", "hyperpodpytorchjob"
    ),
]


def kind_by_slug(slug: str) -> JobKind | None:
    return next((k for k in JOB_KINDS if k.slug == slug), None)


def _cond(obj: Obj, type_: str) -> Obj | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return None


def _true(obj: Obj, type_: str) -> bool:
    c = _cond(obj, type_)
    return c is not None and c.get("status") == "True"


def _count(q: Any) -> float:
    try:
        return float(parse_quantity(str(q)))
    except (ValueError, TypeError, ArithmeticError):
        return 0.0


def _pod_gpus(pod: Obj) -> float:
    total = 0.0
    for c in (pod.get("spec") or {}).get("containers") or []:
        res = c.get("resources") or {}
        q = (res.get("limits") or {}).get(GPU) or (res.get("requests") or {}).get(GPU)
        if q is not None:
            total += _count(q)
    return total


def _live(pod: Obj) -> bool:
    return (
        bool((pod.get("spec") or {}).get("nodeName"))
        and (pod.get("status") or {}).get("phase") not in _TERMINAL
    )


def _ready(node: Obj) -> bool:
    return _true(node, "Ready")


def key_of(obj: Obj) -> str:
    md = obj.get("metadata") or {}
    return f"{md.get('namespace')}/{md.get('name')}" if md.get("namespace") else md.get("name", "")


# ---------------------------------------------------------------- workloads and queues
def workload_state(wl: Obj) -> tuple[str, str]:
    """(state, reason): Finished, Admitted, Evicted or Pending with the message it waits on."""
    if _true(wl, "Finished"):
        return "Finished", ""
    if _true(wl, "Admitted"):
        return "Admitted", ""
    if _true(wl, "QuotaReserved"):
        return "QuotaReserved", "waiting for admission checks"
    ev = _cond(wl, "Evicted")
    qr = _cond(wl, "QuotaReserved")
    if qr is not None and qr.get("message"):
        return "Pending", str(qr.get("message"))
    if ev is not None and ev.get("status") == "True":
        return "Pending", str(ev.get("message") or "evicted")
    return "Pending", "not considered by Kueue yet"


def _order(wl: Obj) -> tuple[int, str, str]:
    spec = wl.get("spec") or {}
    md = wl.get("metadata") or {}
    return (-int(spec.get("priority") or 0), md.get("creationTimestamp") or "", md.get("uid", ""))


def queues(r: Reader) -> Obj:
    lqs = r.list(LOCAL_QUEUES)
    cq_of = {
        (q["metadata"].get("namespace"), q["metadata"]["name"]): (q.get("spec") or {}).get(
            "clusterQueue", ""
        )
        for q in lqs
    }
    pending: dict[str, list[Obj]] = {}
    for wl in sorted(r.list(WORKLOADS), key=_order):
        state, reason = workload_state(wl)
        if state != "Pending":
            continue
        md, spec = wl["metadata"], wl.get("spec") or {}
        cq = cq_of.get((md.get("namespace"), spec.get("queueName")), "")
        owner: Obj = next(iter(md.get("ownerReferences") or []), {})
        pending.setdefault(cq, []).append(
            {
                "namespace": md.get("namespace"),
                "name": md["name"],
                "queue": spec.get("queueName", ""),
                "owner": f"{owner.get('kind', '')}/{owner.get('name', '')}" if owner else "",
                "priority": int(spec.get("priority") or 0),
                "created": md.get("creationTimestamp", ""),
                "reason": reason,
            }
        )
    cqs = []
    for cq in sorted(r.list(CLUSTER_QUEUES), key=lambda q: q["metadata"]["name"]):
        name, spec, status = cq["metadata"]["name"], cq.get("spec") or {}, cq.get("status") or {}
        used: dict[tuple[str, str], Obj] = {}
        for fu in status.get("flavorsUsage") or status.get("flavorsReservation") or []:
            for res in fu.get("resources") or []:
                used[(fu.get("name", ""), res.get("name", ""))] = res
        rows = []
        for group in spec.get("resourceGroups") or []:
            for fl in group.get("flavors") or []:
                for res in fl.get("resources") or []:
                    u = used.get((fl.get("name", ""), res.get("name", "")), {})
                    rows.append(
                        {
                            "flavor": fl.get("name", ""),
                            "resource": res.get("name", ""),
                            "quota": str(res.get("nominalQuota", "0")),
                            "borrowingLimit": str(res.get("borrowingLimit", "")),
                            "usage": str(u.get("total", "0")),
                            "borrowed": str(u.get("borrowed", "0")),
                            "percent": _percent(u.get("total", 0), res.get("nominalQuota", 0)),
                        }
                    )
        cqs.append(
            {
                "name": name,
                "cohort": spec.get("cohort", ""),
                "strategy": spec.get("queueingStrategy", "BestEffortFIFO"),
                "admitted": int(status.get("admittedWorkloads") or 0),
                "pendingCount": int(status.get("pendingWorkloads") or 0),
                "resources": rows,
                "pending": pending.pop(name, []),
            }
        )
    local = [
        {
            "namespace": q["metadata"].get("namespace"),
            "name": q["metadata"]["name"],
            "clusterQueue": (q.get("spec") or {}).get("clusterQueue", ""),
            "pending": int((q.get("status") or {}).get("pendingWorkloads") or 0),
            "admitted": int((q.get("status") or {}).get("admittedWorkloads") or 0),
        }
        for q in sorted(lqs, key=key_of)
    ]
    orphans = [w for ws in pending.values() for w in ws]
    return {"clusterQueues": cqs, "localQueues": local, "unqueued": orphans}


def _percent(used: Any, total: Any) -> float:
    t = _count(total)
    return round(100.0 * _count(used) / t, 1) if t > 0 else 0.0


# ---------------------------------------------------------------- jobs
def _job_state(job: Obj, wl: Obj | None) -> tuple[str, str]:
    for t in ("Succeeded", "Completed", "Failed"):
        if _true(job, t):
            return t, str((_cond(job, t) or {}).get("message") or "")
    if wl is not None:
        state, reason = workload_state(wl)
        if state == "Pending":
            return "Queued", reason
    for t in ("Suspended", "Restarting", "Running", "Created"):
        if _true(job, t):
            return t, str((_cond(job, t) or {}).get("message") or "")
    return "Pending", "waiting for the operator"


def _job_row(kind: JobKind, job: Obj, pods: list[Obj], wl: Obj | None) -> Obj:
    md, status = job["metadata"], job.get("status") or {}
    state, reason = _job_state(job, wl)
    progress = job_progress.read(job)
    restarts = int(status.get("restartCount") or 0)
    pod_restarts = sum(
        int(cs.get("restartCount") or 0)
        for p in pods
        for cs in (p.get("status") or {}).get("containerStatuses") or []
    )
    return {
        "kind": kind.kind,
        "slug": kind.slug,
        "namespace": md.get("namespace", ""),
        "name": md["name"],
        "queue": (md.get("labels") or {}).get(QUEUE_LABEL, ""),
        "state": state,
        "reason": reason,
        "percent": progress.get("percent"),
        "step": progress.get("step"),
        "totalSteps": progress.get("totalSteps"),
        "eta": progress.get("etaSeconds"),
        "metrics": progress.get("metrics") or {},
        "restarts": restarts,
        "podRestarts": pod_restarts,
        "pods": len(pods),
        "podsRunning": sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Running"),
        "created": md.get("creationTimestamp", ""),
    }


def _by_owner(objs: list[Obj]) -> dict[str, list[Obj]]:
    out: dict[str, list[Obj]] = {}
    for o in objs:
        for ref in (o.get("metadata") or {}).get("ownerReferences") or []:
            out.setdefault(ref.get("uid", ""), []).append(o)
    return out


def jobs(r: Reader) -> list[Obj]:
    pods = _by_owner(r.list("pods"))
    wls = _by_owner(r.list(WORKLOADS))
    rows = []
    for kind in JOB_KINDS:
        for job in r.list(kind.resource):
            uid = job["metadata"].get("uid", "")
            rows.append(_job_row(kind, job, pods.get(uid, []), next(iter(wls.get(uid, [])), None)))
    rows.sort(key=lambda j: (j["namespace"], j["name"]))
    return rows


def job(r: Reader, kind: JobKind, namespace: str, name: str) -> Obj | None:
    obj = r.get(kind.resource, name, namespace)
    if obj is None:
        return None
    uid = obj["metadata"].get("uid", "")
    pods = [p for p in _by_owner(r.list("pods")).get(uid, [])]
    wl = next(iter(_by_owner(r.list(WORKLOADS)).get(uid, [])), None)
    row = _job_row(kind, obj, pods, wl)
    names = {name} | {p["metadata"]["name"] for p in pods}
    events = [
        e
        for e in r.list("events")
        if (e.get("involvedObject") or {}).get("name") in names
        and (e.get("metadata") or {}).get("namespace") == namespace
    ]
    events.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
    row["conditions"] = [
        {k: c.get(k, "") for k in ("type", "status", "reason", "message", "lastTransitionTime")}
        for c in (obj.get("status") or {}).get("conditions") or []
    ]
    row["workload"] = wl["metadata"]["name"] if wl else ""
    row["podList"] = [
        {
            "name": p["metadata"]["name"],
            "phase": (p.get("status") or {}).get("phase", ""),
            "node": (p.get("spec") or {}).get("nodeName", ""),
            "restarts": sum(
                int(cs.get("restartCount") or 0)
                for cs in (p.get("status") or {}).get("containerStatuses") or []
            ),
            "containers": [c["name"] for c in (p.get("spec") or {}).get("containers") or []],
        }
        for p in sorted(pods, key=lambda p: p["metadata"]["name"])
    ]
    row["events"] = [
        {
            "type": e.get("type", ""),
            "reason": e.get("reason", ""),
            "object": f"{(e.get('involvedObject') or {}).get('kind', '')}/"
            f"{(e.get('involvedObject') or {}).get('name', '')}",
            "message": e.get("message", ""),
            "count": int(e.get("count") or 1),
            "last": e.get("lastTimestamp") or e.get("eventTime") or "",
        }
        for e in events[-50:]
    ]
    row["canLogs"] = r.allowed("pods/log", namespace)
    return row


# ---------------------------------------------------------------- nodes and overview
def nodes(r: Reader, gpu_samples: dict[str, list[Obj]] | None = None) -> list[Obj]:
    used: dict[str, float] = {}
    pods_on: Counter[str] = Counter()
    for p in r.list("pods"):
        if _live(p):
            node = p["spec"]["nodeName"]
            used[node] = used.get(node, 0.0) + _pod_gpus(p)
            pods_on[node] += 1
    out = []
    for n in sorted(r.list("nodes"), key=lambda n: n["metadata"]["name"]):
        name = n["metadata"]["name"]
        labels = n["metadata"].get("labels") or {}
        alloc = _count(((n.get("status") or {}).get("allocatable") or {}).get(GPU, 0))
        samples = (gpu_samples or {}).get(name) or []
        out.append(
            {
                "name": name,
                "instanceType": labels.get(INSTANCE_LABEL, ""),
                "ready": _ready(n),
                "unschedulable": bool((n.get("spec") or {}).get("unschedulable")),
                "health": labels.get(HEALTH_LABEL, ""),
                "gpus": int(alloc),
                "gpusUsed": int(used.get(name, 0.0)),
                "pods": pods_on[name],
                "gpuSamples": samples,
            }
        )
    return out


def overview(r: Reader) -> Obj:
    ns = nodes(r)
    phases = Counter((p.get("status") or {}).get("phase") or "Pending" for p in r.list("pods"))
    states = Counter(j["state"] for j in jobs(r))
    pending = sum(1 for w in r.list(WORKLOADS) if workload_state(w)[0] == "Pending")
    return {
        "nodes": len(ns),
        "nodesReady": sum(1 for n in ns if n["ready"]),
        "gpus": sum(n["gpus"] for n in ns),
        "gpusUsed": sum(n["gpusUsed"] for n in ns),
        "podPhases": dict(sorted(phases.items())),
        "jobStates": dict(sorted(states.items())),
        "pendingWorkloads": pending,
        "clusterQueues": len(r.list(CLUSTER_QUEUES)),
    }
