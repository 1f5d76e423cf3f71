"""Devices of this machine (GPUs through NVML, EFA adapters) and their exclusive allocation.

Discovery: ``HYPERPOD_FAKE_GPUS=N`` (tests, CI) fakes N GPUs with stable UUIDs; otherwise NVML
(``nvidia-ml-py``) when a driver is loaded; otherwise none. EFA adapters are the entries of
``/sys/class/infiniband`` whose driver is ``efa`` (``HYPERPOD_FAKE_EFA=N`` fakes them).

Allocation is recorded on the pod in the annotation ``hyperpod.local/devices``
(``{"<container>": {"nvidia.com/gpu": ["GPU-..."], "vpc.amazonaws.com/efa": ["efa0"]}}``),
so it lives in the API's storage and survives a control-plane restart; devices held by
non-terminal pods of the node are never handed out twice.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperpod.api.instance_types import EFA, GPU
from hyperpod.kubelet.nvml import fake_uuid

log = logging.getLogger(__name__)
ANNOTATION = "hyperpod.local/devices"
DEVICE_RESOURCES = (GPU, EFA)

Allocation = dict[str, dict[str, list[str]]]  # container -> resource -> device ids


@dataclass(frozen=True)
class Device:
    id: str  # GPU UUID or EFA device name
    index: int
    name: str = ""
    memory_bytes: int = 0


def _fake_count(name: str, value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = -1
    if n < 0:
        log.error("%s=%r is not a whole number of devices; faking none", name, value)
        return 0
    return n


def discover_gpus(env: Mapping[str, str] | None = None) -> list[Device]:
    env = os.environ if env is None else env
    fake = env.get("HYPERPOD_FAKE_GPUS")
    if fake:
        n = _fake_count("HYPERPOD_FAKE_GPUS", fake)
        return [Device(fake_uuid(i), i, "Fake NVIDIA H100", 80 << 30) for i in range(n)]
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver: NVMLError_LibraryNotFound / DriverNotLoaded
        return []
    try:
        out = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            uuid = pynvml.nvmlDeviceGetUUID(h)
            name = pynvml.nvmlDeviceGetName(h)
            mem = pynvml.nvmlDeviceGetMemoryInfo(h).total
            out.append(
                Device(
                    uuid.decode() if isinstance(uuid, bytes) else str(uuid),
                    i,
                    name.decode() if isinstance(name, bytes) else str(name),
                    int(mem),
                )
            )
        return out
    finally:
        pynvml.nvmlShutdown()


def discover_efa(
    env: Mapping[str, str] | None = None, root: Path = Path("/sys/class/infiniband")
) -> list[Device]:
    env = os.environ if env is None else env
    fake = env.get("HYPERPOD_FAKE_EFA")
    if fake:
        return [Device(f"efa{i}", i) for i in range(_fake_count("HYPERPOD_FAKE_EFA", fake))]
    out: list[Device] = []
    try:
        entries = sorted(os.listdir(root))
    except OSError:
        return []
    for name in entries:
        driver = root / name / "device" / "driver"
        try:
            if os.path.basename(os.readlink(driver)) == "efa":
                out.append(Device(name, len(out)))
        except OSError:
            continue
    return out


def allocation_of(pod: Mapping[str, Any]) -> Allocation:
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION)
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def device_requests(container: Mapping[str, Any]) -> dict[str, int]:
    res = container.get("resources") or {}
    merged = dict(res.get("limits") or {})
    merged.update(res.get("requests") or {})
    out = {}
    for r in DEVICE_RESOURCES:
        if r in merged:
            n = int(str(merged[r]))
            if n > 0:
                out[r] = n
    return out


class InsufficientDevices(Exception):
    """More devices requested than are free (UnexpectedAdmissionError in Kubernetes)."""


def allocate(
    pod: Mapping[str, Any], devices: Mapping[str, list[Device]], in_use: Iterable[str]
) -> Allocation:
    """Exclusive devices for each container of ``pod`` (init containers may reuse them)."""
    busy = set(in_use)
    spec = pod.get("spec") or {}
    result: Allocation = {}
    taken: set[str] = set()
    for c in spec.get("containers") or []:
        for res, n in device_requests(c).items():
            free = [d.id for d in devices.get(res, []) if d.id not in busy and d.id not in taken]
            if len(free) < n:
                raise InsufficientDevices(
                    f"Allocate failed due to requested number of devices unavailable for "
                    f"{res}. Requested: {n}, Available: {len(free)}"
                )
            result.setdefault(c["name"], {})[res] = free[:n]
            taken.update(free[:n])
    # Init containers run before the app containers: they may use the pod's devices again.
    pool = sorted(taken)
    for c in spec.get("initContainers") or []:
        for res, n in device_requests(c).items():
            ids = [d.id for d in devices.get(res, []) if d.id in pool or d.id not in busy]
            if len(ids) < n:
                raise InsufficientDevices(
                    f"Allocate failed due to requested number of devices unavailable for "
                    f"{res}. Requested: {n}, Available: {len(ids)}"
                )
            result.setdefault(c["name"], {})[res] = ids[:n]
    return result


def device_env(
    allocation: Mapping[str, list[str]], devices: Mapping[str, list[Device]]
) -> dict[str, str]:
    """Variables a container gets from the device plugins.

    On a node with GPUs a container sees only its own (none when it requested none), like the
    NVIDIA device plugin: ``CUDA_VISIBLE_DEVICES`` holds host indices (nothing remaps them
    locally), ``NVIDIA_VISIBLE_DEVICES`` the UUIDs. ``FI_PROVIDER=efa`` only with EFA devices.
    """
    env: dict[str, str] = {}
    gpus = devices.get(GPU, [])
    if gpus:
        ids = allocation.get(GPU, [])
        index = {d.id: d.index for d in gpus}
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(index[i]) for i in ids if i in index)
        env["NVIDIA_VISIBLE_DEVICES"] = ",".join(ids) if ids else "void"
    efa = allocation.get(EFA, [])
    if efa:
        env["FI_PROVIDER"] = "efa"
        env["HYPERPOD_EFA_DEVICES"] = ",".join(efa)
    return env
