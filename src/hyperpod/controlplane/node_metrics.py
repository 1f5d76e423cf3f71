"""What the nodes use: cAdvisor/kubelet and DCGM-exporter families, and the resource-metrics data.

One :class:`NodeUsage` per control plane answers both ``/metrics`` (collectors below) and
``metrics.k8s.io`` (``kubectl top``). The local node's containers are sampled with psutil
(``kubelet.usage``); simulated nodes run no process, so their pods "use" what they request
(a simulation, stated in docs/observability.md). GPUs come from ``kubelet.gpu_telemetry``,
labelled with the pod holding each one.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hyperpod.api.instance_types import GPU
from hyperpod.api.wellknown import SIMULATED_LABEL
from hyperpod.controlplane.state_metrics import Snapshot, quantity
from hyperpod.kubelet import devices as devmod
from hyperpod.kubelet import gpu_telemetry
from hyperpod.kubelet.usage import UsageSampler

Obj = dict[str, Any]
_TERMINAL = ("Succeeded", "Failed")


@dataclass
class ContainerFigures:
    namespace: str
    pod: str
    container: str
    node: str
    cpu_cores: float
    cpu_seconds: float | None  # None for simulated pods (no process, no counter)
    memory_bytes: int
    window: float
    timestamp: float


def _requests(container: Obj) -> tuple[float, int]:
    req = (container.get("resources") or {}).get("requests") or {}
    return quantity(req.get("cpu", 0)), int(quantity(req.get("memory", 0)))


class NodeUsage:
    def __init__(self, reg: Snapshot, data_dir: Path, local_node: str | None) -> None:
        self.reg = reg
        self.local_node = local_node
        self.sampler = UsageSampler(data_dir)
        self.gpus: list[devmod.Device] = devmod.discover_gpus() if local_node else []
        self.fake_gpus = bool(self.gpus) and self.gpus[0].id.startswith("GPU-00000000-fake")

    def _live_pods(self) -> list[Obj]:
        return [
            p
            for p in self.reg.list("pods")
            if (p.get("spec") or {}).get("nodeName")
            and (p.get("status") or {}).get("phase") not in _TERMINAL
        ]

    def containers(self, pods: list[Obj] | None = None) -> list[ContainerFigures]:
        pods = self._live_pods() if pods is None else pods
        now = time.time()
        simulated = {
            n["metadata"]["name"]
            for n in self.reg.list("nodes")
            if (n["metadata"].get("labels") or {}).get(SIMULATED_LABEL) == "true"
        }
        local = [p for p in pods if p["spec"].get("nodeName") == self.local_node]
        sampled = self.sampler.containers(local)
        out: list[ContainerFigures] = []
        for pod in pods:
            meta, node = pod["metadata"], pod["spec"]["nodeName"]
            ns, name = meta.get("namespace", ""), meta["name"]
            for c in pod["spec"].get("containers") or []:
                if node == self.local_node:
                    u = sampled.get((meta.get("uid", ""), c.get("name", "")))
                    if u is None:
                        continue
                    out.append(
                        ContainerFigures(
                            ns,
                            name,
                            c["name"],
                            node,
                            u.cpu_cores,
                            u.cpu_seconds,
                            u.memory_bytes,
                            u.window,
                            now,
                        )
                    )
                elif node in simulated and (pod.get("status") or {}).get("phase") == "Running":
                    cpu, mem = _requests(c)
                    out.append(
                        ContainerFigures(ns, name, c["name"], node, cpu, None, mem, 15.0, now)
                    )
        self.sampler.forget_processes()
        return out

    def nodes(
        self, figures: list[ContainerFigures] | None = None
    ) -> list[tuple[str, float, int, float]]:
        """(node, cores used, memory bytes used, window) for every Ready-able node."""
        figures = self.containers() if figures is None else figures
        out: list[tuple[str, float, int, float]] = []
        for node in self.reg.list("nodes"):
            name = node["metadata"]["name"]
            if name == self.local_node:
                u = self.sampler.node()
                out.append((name, u.cpu_cores, u.memory_bytes, u.window))
                continue
            mine = [f for f in figures if f.node == name]
            out.append(
                (name, sum(f.cpu_cores for f in mine), sum(f.memory_bytes for f in mine), 15.0)
            )
        return out

    def gpu_samples(
        self, figures: list[ContainerFigures], pods: list[Obj]
    ) -> list[tuple[gpu_telemetry.GpuSample, tuple[str, str, str]]]:
        """GPU samples with the (namespace, pod, container) holding each GPU ('' when free)."""
        if not self.gpus:
            return []
        holders: dict[str, tuple[str, str, str]] = {}
        for pod in pods:
            if pod["spec"].get("nodeName") != self.local_node:
                continue
            for cname, res in devmod.allocation_of(pod).items():
                for uuid in res.get(GPU) or []:
                    holders[uuid] = (
                        pod["metadata"].get("namespace", ""),
                        pod["metadata"]["name"],
                        cname,
                    )
        by_container = {(f.namespace, f.pod, f.container): f for f in figures}
        if self.fake_gpus:
            samples = []
            for dev in self.gpus:
                f = by_container.get(holders.get(dev.id, ("", "", "")))
                samples.append(
                    gpu_telemetry.fake_sample(
                        dev, f.cpu_cores if f else 0.0, f.memory_bytes if f else 0
                    )
                )
        else:
            samples = gpu_telemetry.nvml_samples(self.gpus)
        return [(s, holders.get(s.device.id, ("", "", ""))) for s in samples]


class NodeCollector(Collector):
    """cAdvisor (``container_*``), kubelet (``kubelet_running_pods``) and DCGM (``DCGM_FI_DEV_*``)."""

    def __init__(self, usage: NodeUsage) -> None:
        self.usage = usage

    def collect(self) -> Iterable[Metric]:
        u = self.usage
        pods = u._live_pods()
        figures = u.containers(pods)
        labels = ["namespace", "pod", "container", "node"]
        cpu = CounterMetricFamily(
            "container_cpu_usage_seconds",
            "Cumulative cpu time consumed by the container in core-seconds",
            labels=labels,
        )
        mem = GaugeMetricFamily(
            "container_memory_working_set_bytes",
            "Current working set of the container in bytes",
            labels=labels,
        )
        for f in figures:
            values = [f.namespace, f.pod, f.container, f.node]
            mem.add_metric(values, f.memory_bytes)
            if f.cpu_seconds is not None:
                cpu.add_metric(values, f.cpu_seconds)
        yield cpu
        yield mem
        running = GaugeMetricFamily(
            "kubelet_running_pods",
            "Number of pods that have a running pod sandbox",
            labels=["node"],
        )
        per_node: dict[str, int] = {}
        for p in pods:
            if (p.get("status") or {}).get("phase") == "Running":
                per_node[p["spec"]["nodeName"]] = per_node.get(p["spec"]["nodeName"], 0) + 1
        for node, n in sorted(per_node.items()):
            running.add_metric([node], n)
        yield running
        yield from self._gpus(figures, pods)

    def _gpus(self, figures: list[ContainerFigures], pods: list[Obj]) -> Iterable[Metric]:
        samples = self.usage.gpu_samples(figures, pods)
        if not samples:
            return
        labels = ["gpu", "UUID", "device", "modelName", "Hostname", "namespace", "pod", "container"]
        fams = {
            "util": GaugeMetricFamily(
                "DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", labels=labels
            ),
            "fb_used": GaugeMetricFamily(
                "DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", labels=labels
            ),
            "fb_free": GaugeMetricFamily(
                "DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).", labels=labels
            ),
            "temp": GaugeMetricFamily(
                "DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C).", labels=labels
            ),
            "power": GaugeMetricFamily(
                "DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", labels=labels
            ),
            "xid": GaugeMetricFamily(
                "DCGM_FI_DEV_XID_ERRORS", "Value of the last XID error encountered.", labels=labels
            ),
            "ecc": GaugeMetricFamily(
                "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL",
                "Total number of double-bit volatile ECC errors.",
                labels=labels,
            ),
        }
        host = self.usage.local_node or ""
        for s, (ns, pod, container) in samples:
            d = s.device
            values = [str(d.index), d.id, f"nvidia{d.index}", d.name, host, ns, pod, container]
            fams["util"].add_metric(values, s.util)
            fams["fb_used"].add_metric(values, s.fb_used_mib)
            fams["fb_free"].add_metric(values, s.fb_free_mib)
            fams["temp"].add_metric(values, s.temp_c)
            fams["power"].add_metric(values, s.power_w)
            fams["xid"].add_metric(values, s.xid)
            fams["ecc"].add_metric(values, s.ecc_dbe)
        yield from fams.values()
