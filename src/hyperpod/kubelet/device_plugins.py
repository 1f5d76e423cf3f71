"""Device plugins (NVIDIA GPU, AWS EFA): advertise this machine's devices on its Node.

Like the NVIDIA and EFA device plugins on EKS, this sets ``nvidia.com/gpu`` and
``vpc.amazonaws.com/efa`` in the local node's capacity and allocatable (0 when there are none),
and records the device ids in the annotation ``hyperpod.local/devices`` of the Node (with GPU
product labels like GPU feature discovery). Allocation itself happens in the kubelet
(``hyperpod.kubelet.devices``) when a pod starts, recorded on the pod. Discovery uses NVML, or
``HYPERPOD_FAKE_GPUS=N`` / ``HYPERPOD_FAKE_EFA=N`` for tests. Add-on switch: ``devicePlugins``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from hyperpod.api.instance_types import EFA, GPU
from hyperpod.apiserver.errors import ApiError, NotFound
from hyperpod.apiserver.patching import PatchType
from hyperpod.kubelet import devices as devmod
from hyperpod.runtime.context import Component, ControlPlaneContext
from hyperpod.runtime.nodes import local_config, local_node_name

log = logging.getLogger(__name__)


def node_patch(
    gpus: list[devmod.Device], efa: list[devmod.Device]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metadata patch, status patch) advertising the devices on a Node."""
    counts = {GPU: str(len(gpus)), EFA: str(len(efa))}
    labels: dict[str, Any] = {}
    if gpus:
        labels = {
            "nvidia.com/gpu.present": "true",
            "nvidia.com/gpu.count": str(len(gpus)),
            "nvidia.com/gpu.product": gpus[0].name.replace(" ", "-"),
            "nvidia.com/gpu.memory": str(gpus[0].memory_bytes // 2**20),
        }
    ids = json.dumps({GPU: [d.id for d in gpus], EFA: [d.id for d in efa]})
    meta = {"metadata": {"labels": labels, "annotations": {devmod.ANNOTATION: ids}}}
    status = {"status": {"capacity": counts, "allocatable": counts}}
    return meta, status


async def _run(ctx: ControlPlaneContext) -> None:
    if local_config(ctx.config) is None:
        return
    name = local_node_name(ctx.config)
    gpus, efa = devmod.discover_gpus(), devmod.discover_efa()
    meta, status = node_patch(gpus, efa)
    # The kubelet registers the node; advertise as soon as it exists, and again if it is recreated.
    while not ctx.stopping.is_set():
        node = ctx.reg.try_get("nodes", name)
        if node is not None:
            cap = (node.get("status") or {}).get("capacity") or {}
            if cap.get(GPU) != status["status"]["capacity"][GPU] or cap.get(EFA) is None:
                try:
                    ctx.reg.patch("nodes", name, meta, PatchType.MERGE)
                    ctx.reg.patch("nodes/status", name, status, PatchType.MERGE)
                    log.info(
                        "device plugins: %d GPU(s), %d EFA device(s) on %s",
                        len(gpus),
                        len(efa),
                        name,
                    )
                except NotFound:
                    pass
                except ApiError:
                    log.exception("device plugins: advertising devices on %s failed", name)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ctx.stopping.wait(), 0.2 if node is None else 10.0)


def component() -> Component:
    return Component(name="device-plugins", start=_run, addon="devicePlugins")
