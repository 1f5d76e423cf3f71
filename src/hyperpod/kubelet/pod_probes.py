"""A container's probes: the startup probe first, then liveness and readiness side by side.

Each probe loop is an asyncio task of the container (``Container.probes``) that ends with its
attempt. Readiness failures flip ``ready``; a liveness (or startup) probe that fails
``failureThreshold`` times stops the attempt, and the pod worker restarts it by policy.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from hyperpod.kubelet import oci, podusers, process_start, processes
from hyperpod.kubelet.env import EnvError
from hyperpod.kubelet.probes import run_probe
from hyperpod.kubelet.volumes import VolumeError

if TYPE_CHECKING:
    from hyperpod.kubelet.container import Container
    from hyperpod.kubelet.host import WorkerView

Obj = dict[str, Any]
_LABELS = {"livenessProbe": "Liveness", "readinessProbe": "Readiness"}


def start_probes(w: WorkerView, c: Container, attempt: processes.Attempt) -> None:
    """Start the probe task of a running attempt (its environment resolved if not known)."""
    if not c.env:
        try:
            _, c.env, c.cwd, _ = process_start.resolve(w, c)
        except (EnvError, VolumeError):
            return
    c.probes.append(asyncio.get_running_loop().create_task(_probes(w, c, attempt)))


async def _probes(w: WorkerView, c: Container, attempt: processes.Attempt) -> None:
    """The startup probe first (if any); then liveness and readiness side by side."""
    startup = c.spec.get("startupProbe")
    if startup:
        c.started = False
        if not await _probe_loop(w, c, attempt, "startupProbe", startup):
            return
    c.started = True
    if not c.spec.get("readinessProbe"):
        c.ready = True
    w.wake.set()
    loops = [
        _probe_loop(w, c, attempt, kind, c.spec[kind])
        for kind in ("livenessProbe", "readinessProbe")
        if c.spec.get(kind)
    ]
    await asyncio.gather(*loops)


def _wrapper(w: WorkerView, c: Container, attempt: processes.Attempt) -> list[str] | None:
    """What the probe command runs under: runc exec, the pod's user, or nothing (None: no
    pod user to run it as)."""
    info = oci.marker(attempt.container_dir, attempt.number)
    wrap = oci.exec_argv(info, [], tty=False) if info else []
    if not info and w.kl.pod_users.enabled:  # the probe runs as the container does
        try:
            wrap = w.kl.pod_users.wrap([], w.kl.pod_users.identity(w.pod, c.spec))
        except podusers.PodUserError:
            return None
    return wrap


async def _probe_loop(
    w: WorkerView, c: Container, attempt: processes.Attempt, kind: str, probe: Obj
) -> bool:
    """Probe until the container ends; a startup probe returns True on its first success."""
    await asyncio.sleep(float(probe.get("initialDelaySeconds") or 0))
    period = float(probe.get("periodSeconds") or 10)
    need_ok = int(probe.get("successThreshold") or 1)
    need_bad = int(probe.get("failureThreshold") or 3)
    oks = bads = 0
    label = _LABELS.get(kind, "Startup")
    while c.attempt is attempt and c.running:
        wrap = _wrapper(w, c, attempt)
        if wrap is None:
            return False
        host = w.ip or "127.0.0.1"  # OCI containers share the node network too
        ok, message = await run_probe(probe, c.spec, c.env, c.cwd, wrap=wrap, host=host)
        if not (c.attempt is attempt and c.running):
            return False
        if ok:
            oks, bads = oks + 1, 0
            if kind == "startupProbe":
                return True
            if kind == "readinessProbe" and oks >= need_ok and not c.ready:
                c.ready = True
                w.wake.set()
        else:
            oks, bads = 0, bads + 1
            w.event("Warning", "Unhealthy", f"{label} probe failed: {message}")
            if bads >= need_bad and not await _failed(w, c, attempt, kind, label):
                return False
        await asyncio.sleep(period)
    return False


async def _failed(
    w: WorkerView, c: Container, attempt: processes.Attempt, kind: str, label: str
) -> bool:
    """A probe reached its failure threshold; False when the attempt was stopped for it."""
    if kind == "readinessProbe":
        if c.ready:
            c.ready = False
            w.wake.set()
        return True
    w.event(
        "Normal",
        "Killing",
        f"Container {c.name} failed {label.lower()} probe, will be restarted",
    )
    grace = float((w.pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30))
    await attempt.stop(grace)
    w.wake.set()
    return False
