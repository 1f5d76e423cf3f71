"""A pod's status as the kubelet reports it: phase, conditions, container statuses, QoS class.

Built from the pod worker's view of its containers (``pods.py``), exactly in the Kubernetes
shape; ``terminated`` is also the record of an attempt that ended (``processes.py``) turned
into a container state.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from hyperpod.api.meta import rfc3339

if TYPE_CHECKING:
    from hyperpod.kubelet.container import Container
    from hyperpod.kubelet.host import WorkerView

Obj = dict[str, Any]


def terminated(rec: Obj, container_id: str) -> Obj:
    """The ``terminated`` state of an attempt from its exit record."""
    term: Obj = {
        "exitCode": int(rec.get("exitCode", 0)),
        "reason": rec.get("reason") or ("Completed" if rec.get("exitCode") == 0 else "Error"),
        "startedAt": rfc3339(float(rec.get("startedAt") or rec.get("finishedAt") or time.time())),
        "finishedAt": rfc3339(float(rec.get("finishedAt") or time.time())),
        "containerID": container_id,
    }
    if rec.get("signal"):
        term["signal"] = int(rec["signal"])
    if rec.get("message"):
        term["message"] = str(rec["message"])
    return {"terminated": term}


def _condition(
    old: dict[Any, Obj], now: str, type_: str, ok: bool, reason: str, message: str
) -> Obj:
    """One condition; its transition time moves only when its status changes."""
    status = "True" if ok else "False"
    prev = old.get(type_) or {}
    out: Obj = {
        "type": type_,
        "status": status,
        "lastProbeTime": None,
        "lastTransitionTime": prev.get("lastTransitionTime", now)
        if prev.get("status") == status
        else now,
    }
    if not ok and reason:
        out["reason"] = reason
        if message:
            out["message"] = message
    return out


def conditions(w: WorkerView, phase: str) -> list[Obj]:
    """Initialized, Ready, ContainersReady and (kept from the scheduler) PodScheduled."""
    old = {c.get("type"): c for c in (w.pod.get("status") or {}).get("conditions") or []}
    now = rfc3339(time.time())
    pending_init = [c.name for c in w.inits if not (c.done and c.succeeded)]
    unready = [c.name for c in w.apps if not c.ready]
    done = phase in ("Succeeded", "Failed")
    initialized = not pending_init or (phase == "Succeeded")
    ready_reason = "PodCompleted" if done else "ContainersNotReady"
    ready_msg = "" if done else f"containers with unready status: [{' '.join(unready)}]"
    conds = [
        _condition(
            old,
            now,
            "Initialized",
            initialized,
            "ContainersNotInitialized" if not done else "PodCompleted",
            f"containers with incomplete status: [{' '.join(pending_init)}]" if not done else "",
        ),
        _condition(old, now, "Ready", not unready and not done, ready_reason, ready_msg),
        _condition(old, now, "ContainersReady", not unready and not done, ready_reason, ready_msg),
    ]
    sched = old.get("PodScheduled") or {
        "type": "PodScheduled",
        "status": "True",
        "lastProbeTime": None,
        "lastTransitionTime": now,
    }
    return [*conds, sched]


def phase(w: WorkerView) -> str:
    if w.failed:
        return "Failed"
    if w.apps and all(c.done for c in w.apps):
        return "Succeeded" if all(c.succeeded for c in w.apps) else "Failed"
    if any(
        c.running or c.restart_count > 0 or "terminated" in c.state or c.last_state for c in w.apps
    ):
        return "Running"
    return "Pending"


def container_status(w: WorkerView, c: Container) -> Obj:
    image = c.spec.get("image") or ""
    st: Obj = {
        "name": c.name,
        "state": c.state,
        "lastState": c.last_state,
        "ready": c.ready,
        "restartCount": c.restart_count,
        "image": image,
        "imageID": f"local://{image}" if image else "",
        "started": c.running and c.started,
    }
    if c.attempt is not None:
        st["containerID"] = w.cid(c)
    return st


def build(w: WorkerView) -> Obj:
    """The pod's whole ``status``."""
    now_phase = phase(w)
    if now_phase in ("Succeeded", "Failed"):
        for c in w.inits + w.apps:
            if "waiting" in c.state and w.failed:
                c.state = {"waiting": c.state["waiting"]}
    host = "127.0.0.1"
    status: Obj = {
        "phase": now_phase,
        "conditions": conditions(w, now_phase),
        "hostIP": host,
        "hostIPs": [{"ip": host}],
        "startTime": w.start_time
        or (w.pod.get("status") or {}).get("startTime")
        or rfc3339(time.time()),
        "qosClass": qos_class(w.pod),
        "containerStatuses": [container_status(w, c) for c in w.apps],
    }
    if w.ip is not None:
        status["podIP"] = w.ip
        status["podIPs"] = [{"ip": w.ip}]
    if w.inits:
        status["initContainerStatuses"] = [container_status(w, c) for c in w.inits]
    if w.failed and w.failed_reason:
        status["reason"] = w.failed_reason
        status["message"] = w.failed_message
    return status


def qos_class(pod: Obj) -> str:
    """Guaranteed, Burstable or BestEffort, as Kubernetes computes it."""
    spec = pod.get("spec") or {}
    cs = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    any_set = False
    guaranteed = True
    for c in cs:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        if req or lim:
            any_set = True
        for r in ("cpu", "memory"):
            if r not in lim or (r in req and req[r] != lim[r]):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"
