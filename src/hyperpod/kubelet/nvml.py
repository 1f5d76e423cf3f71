"""The NVML layer the health agent reads GPUs through: real ``pynvml``, or a fake with the same API.

:class:`FakeNvml` implements the subset of ``pynvml`` functions the agent calls (same names,
same argument order, same return shapes, errors as ``NVMLError`` with ``.value`` set to NVML's
return codes). Faults injected into it (:meth:`FakeNvml.inject_xid`, :meth:`FakeNvml.inject_ecc_dbe`,
:meth:`FakeNvml.lose`) surface only through those functions: an XID arrives as an event from
``nvmlEventSetWait_v2``, a lost GPU answers ``NVML_ERROR_GPU_IS_LOST``. So the agent code that
runs against a real driver is the code the tests drive. This is a testing tool; a real
machine's NVML is never altered.
"""

from __future__ import annotations

import os
import zlib
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_TIMEOUT = 10
NVML_ERROR_GPU_IS_LOST = 15
NVML_TEMPERATURE_GPU = 0
NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1
NVML_VOLATILE_ECC = 0
NVML_AGGREGATE_ECC = 1
NVML_NVLINK_MAX_LINKS = 36
NVML_FEATURE_DISABLED, NVML_FEATURE_ENABLED = 0, 1
nvmlEventTypeXidCriticalError = 8


def fake_uuid(index: int, seed: str = "") -> str:
    """Stable fake GPU UUIDs (``seed`` distinguishes simulated nodes; "" is the local node)."""
    if not seed:
        return f"GPU-00000000-fake-4000-8000-{index:012d}"
    tag = f"{zlib.crc32(seed.encode()):08x}"
    return f"GPU-{tag}-fake-4000-8000-{index:012d}"


class NVMLError(Exception):
    """Same shape as ``pynvml.NVMLError``: the NVML return code is in ``value``."""

    def __init__(self, value: int) -> None:
        super().__init__(f"NVML error {value}")
        self.value = value


@dataclass
class _Gpu:
    uuid: str
    temperature: int = 35
    dbe_volatile: int = 0
    dbe_aggregate: int = 0
    lost: bool = False
    remap_pending: bool = False
    remap_failure: bool = False
    nvlinks: list[bool] = field(default_factory=list)  # per link: active


@dataclass
class EventData:
    """``c_nvmlEventData_t`` fields the agent reads."""

    device: Any
    eventType: int
    eventData: int


@dataclass
class _EventSet:
    devices: set[int] = field(default_factory=set)


class FakeNvml:
    """A pynvml-compatible fake with ``count`` GPUs."""

    NVMLError = NVMLError
    NVML_ERROR_TIMEOUT = NVML_ERROR_TIMEOUT
    NVML_ERROR_GPU_IS_LOST = NVML_ERROR_GPU_IS_LOST
    NVML_ERROR_NOT_SUPPORTED = NVML_ERROR_NOT_SUPPORTED
    NVML_TEMPERATURE_GPU = NVML_TEMPERATURE_GPU
    NVML_MEMORY_ERROR_TYPE_UNCORRECTED = NVML_MEMORY_ERROR_TYPE_UNCORRECTED
    NVML_VOLATILE_ECC = NVML_VOLATILE_ECC
    NVML_AGGREGATE_ECC = NVML_AGGREGATE_ECC
    NVML_NVLINK_MAX_LINKS = NVML_NVLINK_MAX_LINKS
    NVML_FEATURE_ENABLED = NVML_FEATURE_ENABLED
    nvmlEventTypeXidCriticalError = nvmlEventTypeXidCriticalError

    def __init__(self, count: int, seed: str = "", nvlinks: int = 18) -> None:
        self.gpus = [_Gpu(fake_uuid(i, seed), nvlinks=[True] * nvlinks) for i in range(count)]
        self.events: deque[EventData] = deque()
        self.sets: list[_EventSet] = []

    # -- injection (testing only) -------------------------------------------------------
    def _check(self, index: int) -> _Gpu:
        if not 0 <= index < len(self.gpus):
            raise IndexError(f"GPU {index} does not exist (this node has {len(self.gpus)})")
        return self.gpus[index]

    def inject_xid(self, index: int, xid: int) -> None:
        self._check(index)
        if any(index in s.devices for s in self.sets):
            self.events.append(EventData(index, nvmlEventTypeXidCriticalError, xid))

    def inject_ecc_dbe(self, index: int, count: int = 1) -> None:
        gpu = self._check(index)
        gpu.dbe_volatile += count
        gpu.dbe_aggregate += count

    def remap_rows(self, index: int, *, failure: bool = False) -> None:
        """A row remapping pending (cleared by a reset) or failed (permanent)."""
        gpu = self._check(index)
        gpu.remap_pending = True
        gpu.remap_failure = gpu.remap_failure or failure

    def nvlink_down(self, index: int, link: int = 0) -> None:
        self._check(index).nvlinks[link] = False

    def lose(self, index: int) -> None:
        self._check(index).lost = True

    def set_temperature(self, index: int, celsius: int) -> None:
        self._check(index).temperature = celsius

    def reboot(self) -> None:
        """What a reboot clears: volatile counters, lost devices back, pending events."""
        for gpu in self.gpus:
            gpu.dbe_volatile = 0
            gpu.lost = False
            gpu.remap_pending = False
            gpu.nvlinks = [True] * len(gpu.nvlinks)
        self.events.clear()

    # -- the pynvml API subset -----------------------------------------------------------
    def nvmlInit(self) -> None:
        return None

    def nvmlShutdown(self) -> None:
        return None

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        if not 0 <= index < len(self.gpus):
            raise NVMLError(2)  # NVML_ERROR_INVALID_ARGUMENT
        return index

    def _alive(self, handle: int) -> _Gpu:
        gpu = self.gpus[handle]
        if gpu.lost:
            raise NVMLError(NVML_ERROR_GPU_IS_LOST)
        return gpu

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        return self._alive(handle).uuid

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        del sensor  # pynvml's signature; a fake device has one sensor
        return self._alive(handle).temperature

    def nvmlDeviceGetTotalEccErrors(self, handle: int, error_type: int, counter: int) -> int:
        gpu = self._alive(handle)
        if error_type != NVML_MEMORY_ERROR_TYPE_UNCORRECTED:
            return 0
        return gpu.dbe_volatile if counter == NVML_VOLATILE_ECC else gpu.dbe_aggregate

    def nvmlDeviceGetRemappedRows(self, handle: int) -> tuple[int, int, int, int]:
        """(correctable rows, uncorrectable rows, pending, failure), as pynvml returns them."""
        gpu = self._alive(handle)
        return (0, int(gpu.remap_pending), int(gpu.remap_pending), int(gpu.remap_failure))

    def nvmlDeviceGetNvLinkState(self, handle: int, link: int) -> int:
        gpu = self._alive(handle)
        if link >= len(gpu.nvlinks):
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)  # a link this board does not have
        return NVML_FEATURE_ENABLED if gpu.nvlinks[link] else NVML_FEATURE_DISABLED

    def nvmlEventSetCreate(self) -> _EventSet:
        s = _EventSet()
        self.sets.append(s)
        return s

    def nvmlDeviceRegisterEvents(self, handle: int, types: int, event_set: _EventSet) -> None:
        self._alive(handle)
        event_set.devices.add(handle)

    def nvmlEventSetWait_v2(self, event_set: _EventSet, timeout_ms: int) -> EventData:
        del timeout_ms  # pynvml's signature; the fake answers at once
        for ev in list(self.events):
            if ev.device in event_set.devices:
                self.events.remove(ev)
                return ev
        raise NVMLError(NVML_ERROR_TIMEOUT)

    def nvmlEventSetFree(self, event_set: _EventSet) -> None:
        if event_set in self.sets:
            self.sets.remove(event_set)


def load(env: Mapping[str, str] | None = None) -> Any | None:
    """The local machine's NVML: a :class:`FakeNvml` under ``HYPERPOD_FAKE_GPUS``, else ``pynvml``
    when a driver answers, else None (no GPUs)."""
    env = os.environ if env is None else env
    fake = env.get("HYPERPOD_FAKE_GPUS")
    if fake:
        try:
            return FakeNvml(max(0, int(fake)))
        except ValueError:
            return FakeNvml(0)
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver
        return None
    return pynvml
