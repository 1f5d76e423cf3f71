"""Process-level restart in place: end a pod's running containers so the kubelet starts them again.

Pods on this machine run as process groups recorded in their sandbox
(``<data_dir>/pods/<uid>/<container>/<n>.json``, see :mod:`hyperpod.kubelet.processes`).
Killing the current attempt makes the kubelet restart the container in the same pod, on the
same node (``restartPolicy: OnFailure``), which is what HyperPod's in-pod agent does when it
restarts the training processes of every rank without rescheduling them. Pods on simulated
nodes run no process and are left alone. The kubelet offers this to the HyperPodPyTorchJob
operator as ``ctx.services[RESTART_IN_PLACE]`` (controllers never import the kubelet).
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from hyperpod.kubelet.processes import Attempt, attempt_numbers


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
