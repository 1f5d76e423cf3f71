"""Telling a pod on this machine something through its sandbox.

Restarting a rank's processes in place is the kubelet's (``hyperpod.kubelet.restart_in_place``,
reached through ``ctx.services[RESTART_IN_PLACE]``). A spare taking over a rank is told through
its sandbox: :func:`hand_over`
writes the rank's environment to ``<sandbox>/spare-assignment.json``, which the standby program
(:mod:`hyperpod.controllers.hyperpod_job_standby`) waits for.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ASSIGNMENT = "spare-assignment.json"


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
