"""Health checks of one node: GPUs through NVML, EFA presence, disk, memory, kubelet liveness.

GPU checks: critical XID events, volatile/aggregate double-bit ECC, remapped rows (pending ->
reboot, failed -> replace), NVLinks active vs at start (fewer -> reboot), GPUs answering vs
expected, temperature. A counter the board does not support reads as 0.

Each check returns :class:`Finding` objects; what a finding means (``device``, ``unschedulable``,
``reboot``, ``replace``) comes from :class:`hyperpod.api.health.HealthConfig`. GPU checks call
only the ``pynvml`` API, so they run unchanged on a real driver and on
:class:`hyperpod.kubelet.nvml.FakeNvml`. XIDs are sticky: a GPU that reported a critical XID
stays faulty until the node is rebooted or replaced (:meth:`GpuMonitor.reset`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from hyperpod.api.health import HealthConfig

log = logging.getLogger(__name__)

XID_NAMES = {
    13: "graphics engine exception",
    31: "GPU memory page fault",
    43: "GPU stopped processing",
    45: "preemptive cleanup",
    48: "double-bit ECC error",
    63: "row remapping pending",
    64: "row remapping failure",
    74: "NVLink error",
    79: "GPU has fallen off the bus",
    94: "contained ECC error",
    95: "uncontained ECC error",
    119: "GSP RPC timeout",
    120: "GSP error",
}


@dataclass(frozen=True)
class Finding:
    check: str  # gpu-xid | gpu-ecc | gpu-count | gpu-temperature | efa | disk | memory | kubelet | node
    action: str  # none | device | unschedulable | reboot | replace
    message: str
    gpu: str | None = None  # UUID when the finding is about one GPU

    @property
    def reason(self) -> str:
        return {
            "gpu-xid": "GpuXidError",
            "gpu-ecc": "GpuEccError",
            "gpu-count": "GpuLost",
            "gpu-remap": "GpuRowRemapping",
            "gpu-nvlink": "NvLinkDown",
            "gpu-temperature": "GpuOverheated",
            "efa": "EfaDeviceMissing",
            "disk": "DiskPressure",
            "memory": "MemoryPressure",
            "kubelet": "KubeletUnhealthy",
            "node": "NodeUnresponsive",
        }.get(self.check, "HealthCheckFailed")


@dataclass
class GpuMonitor:
    """Polls one node's GPUs through an NVML library object (``pynvml`` or a fake)."""

    lib: Any
    expected: int
    config: HealthConfig
    xids: dict[int, list[int]] = field(default_factory=dict)  # index -> XIDs seen
    uuids: dict[int, str] = field(default_factory=dict)
    links: dict[int, int] = field(default_factory=dict)  # index -> NVLinks active at start
    _events: Any = None

    def _error_code(self, exc: Exception) -> int:
        return int(getattr(exc, "value", -1))

    def start(self) -> None:
        """Register for critical XID events on every GPU that answers; note its NVLinks."""
        lib = self.lib
        self._events = lib.nvmlEventSetCreate()
        for i in range(lib.nvmlDeviceGetCount()):
            try:
                h = lib.nvmlDeviceGetHandleByIndex(i)
                self.uuids[i] = str(lib.nvmlDeviceGetUUID(h))
                lib.nvmlDeviceRegisterEvents(h, lib.nvmlEventTypeXidCriticalError, self._events)
                self.links[i] = self._active_links(h)
            except lib.NVMLError as exc:
                log.warning("GPU %d: cannot register for XID events: %s", i, exc)

    def reset(self) -> None:
        self.xids.clear()

    def _drain_events(self) -> None:
        lib = self.lib
        if self._events is None:
            return
        while True:
            try:
                ev = lib.nvmlEventSetWait_v2(self._events, 0)
            except lib.NVMLError as exc:
                if self._error_code(exc) != lib.NVML_ERROR_TIMEOUT:
                    log.warning("NVML event wait failed: %s", exc)
                return
            if ev.eventType != lib.nvmlEventTypeXidCriticalError:
                continue
            index = self._index_of(ev.device)
            self.xids.setdefault(index, []).append(int(ev.eventData))

    def _index_of(self, handle: Any) -> int:
        for i in range(self.lib.nvmlDeviceGetCount()):
            try:
                if self.lib.nvmlDeviceGetHandleByIndex(i) == handle:
                    return i
            except self.lib.NVMLError:
                continue
        return -1

    def _active_links(self, handle: Any) -> int:
        lib, n = self.lib, 0
        for link in range(int(getattr(lib, "NVML_NVLINK_MAX_LINKS", 18))):
            try:
                n += int(lib.nvmlDeviceGetNvLinkState(handle, link) == lib.NVML_FEATURE_ENABLED)
            except lib.NVMLError:
                break  # no such link (or no NVLink at all)
        return n

    def _optional(self, fn: Any, *args: Any) -> int:
        """An NVML counter, or 0 where the board does not support it (ECC off, no sensor)."""
        try:
            return int(fn(*args))
        except self.lib.NVMLError as exc:
            if self._error_code(exc) != self.lib.NVML_ERROR_NOT_SUPPORTED:
                raise
            return 0

    def _remapped_rows(self, handle: Any, index: int, uuid: str | None) -> list[Finding]:
        lib = self.lib
        try:
            _, _, pending, failure = lib.nvmlDeviceGetRemappedRows(handle)
        except lib.NVMLError:
            return []  # not supported before Ampere
        return _remap_findings(bool(pending), bool(failure), index, uuid)

    def poll(self) -> list[Finding]:
        lib, cfg = self.lib, self.config
        self._drain_events()
        out: list[Finding] = []
        alive = 0
        for i in range(lib.nvmlDeviceGetCount()):
            uuid = self.uuids.get(i)
            try:
                h = lib.nvmlDeviceGetHandleByIndex(i)
                uuid = str(lib.nvmlDeviceGetUUID(h))
                self.uuids[i] = uuid
                temp = self._optional(lib.nvmlDeviceGetTemperature, h, lib.NVML_TEMPERATURE_GPU)
                ecc = lib.NVML_MEMORY_ERROR_TYPE_UNCORRECTED
                dbe_vol = self._optional(
                    lib.nvmlDeviceGetTotalEccErrors, h, ecc, lib.NVML_VOLATILE_ECC
                )
                dbe_agg = self._optional(
                    lib.nvmlDeviceGetTotalEccErrors, h, ecc, lib.NVML_AGGREGATE_ECC
                )
            except lib.NVMLError as exc:
                if self._error_code(exc) == lib.NVML_ERROR_GPU_IS_LOST:
                    out.append(
                        Finding(
                            "gpu-count",
                            cfg.gpu_count_action,
                            f"GPU {i} ({uuid or 'unknown UUID'}) is lost (NVML: GPU is lost)",
                            uuid,
                        )
                    )
                    continue
                # Any other NVML answer is not proof of a fault: count the GPU, skip its checks.
                log.warning("GPU %d: NVML query failed: %s", i, exc)
                alive += 1
                continue
            alive += 1
            out += self._gpu_findings(i, h, uuid, temp, dbe_vol, dbe_agg)
        if alive < self.expected and not any(f.check == "gpu-count" for f in out):
            out.append(
                Finding(
                    "gpu-count",
                    cfg.gpu_count_action,
                    f"{alive} GPU(s) visible, {self.expected} expected",
                )
            )
        return out

    def _gpu_findings(
        self, i: int, h: Any, uuid: str, temp: int, dbe_vol: int, dbe_agg: int
    ) -> list[Finding]:
        """What is wrong with GPU ``i`` (a visible one): remaps, NVLinks, XIDs, ECC, heat."""
        cfg = self.config
        out = self._remapped_rows(h, i, uuid)
        links = self._active_links(h)
        if links < self.links.get(i, 0):
            out.append(
                Finding(
                    "gpu-nvlink",
                    "reboot",
                    f"GPU {i}: {links} of {self.links[i]} NVLinks active",
                    uuid,
                )
            )
        for xid in self.xids.get(i, []):
            action = (
                "replace"
                if xid in cfg.xid_replace
                else "reboot"
                if xid in cfg.xid_reboot
                else "none"
            )
            name = XID_NAMES.get(xid, "unlisted XID")
            out.append(Finding("gpu-xid", action, f"XID {xid} on GPU {i} ({name})", uuid))
        if dbe_agg >= cfg.ecc_dbe_aggregate_threshold:
            out.append(
                Finding(
                    "gpu-ecc",
                    "replace",
                    f"GPU {i} has {dbe_agg} aggregate double-bit ECC errors "
                    f"(threshold {cfg.ecc_dbe_aggregate_threshold})",
                    uuid,
                )
            )
        elif dbe_vol >= cfg.ecc_dbe_volatile_threshold:
            out.append(
                Finding(
                    "gpu-ecc",
                    cfg.ecc_dbe_action,
                    f"GPU {i} has {dbe_vol} volatile double-bit ECC errors "
                    f"(threshold {cfg.ecc_dbe_volatile_threshold})",
                    uuid,
                )
            )
        if temp >= cfg.temperature_celsius:
            out.append(
                Finding(
                    "gpu-temperature",
                    "unschedulable",
                    f"GPU {i} is at {temp} C (threshold {cfg.temperature_celsius} C)",
                    uuid,
                )
            )
        return out


def _remap_findings(pending: bool, failure: bool, index: int, uuid: str | None) -> list[Finding]:
    if failure:
        return [Finding("gpu-remap", "replace", f"GPU {index}: row remapping failed", uuid)]
    if pending:
        return [Finding("gpu-remap", "reboot", f"GPU {index}: row remapping pending a reset", uuid)]
    return []


def efa_finding(present: int, expected: int, config: HealthConfig) -> Finding | None:
    if present >= expected:
        return None
    return Finding(
        "efa", config.efa_action, f"{present} EFA device(s) present, {expected} expected"
    )


def disk_finding(used_percent: float, config: HealthConfig) -> Finding | None:
    if used_percent < config.disk_used_percent:
        return None
    return Finding(
        "disk",
        "unschedulable",
        f"disk {used_percent:.0f}% used (threshold {config.disk_used_percent:.0f}%)",
    )


def memory_finding(available_percent: float, config: HealthConfig) -> Finding | None:
    if available_percent >= config.memory_available_percent:
        return None
    return Finding(
        "memory",
        "unschedulable",
        f"{available_percent:.1f}% memory available "
        f"(threshold {config.memory_available_percent:.1f}%)",
    )


def kubelet_finding(lease_age: float | None, config: HealthConfig) -> Finding | None:
    if lease_age is None or lease_age < config.kubelet_stale_seconds:
        return None
    return Finding(
        "kubelet",
        "reboot",
        f"kubelet has not renewed its Lease for {lease_age:.0f}s "
        f"(threshold {config.kubelet_stale_seconds:.0f}s)",
    )
