"""GPU telemetry per device, read from NVML when asked; fake GPUs derive theirs from their holder.

Real GPUs (``nvidia-ml-py``): utilisation, framebuffer used/free, temperature, power, and the
volatile double-bit ECC count. NVML reports XIDs only as events, so ``xid`` is the last XID the
health agent recorded (0 when none).

Fake GPUs (``HYPERPOD_FAKE_GPUS=N``, tests and CI) have no hardware, so their figures follow
the container that holds them, as a stand-in that moves when the job works: utilisation is the
holder's CPU use (cores x 100, at most 100), framebuffer used is its resident memory (at most the
card's), temperature ``30 + 0.4 x util`` C, power ``60 + 6 x util`` W; an idle card reads 0 %,
30 C, 60 W.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hyperpod.kubelet.devices import Device


@dataclass
class GpuSample:
    device: Device
    util: float  # percent
    fb_used_mib: float
    fb_free_mib: float
    temp_c: float
    power_w: float
    xid: int = 0
    ecc_dbe: int = 0


def fake_sample(device: Device, cpu_cores: float, rss_bytes: int) -> GpuSample:
    util = max(0.0, min(100.0, cpu_cores * 100.0))
    total_mib = device.memory_bytes / (1 << 20)
    used = min(total_mib, rss_bytes / (1 << 20))
    return GpuSample(device, util, used, total_mib - used, 30.0 + 0.4 * util, 60.0 + 6.0 * util)


def nvml_samples(devices: list[Device]) -> list[GpuSample]:
    """Samples of real GPUs through NVML; [] when NVML cannot be used."""
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except Exception:
        return []
    out: list[GpuSample] = []
    try:
        for dev in devices:
            try:
                h: Any = pynvml.nvmlDeviceGetHandleByIndex(dev.index)
                util = pynvml.nvmlDeviceGetUtilizationRates(h).gpu
                mem = pynvml.nvmlDeviceGetMemoryInfo(h)
                temp = pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU)
                power = pynvml.nvmlDeviceGetPowerUsage(h) / 1000.0
            except Exception:
                continue
            try:
                ecc = int(
                    pynvml.nvmlDeviceGetTotalEccErrors(
                        h, pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, pynvml.NVML_VOLATILE_ECC
                    )
                )
            except Exception:  # ECC off or unsupported on this card
                ecc = 0
            out.append(
                GpuSample(
                    dev,
                    float(util),
                    mem.used / (1 << 20),
                    mem.free / (1 << 20),
                    float(temp),
                    power,
                    ecc_dbe=ecc,
                )
            )
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass
    return out
