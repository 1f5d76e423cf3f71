"""Process-level restart in place: end a pod's running container so its kubelet starts it again.

Pods on this machine run as process groups recorded in their sandbox
(``<data_dir>/pods/<uid>/<container>/<n>.json``, see :mod:`hyperpod.kubelet.processes`).
Killing the current attempt makes the kubelet restart the container in the same pod, on the
same node (``restartPolicy: OnFailure``), which is what HyperPod's in-pod agent does when it
restarts the training processes of every rank without rescheduling them. Pods on simulated
nodes run no process and are left alone.

A spare taking over a rank is told so the same way, through its sandbox: :func:`hand_over`
writes the rank's environment to ``<sandbox>/spare-assignment.json``, which the standby program
(:mod:`hyperpod.controllers.hyperpod_job_standby`) waits for.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

from hyperpod.kubelet.processes import Attempt, attempt_numbers

ASSIGNMENT = "spare-assignment.json"


def restart_in_place(data_dir: Path, pod: dict[str, Any] | None) -> bool:
    """SIGKILL the running attempt of each container of ``pod``; whether any was running."""
    if pod is None:
        return False
    sandbox = Path(data_dir) / "pods" / str(pod["metadata"].get("uid"))
    killed = False
    for container in (pod.get("spec") or {}).get("containers") or []:
        cdir = sandbox / str(container.get("name"))
        numbers = attempt_numbers(cdir)
        if not numbers:
            continue
        attempt = Attempt(cdir, numbers[-1])
        if attempt.finished() is None and attempt.signal(signal.SIGKILL):
            killed = True
    return killed


def hand_over(data_dir: Path, pod: dict[str, Any] | None, env: dict[str, str]) -> bool:
    """Give a spare pod on this machine the rank environment ``env``; whether it was written."""
    if pod is None:
        return False
    sandbox = Path(data_dir) / "pods" / str(pod["metadata"].get("uid"))
    if not sandbox.is_dir():
        return False  # a simulated node: no process to tell
    target = sandbox / ASSIGNMENT
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps({"env": env}))
    os.replace(tmp, target)
    return True
