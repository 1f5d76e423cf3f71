"""Resource limits of OCI containers as cgroup limits (memory, cpu, pids).

A container's ``resources.limits.memory`` becomes a memory cgroup limit, its cpu limit a CFS
quota (period 100 ms) and its cpu request cpu shares, as the kubelet sets them; the pod
annotation ``hyperpod.local/pids-limit`` caps its number of processes (Kubernetes sets that
node-wide with ``podPidsLimit``). runc applies them from the spec's ``linux.resources``, in a
cgroup named relative to runc's own (``hyperpod/<container id>/ctr``), so containers stay inside
whatever cgroup the control plane itself was put in.

On the cgroup v1 layout (what this machine has) the memory limit is set on the parent
``hyperpod/<container id>`` that the kubelet makes, not in the spec: runc removes its own cgroup
when the container ends, and the parent's ``memory.failcnt`` then still tells whether the
container ran into its limit, so an exit by SIGKILL after that is reported as ``OOMKilled``.
With cgroup v2 runc gets the memory limit in the spec and an OOM kill reads as exit 137
(``Error``): that layout is not tested here.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperpod.apiserver.quantity import bytes_of, cpu_millis

ROOT = Path("/sys/fs/cgroup")
PIDS_ANNOTATION = "hyperpod.local/pids-limit"
PERIOD_US = 100_000


class LimitError(Exception):
    """A limit that cannot be applied; the message names the field."""


@dataclass(frozen=True)
class Limits:
    memory: int | None = None
    cpu_quota: int | None = None  # microseconds per PERIOD_US
    cpu_shares: int | None = None
    pids: int | None = None


def layout(root: Path = ROOT) -> str:
    """``v2`` (unified), ``v1`` (a memory controller hierarchy) or ``none``."""
    if (root / "cgroup.controllers").is_file():
        return "v2"
    if (root / "memory" / "memory.limit_in_bytes").is_file():
        return "v1"
    return "none"


def limits_for(container: Mapping[str, Any], pod: Mapping[str, Any]) -> Limits:
    resources = container.get("resources") or {}
    limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
    memory = bytes_of(limits["memory"]) if "memory" in limits else None
    cpu_limit = cpu_millis(limits["cpu"]) if "cpu" in limits else None
    cpu_request = requests.get("cpu", limits.get("cpu"))
    shares = max(2, cpu_millis(cpu_request) * 1024 // 1000) if cpu_request is not None else None
    quota = max(1000, cpu_limit * PERIOD_US // 1000) if cpu_limit else None
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(PIDS_ANNOTATION)
    pids = None
    if raw is not None:
        try:
            pids = int(str(raw))
        except ValueError:
            pids = 0
        if pids <= 0:
            raise LimitError(
                f"annotation {PIDS_ANNOTATION}: {raw!r} is not a positive number of processes"
            )
    return Limits(int(memory) if memory else None, quota, shares, pids)


def _own(hierarchy: str) -> str:
    """This process's cgroup path in a hierarchy mounted at ``ROOT/<hierarchy>`` ("/" if none).

    ``hierarchy`` is a v1 controller (``memory``), a named hierarchy (``systemd`` for
    ``name=systemd``) or ``unified`` (the v2 hierarchy of a hybrid layout, ``0::``).
    """
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, names, path = line.split(":", 2)
            listed = names.split(",")
            if hierarchy in listed or f"name={hierarchy}" in listed:
                return path
            if hierarchy == "unified" and names == "":
                return path
    return "/"


@dataclass(frozen=True)
class Setup:
    cgroups_path: str  # relative: under runc's own cgroup
    resources: dict[str, Any]
    memory_dir: str  # the v1 parent holding the memory limit ("" when none)


def setup(container_id: str, limits: Limits, root: Path = ROOT) -> Setup:
    """The spec's cgroupsPath and linux.resources; on v1 also the parent with the memory limit."""
    resources: dict[str, Any] = {}
    if limits.cpu_quota or limits.cpu_shares:
        cpu: dict[str, Any] = {}
        if limits.cpu_shares:
            cpu["shares"] = limits.cpu_shares
        if limits.cpu_quota:
            cpu.update(quota=limits.cpu_quota, period=PERIOD_US)
        resources["cpu"] = cpu
    if limits.pids:
        resources["pids"] = {"limit": limits.pids}
    kind = layout(root)
    if kind != "v1":
        if limits.memory:
            resources["memory"] = {"limit": limits.memory}
        return Setup(f"hyperpod/{container_id}", resources, "")
    memory_dir = ""
    if limits.memory:
        parent = root / "memory" / _own("memory").lstrip("/") / "hyperpod" / container_id
        try:
            parent.mkdir(parents=True, exist_ok=True)
            (parent / "memory.limit_in_bytes").write_text(str(limits.memory))
        except OSError as exc:
            raise LimitError(f"cannot set the memory limit in {parent}: {exc}") from exc
        memory_dir = str(parent)
    return Setup(f"hyperpod/{container_id}/ctr", resources, memory_dir)


def hit_memory_limit(memory_dir: str) -> bool:
    """Whether the container's memory ran into its limit (v1 parent's failcnt)."""
    if not memory_dir:
        return False
    try:
        return int((Path(memory_dir) / "memory.failcnt").read_text().strip() or 0) > 0
    except (OSError, ValueError):
        return False


def cleanup(container_id: str, root: Path = ROOT) -> None:
    """Remove the cgroups left after runc deleted its own (the parents it or we made)."""
    if layout(root) == "v1":
        # Every hierarchy runc made the path in: controllers, name=systemd, the hybrid unified.
        with contextlib.suppress(OSError):
            for mount in root.iterdir():
                base = root / mount.name / _own(mount.name).lstrip("/") / "hyperpod" / container_id
                for d in (base / "ctr", base):
                    with contextlib.suppress(OSError):
                        os.rmdir(d)
    else:
        with contextlib.suppress(OSError):
            os.rmdir(root / "hyperpod" / container_id)
