"""Device discovery (fake NVML) and exclusive allocation."""

from __future__ import annotations

from pathlib import Path

import pytest

from hyperpod.kubelet.devices import (
    InsufficientDevices,
    allocate,
    device_env,
    discover_efa,
    discover_gpus,
)


def pod(*gpus: int, efa: int = 0) -> dict:
    cs = []
    for i, n in enumerate(gpus):
        limits = {"nvidia.com/gpu": str(n)}
        if efa:
            limits["vpc.amazonaws.com/efa"] = str(efa)
        cs.append({"name": f"c{i}", "resources": {"limits": limits}})
    return {"spec": {"containers": cs}}


def test_fake_gpus_are_discovered_from_the_environment() -> None:
    gpus = discover_gpus({"HYPERPOD_FAKE_GPUS": "2"})
    assert [g.index for g in gpus] == [0, 1] and gpus[0].id.startswith("GPU-")
    assert discover_efa({"HYPERPOD_FAKE_EFA": "1"})[0].id == "efa0"


def test_devices_are_exclusive_per_container_and_per_pod() -> None:
    devs = {"nvidia.com/gpu": discover_gpus({"HYPERPOD_FAKE_GPUS": "4"})}
    first = allocate(pod(1, 2), devs, [])
    ids = first["c0"]["nvidia.com/gpu"] + first["c1"]["nvidia.com/gpu"]
    assert len(set(ids)) == 3
    second = allocate(pod(1), devs, ids)
    assert second["c0"]["nvidia.com/gpu"][0] not in ids
    with pytest.raises(InsufficientDevices, match="Requested: 2, Available: 1"):
        allocate(pod(2), devs, ids)


def test_visible_devices_follow_the_allocation() -> None:
    gpus = discover_gpus({"HYPERPOD_FAKE_GPUS": "4"})
    devs = {"nvidia.com/gpu": gpus}
    env = device_env({"nvidia.com/gpu": [gpus[2].id, gpus[3].id]}, devs)
    assert env["CUDA_VISIBLE_DEVICES"] == "2,3"
    assert env["NVIDIA_VISIBLE_DEVICES"] == f"{gpus[2].id},{gpus[3].id}"
    assert "FI_PROVIDER" not in env
    assert device_env({}, devs)["CUDA_VISIBLE_DEVICES"] == ""
    assert device_env({"vpc.amazonaws.com/efa": ["efa0"]}, {})["FI_PROVIDER"] == "efa"
    assert device_env({}, {}) == {}


def test_nvml_devices_are_read_through_pynvml(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    fake = types.ModuleType("pynvml")
    calls: list[str] = []

    class Mem:
        total = 80 * 2**30

    fake.nvmlInit = lambda: calls.append("init")  # type: ignore[attr-defined]
    fake.nvmlShutdown = lambda: calls.append("shutdown")  # type: ignore[attr-defined]
    fake.nvmlDeviceGetCount = lambda: 2  # type: ignore[attr-defined]
    fake.nvmlDeviceGetHandleByIndex = lambda i: i  # type: ignore[attr-defined]
    fake.nvmlDeviceGetUUID = lambda h: f"GPU-real-{h}".encode()  # type: ignore[attr-defined]
    fake.nvmlDeviceGetName = lambda h: "NVIDIA H100 80GB HBM3"  # type: ignore[attr-defined]
    fake.nvmlDeviceGetMemoryInfo = lambda h: Mem()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    gpus = discover_gpus({})
    assert [(g.id, g.index, g.name) for g in gpus] == [
        ("GPU-real-0", 0, "NVIDIA H100 80GB HBM3"),
        ("GPU-real-1", 1, "NVIDIA H100 80GB HBM3"),
    ]
    assert calls == ["init", "shutdown"]


def test_no_driver_means_no_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    fake = types.ModuleType("pynvml")

    def fail() -> None:
        raise RuntimeError("NVML Shared Library Not Found")

    fake.nvmlInit = fail  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    assert discover_gpus({}) == []


def test_efa_adapters_are_the_infiniband_devices_bound_to_the_efa_driver(tmp_path: Path) -> None:
    drivers = tmp_path / "drivers"
    (drivers / "efa").mkdir(parents=True)
    (drivers / "mlx5_core").mkdir()
    for name, driver in (("rdmap0s6", "efa"), ("mlx5_0", "mlx5_core"), ("rdmap1s6", "efa")):
        (tmp_path / "ib" / name / "device").mkdir(parents=True)
        (tmp_path / "ib" / name / "device" / "driver").symlink_to(drivers / driver)
    assert [d.id for d in discover_efa({}, tmp_path / "ib")] == ["rdmap0s6", "rdmap1s6"]
    assert discover_efa({}, tmp_path / "absent") == []


def test_a_bad_fake_count_fakes_nothing_instead_of_crashing() -> None:
    assert discover_gpus({"HYPERPOD_FAKE_GPUS": "two"}) == []
