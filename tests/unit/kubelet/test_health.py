"""GPU health checks through the pynvml API, driven by the fake NVML; the other node checks."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hyperpod.api.health import HealthConfig, health_config, worst
from hyperpod.kubelet import health as checks
from hyperpod.kubelet.health_agent import InjectionError, parse_injection
from hyperpod.kubelet.nvml import NVML_ERROR_GPU_IS_LOST, NVML_ERROR_TIMEOUT, FakeNvml, NVMLError

CFG = HealthConfig()


def monitor(n: int = 8) -> tuple[FakeNvml, checks.GpuMonitor]:
    lib = FakeNvml(n, seed="p5-0")
    mon = checks.GpuMonitor(lib, n, CFG)
    mon.start()
    return lib, mon


def test_a_healthy_fake_gpu_set_has_no_findings() -> None:
    _, mon = monitor()
    assert mon.poll() == []


def test_an_injected_xid_arrives_as_an_nvml_event_and_sticks_until_reset() -> None:
    lib, mon = monitor()
    lib.inject_xid(3, 79)
    found = mon.poll()
    assert [(f.check, f.action) for f in found] == [("gpu-xid", "replace")]
    assert found[0].message == "XID 79 on GPU 3 (GPU has fallen off the bus)"
    assert found[0].gpu == lib.gpus[3].uuid
    assert mon.poll() == found  # sticky
    with pytest.raises(NVMLError) as err:
        lib.nvmlEventSetWait_v2(mon._events, 0)
    assert err.value.value == NVML_ERROR_TIMEOUT  # the event was consumed once
    mon.reset()
    assert mon.poll() == []


def test_reboot_xids_and_unlisted_xids_map_to_reboot_and_none() -> None:
    lib, mon = monitor()
    lib.inject_xid(0, 74)
    lib.inject_xid(1, 999)
    actions = {f.message.split(" (")[0]: f.action for f in mon.poll()}
    assert actions == {"XID 74 on GPU 0": "reboot", "XID 999 on GPU 1": "none"}


def test_volatile_ecc_marks_the_device_and_aggregate_ecc_means_replace() -> None:
    lib, mon = monitor()
    lib.inject_ecc_dbe(2)
    assert [(f.check, f.action) for f in mon.poll()] == [("gpu-ecc", "device")]
    lib.inject_ecc_dbe(2, CFG.ecc_dbe_aggregate_threshold)
    assert [(f.check, f.action) for f in mon.poll()] == [("gpu-ecc", "replace")]
    lib.reboot()  # volatile counters reset, aggregate stays
    assert [f.action for f in mon.poll()] == ["replace"]


def test_a_lost_gpu_answers_gpu_is_lost_and_means_replace() -> None:
    lib, mon = monitor(4)
    lib.lose(1)
    with pytest.raises(NVMLError) as err:
        lib.nvmlDeviceGetUUID(lib.nvmlDeviceGetHandleByIndex(1))
    assert err.value.value == NVML_ERROR_GPU_IS_LOST
    found = mon.poll()
    assert [(f.check, f.action) for f in found] == [("gpu-count", "replace")]
    assert "GPU 1" in found[0].message and "lost" in found[0].message


def test_fewer_gpus_than_expected_is_a_finding() -> None:
    lib = FakeNvml(7)
    mon = checks.GpuMonitor(lib, 8, CFG)
    mon.start()
    assert [f.message for f in mon.poll()] == ["7 GPU(s) visible, 8 expected"]


def test_a_hot_gpu_makes_the_node_unschedulable() -> None:
    lib, mon = monitor()
    lib.set_temperature(5, 95)
    assert [(f.check, f.action) for f in mon.poll()] == [("gpu-temperature", "unschedulable")]


def test_node_level_checks_use_the_configured_thresholds() -> None:
    assert checks.efa_finding(32, 32, CFG) is None
    efa = checks.efa_finding(0, 32, CFG)
    assert efa is not None and efa.action == "reboot"
    assert checks.disk_finding(50, CFG) is None
    disk = checks.disk_finding(99, CFG)
    assert disk is not None and disk.action == "unschedulable"
    assert checks.memory_finding(2, CFG) is not None
    assert checks.memory_finding(50, CFG) is None
    assert checks.kubelet_finding(None, CFG) is None
    kubelet = checks.kubelet_finding(CFG.kubelet_stale_seconds + 1, CFG)
    assert kubelet is not None and kubelet.action == "reboot"


def test_health_config_takes_camel_or_snake_case_and_rejects_unknown_fields() -> None:
    assert health_config({"pollSeconds": 2}).poll_seconds == 2
    assert health_config({"poll_seconds": 3}).poll_seconds == 3
    assert health_config(None).xid_replace == [48, 64, 79, 95]
    with pytest.raises(ValidationError):
        health_config({"pollSecs": 1})
    with pytest.raises(ValidationError):
        health_config({"eccDbeAction": "explode"})


def test_worst_action_orders_replace_over_reboot_over_unschedulable() -> None:
    assert worst(["device", "reboot", "unschedulable"]) == "reboot"
    assert worst(["reboot", "replace"]) == "replace"
    assert worst([]) == "none"


def test_injection_annotations_parse_and_bad_ones_say_why() -> None:
    assert parse_injection("gpu-xid-79:3, disk-full") == [("gpu-xid-79", 3), ("disk-full", None)]
    with pytest.raises(InjectionError, match="unknown fault 'melt'"):
        parse_injection("melt")
    with pytest.raises(InjectionError, match="not a whole number"):
        parse_injection("gpu-lost:x")


def test_injecting_into_a_gpu_that_does_not_exist_is_refused() -> None:
    lib = FakeNvml(2)
    with pytest.raises(IndexError, match="GPU 5 does not exist"):
        lib.inject_xid(5, 79)


def test_pending_row_remapping_means_reboot_and_a_failed_one_replace() -> None:
    lib, mon = monitor()
    lib.remap_rows(4)
    assert [(f.check, f.action) for f in mon.poll()] == [("gpu-remap", "reboot")]
    lib.reboot()
    assert mon.poll() == []
    lib.remap_rows(4, failure=True)
    assert [(f.check, f.action) for f in mon.poll()] == [("gpu-remap", "replace")]


def test_a_link_that_goes_down_means_reboot() -> None:
    lib, mon = monitor()
    lib.nvlink_down(6, link=3)
    found = mon.poll()
    assert [(f.check, f.action) for f in found] == [("gpu-nvlink", "reboot")]
    assert found[0].message == "GPU 6: 17 of 18 NVLinks active"


class _NoEcc(FakeNvml):
    """A board with ECC off and no temperature sensor: NVML answers NOT_SUPPORTED."""

    def nvmlDeviceGetTotalEccErrors(self, handle: int, error_type: int, counter: int) -> int:
        raise NVMLError(3)

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        raise NVMLError(3)


def test_unsupported_counters_are_not_faults() -> None:
    lib = _NoEcc(2)
    mon = checks.GpuMonitor(lib, 2, CFG)
    mon.start()
    assert mon.poll() == []
