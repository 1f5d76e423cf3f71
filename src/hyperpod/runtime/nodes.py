"""Node objects: the local machine's Node, simulated (kwok-like) Nodes, and their Lease heartbeats.

The local node is named after the host (``nodes.local.name`` overrides), with capacity from
psutil (cpu, memory, ephemeral-storage of the data directory's disk, 110 pods; entries of
``nodes.local.capacity`` override them, e.g. ``{cpu: "16"}`` to oversubscribe); the device
plugins add ``nvidia.com/gpu`` and ``vpc.amazonaws.com/efa``. Simulated nodes come from
``nodes.simulated`` in the cluster config: ``count`` nodes named ``<group>-<i>`` with the
capacity of their instance type, labelled ``type=kwok`` and ``hyperpod.local/simulated=true``,
with ``topology.k8s.aws/network-node-layer-{1,2,3}`` labels (:func:`topology_labels`), GPUs split
into MIG partitions when the group names a ``migProfile``, and no taint. Every node renews a Lease in ``kube-node-lease`` (the heartbeat the node lifecycle
controller watches).
"""

from __future__ import annotations

import os
import platform
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psutil

from hyperpod import __version__
from hyperpod.api import accelerator_partitions as partitions
from hyperpod.api import instance_types, topology
from hyperpod.api import wellknown as wk
from hyperpod.api.controlplane_config import ControlPlaneConfig, LocalNodeConfig
from hyperpod.api.wellknown import DEEP_HEALTH_LABEL as DEEP_HEALTH_LABEL
from hyperpod.api.wellknown import GROUP_LABEL as GROUP_LABEL
from hyperpod.api.wellknown import HEALTH_LABEL as HEALTH_LABEL
from hyperpod.api.wellknown import INSTANCE_TYPE_LABEL as INSTANCE_TYPE_LABEL
from hyperpod.api.wellknown import SIMULATED_LABEL as SIMULATED_LABEL
from hyperpod.apiserver.errors import AlreadyExists, NotFound
from hyperpod.apiserver.metadata import micro_now, now_rfc3339
from hyperpod.apiserver.patching import PatchType
from hyperpod.apiserver.quantity import parse_quantity
from hyperpod.apiserver.registry import Registry

Obj = dict[str, Any]
LEASE_NS = "kube-node-lease"
LEASE_SECONDS = 40
TOPOLOGY_PREFIX = topology.LAYER_PREFIX
# The typed config, or a document to load into it (tests and benchmarks pass dicts).
ConfigLike = ControlPlaneConfig | Mapping[str, Any]


def local_config(config: ConfigLike) -> LocalNodeConfig | None:
    """``nodes.local`` of the cluster config; None when the local node is switched off."""
    return ControlPlaneConfig.of(config).local_node()


def local_node_name(config: ConfigLike) -> str:
    local = local_config(config)
    name = local.name if local is not None else None
    return name or socket.gethostname().split(".")[0].lower()


def _arch() -> str:
    m = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(m, m)


def ready_conditions(now: str | None = None) -> list[Obj]:
    now = now or now_rfc3339()

    def c(type_: str, status: str, reason: str, message: str) -> Obj:
        return {
            "type": type_,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }

    return [
        c(
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
        ),
        c("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        c(
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
        ),
        c("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    ]


def _os_image() -> str:
    """PRETTY_NAME from /etc/os-release, as the kubelet reports it."""
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.platform()


def _node(name: str, labels: dict[str, str], capacity: dict[str, str], simulated: bool) -> Obj:
    info = {
        "architecture": _arch(),
        "operatingSystem": "linux",
        "osImage": _os_image(),
        "kernelVersion": platform.release(),
        "kubeletVersion": f"v1.32.0-hyperpod-{__version__}",
        "kubeProxyVersion": "",
        "containerRuntimeVersion": "simulated://" if simulated else "process://hyperpod",
        "machineID": "",
        "systemUUID": "",
        "bootID": "",
    }
    annotations = {"node.alpha.kubernetes.io/ttl": "0"}
    if simulated:
        annotations[wk.KWOK_NODE_ANNOTATION] = "fake"
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels, "annotations": annotations},
        "spec": {},
        "status": {
            "capacity": capacity,
            "allocatable": dict(capacity),
            "conditions": ready_conditions(),
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
            "nodeInfo": info,
        },
    }


def base_labels(name: str, instance_type: str) -> dict[str, str]:
    return {
        wk.HOSTNAME_LABEL: name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": _arch(),
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": _arch(),
        INSTANCE_TYPE_LABEL: instance_type,
        HEALTH_LABEL: "Schedulable",
        # Nodes the cluster starts with join as checked; replacements run the checks
        # (controllers/deep_health.py).
        DEEP_HEALTH_LABEL: "Passed",
    }


def local_node(config: ConfigLike, data_dir: Path) -> Obj:
    """The Node of this machine (without devices: the device plugins add those)."""
    local = local_config(config) or LocalNodeConfig.model_validate({})
    name = local_node_name(config)
    labels = base_labels(name, local.instance_type or "local")
    labels[GROUP_LABEL] = local.group or "local"
    try:
        disk = psutil.disk_usage(str(data_dir)).total
    except OSError:
        disk = 0
    capacity = {
        "cpu": str(os.cpu_count() or 1),
        "memory": f"{psutil.virtual_memory().total // 1024}Ki",
        "ephemeral-storage": f"{disk // 1024}Ki",
        "pods": "110",
    }
    # ``nodes.local.capacity`` overrides what the machine reports (e.g. to oversubscribe cpu).
    for key, value in local.capacity.items():
        try:
            parse_quantity(value)
        except ValueError as exc:
            raise ValueError(
                f"nodes.local.capacity.{key}: {value!r} is not a quantity ({exc})"
            ) from exc
        capacity[str(key)] = str(value)
    return _node(name, labels, capacity, simulated=False)


def simulated_nodes(config: ConfigLike) -> list[Obj]:
    """Nodes for every ``nodes.simulated`` group; raises ValueError naming a bad entry."""
    out = []
    groups = ControlPlaneConfig.of(config).nodes.simulated
    for i, group in enumerate(groups):
        name = group.group or group.name
        type_name = group.instance_type
        it = instance_types.get(type_name)
        if not name:
            raise ValueError(f"nodes.simulated[{i}].group is required")
        if it is None:
            raise ValueError(
                f"nodes.simulated[{i}].instanceType {type_name!r} is not a known instance type "
                f"(known: {', '.join(instance_types.names())})"
            )
        for n in range(group.count):
            node_name = f"{name}-{n}"
            labels = base_labels(node_name, it.name)
            labels.update({GROUP_LABEL: str(name), "type": "kwok", SIMULATED_LABEL: "true"})
            labels.update(topology_labels(i, n))
            capacity = it.capacity()
            if group.mig_profile:
                mig_partition(labels, capacity, it.name, group.mig_profile, it.gpus, i)
            labels.update(group.labels)
            node = _node(node_name, labels, capacity, simulated=True)
            if group.taints:
                node["spec"]["taints"] = [dict(t) for t in group.taints]
            out.append(node)
    return out


def topology_labels(group_index: int, n: int) -> dict[str, str]:
    """EC2 network topology of a simulated node: one spine, 16 nodes per layer-2 block, 4 per
    layer-3 switch (per node group), so topology-aware placement has domains to choose from."""
    return {
        f"{TOPOLOGY_PREFIX}1": "nn-sim-l1",
        f"{TOPOLOGY_PREFIX}2": f"nn-sim-l2-{group_index}-{n // 16}",
        f"{TOPOLOGY_PREFIX}3": f"nn-sim-l3-{group_index}-{n // 4}",
    }


def mig_partition(
    labels: dict[str, str],
    capacity: dict[str, str],
    type_name: str,
    profile: str,
    gpus: int,
    i: int,
) -> None:
    """Split every GPU of a simulated node into ``profile`` partitions (raises ValueError)."""
    problem = partitions.check(type_name, profile)
    if problem is not None:
        raise ValueError(f"nodes.simulated[{i}].migProfile: {problem}")
    capacity.pop("nvidia.com/gpu", None)
    capacity[partitions.RESOURCE_PREFIX + profile] = str(gpus * partitions.per_gpu(profile))
    labels[partitions.LABEL_CONFIG] = "all-" + profile.removeprefix("mig-")
    labels[partitions.LABEL_CONFIG_STATE] = "success"


def register(reg: Registry, node: Obj) -> Obj:
    """Create the Node, or refresh labels, capacity and Ready of an existing one."""
    name = node["metadata"]["name"]
    try:
        return reg.create("nodes", node)
    except AlreadyExists:
        pass
    # Health labels belong to the health agent once the node exists: a restart keeps a fault.
    labels = {
        k: v
        for k, v in node["metadata"]["labels"].items()
        if k not in (HEALTH_LABEL, DEEP_HEALTH_LABEL)
    }
    reg.patch("nodes", name, {"metadata": {"labels": labels}}, PatchType.MERGE)
    status = {k: node["status"][k] for k in ("capacity", "allocatable", "addresses", "nodeInfo")}
    status["conditions"] = node["status"]["conditions"]
    return reg.patch("nodes/status", name, {"status": status}, PatchType.MERGE)


def renew_lease(reg: Registry, name: str, duration: int = LEASE_SECONDS) -> None:
    """Heartbeat: create or renew ``kube-node-lease/<name>``."""
    res = "leases.coordination.k8s.io"
    now = micro_now()
    try:
        reg.patch(
            res,
            name,
            {"spec": {"renewTime": now, "holderIdentity": name}},
            PatchType.MERGE,
            LEASE_NS,
        )
        return
    except NotFound:
        pass
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": LEASE_NS},
        "spec": {
            "holderIdentity": name,
            "leaseDurationSeconds": duration,
            "renewTime": now,
            "acquireTime": now,
        },
    }
    try:
        reg.create(res, lease, LEASE_NS)
    except AlreadyExists:
        pass


def mark_ready(reg: Registry, node: Obj) -> None:
    """Post Ready=True again if the lifecycle controller had marked the node otherwise."""
    conds = (node.get("status") or {}).get("conditions") or []
    if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds):
        return
    reg.patch(
        "nodes/status",
        node["metadata"]["name"],
        {"status": {"conditions": ready_conditions()}},
        PatchType.MERGE,
    )
