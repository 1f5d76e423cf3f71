"""The control-plane configuration: every key the components read, and its default, in one place.

``hyp controlplane serve --config FILE`` reads ``FILE`` (the document the local provider derives
from the user's ``config.yaml``) once into :class:`ControlPlaneConfig`, and every component reads
attributes of the typed sections (``ctx.config.kubelet.heartbeat_seconds``), never raw keys.
Keys are camelCase in the file (``podIPRange``, ``simulatedHeartbeatSeconds``); the Python
attributes are snake_case. An unknown key is an error that names it (:class:`ControlPlaneConfigError`).
The reference in docs/internals.md is checked against this model by tests/unit/test_controlplane_config.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from hyperpod.api.health import HealthConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, alias_generator=to_camel)


class LocalNodeConfig(_Section):
    """``nodes.local``: the machine itself, where pods run as real processes."""

    enabled: bool = Field(True, description="false: no local node (only simulated ones)")
    name: str | None = Field(None, description="Node name (default: the host name)")
    instance_type: str | None = Field(
        None, description='Label node.kubernetes.io/instance-type (default "local")'
    )
    group: str | None = Field(None, description='Instance-group label (default "local")')
    capacity: dict[str, str | int | float] = Field(
        default_factory=dict, description="Overrides what the machine reports, e.g. cpu: 16"
    )


class SimulatedGroupConfig(_Section):
    """One ``nodes.simulated`` entry: kwok-like nodes whose pods run no process."""

    group: str | None = Field(
        None, description="Instance-group name (label sagemaker.amazonaws.com/instance-group-name)"
    )
    name: str | None = Field(None, description="Older spelling of group")
    instance_type: str = Field("", description="Capacity from hyperpod.api.instance_types")
    count: int = Field(1, ge=0, description="Number of nodes <group>-0 .. <group>-<count-1>")
    taints: list[dict[str, Any]] = Field(default_factory=list, description="Node taints")
    labels: dict[str, str] = Field(default_factory=dict, description="Extra node labels")
    mig_profile: str | None = Field(None, description="Split every GPU into MIG partitions")


class NodesConfig(_Section):
    local: LocalNodeConfig | None = Field(
        default_factory=lambda: LocalNodeConfig.model_validate({}),
        description="The local node; null switches it off",
    )
    simulated: list[SimulatedGroupConfig] = Field(
        default_factory=list, description="Simulated node groups"
    )


class KubeletConfig(_Section):
    runtime: Literal["process", "oci", "auto"] = Field(
        "process", description="How the local node runs containers"
    )
    pod_ip_range: str | None = Field(
        None,
        alias="podIPRange",
        description="Pod IPs on the local node (default 127.112.0.0/12, inside 127.0.0.0/8)",
    )
    pod_hosts_file: Literal["auto", "off"] = Field(
        "auto", description="Per-pod /etc/hosts (auto: where mount namespaces work)"
    )
    pod_users: Literal["shared", "perNamespace"] = Field(
        "shared",
        description="perNamespace: process pods of each namespace run as their own Unix ids (root only)",
    )
    simulated_pod_ip_range: str | None = Field(
        None,
        alias="simulatedPodIPRange",
        description="Pod IPs on simulated nodes, where nothing listens (default 127.64.0.0/11)",
    )
    backoff_base_seconds: float = Field(10.0, description="First CrashLoopBackOff delay")
    backoff_max_seconds: float = Field(300.0, description="Longest CrashLoopBackOff delay")
    heartbeat_seconds: float = Field(10.0, description="Local node Lease renewal period")
    simulated_heartbeat_seconds: float = Field(
        10.0, description="Simulated nodes' Lease renewal period"
    )


class ServicesConfig(_Section):
    cluster_ip_range: str | None = Field(
        None,
        alias="clusterIPRange",
        description="Service clusterIPs (default 127.96.0.0/16, inside 127.0.0.0/8)",
    )


class AddonsConfig(_Section):
    """Each component checks its own switch."""

    training_operator: bool = Field(True, description="Kubeflow and HyperPod training operators")
    kueue: bool = Field(True, description="Kueue job queueing")
    device_plugins: bool = Field(True, description="NVIDIA GPU and EFA device plugins")
    health_agent: bool = Field(True, description="Node health monitoring agent")
    dashboard: bool = Field(True, description="The web dashboard")


class NodeLifecycleConfig(_Section):
    grace_period_seconds: float = Field(
        40.0, description="A node whose Lease is older than this becomes NotReady"
    )
    monitor_period_seconds: float = Field(5.0, description="How often node Leases are checked")


class HorizontalPodAutoscalerConfig(_Section):
    sync_period_seconds: float = Field(
        15.0, gt=0, description="How often every HorizontalPodAutoscaler is evaluated"
    )
    downscale_stabilization_seconds: float = Field(
        300.0, ge=0, description="Default scale-down stabilization window"
    )
    tolerance: float = Field(0.1, ge=0, description="Ratios this close to 1.0 change nothing")
    cpu_initialization_period_seconds: float = Field(
        300.0, ge=0, description="CPU samples of pods younger than this are set aside"
    )
    initial_readiness_delay_seconds: float = Field(
        30.0, ge=0, description="Readiness changes this soon after start count as not yet ready"
    )


class ObservabilityConfig(_Section):
    progress_seconds: float = Field(
        1.0, description="How often training progress files are read into job status"
    )
    progress_poll_seconds: float = Field(
        0.05, gt=0, description="How often known progress files are checked for a change"
    )
    progress_writes_per_second: float = Field(
        20.0, gt=0, description="At most this many job-status progress writes per second"
    )


class FairSharingConfig(_Section):
    enable: bool = Field(False, description="Fair sharing between ClusterQueues by weight")


class RequeuingStrategyConfig(_Section):
    timestamp: Literal["Eviction", "Creation"] = Field(
        "Eviction", description="Which time orders a requeued workload"
    )
    backoff_limit_count: int | None = Field(
        None, description="Requeues before deactivation (null: forever)"
    )
    backoff_base_seconds: float = Field(60.0, description="First requeue delay")
    backoff_max_seconds: float = Field(3600.0, description="Longest requeue delay")


class WaitForPodsReadyConfig(_Section):
    enable: bool = Field(False, description="All-or-nothing admission")
    timeout: str | float = Field("5m", description="Time for all pods to become ready")
    block_admission: bool = Field(False, description="Admit one workload at a time until ready")
    recovery_timeout: str | float | None = Field(
        None, description="Time a ready workload may stay not ready"
    )
    requeuing_strategy: RequeuingStrategyConfig = Field(
        default_factory=lambda: RequeuingStrategyConfig.model_validate({}),
        description="Requeue backoff",
    )


class KueueConfig(_Section):
    """Kueue's own configuration names."""

    fair_sharing: FairSharingConfig = Field(
        default_factory=lambda: FairSharingConfig.model_validate({}), description="Fair sharing"
    )
    wait_for_pods_ready: WaitForPodsReadyConfig = Field(
        default_factory=lambda: WaitForPodsReadyConfig.model_validate({}),
        description="waitForPodsReady",
    )


class ControlPlaneConfig(_Section):
    """The whole control-plane configuration (every section optional)."""

    cluster_name: str = Field("hyperpod-local", description="Names the kubeconfig context")
    event_ttl_seconds: float = Field(
        3600.0, alias="eventTTLSeconds", description="Events older than this are deleted"
    )
    shutdown_grace_seconds: float = Field(
        35.0, description="How long a stopping control plane waits for pods to end"
    )
    node_recovery: Literal["Automatic", "None"] = Field(
        "Automatic", description="Automatic: faulty nodes are rebooted or replaced"
    )
    nodes: NodesConfig = Field(
        default_factory=lambda: NodesConfig.model_validate({}), description="Nodes"
    )
    kubelet: KubeletConfig = Field(
        default_factory=lambda: KubeletConfig.model_validate({}), description="Kubelets"
    )
    services: ServicesConfig = Field(
        default_factory=lambda: ServicesConfig.model_validate({}), description="Services"
    )
    addons: AddonsConfig = Field(
        default_factory=lambda: AddonsConfig.model_validate({}), description="Add-ons"
    )
    node_lifecycle: NodeLifecycleConfig = Field(
        default_factory=lambda: NodeLifecycleConfig.model_validate({}),
        description="Node controller",
    )
    horizontal_pod_autoscaler: HorizontalPodAutoscalerConfig = Field(
        default_factory=lambda: HorizontalPodAutoscalerConfig.model_validate({}),
        description="HorizontalPodAutoscaler controller",
    )
    observability: ObservabilityConfig = Field(
        default_factory=lambda: ObservabilityConfig.model_validate({}), description="Observability"
    )
    kueue: KueueConfig = Field(
        default_factory=lambda: KueueConfig.model_validate({}), description="Kueue"
    )
    health: HealthConfig = Field(
        default_factory=lambda: HealthConfig.model_validate({}),
        description="Health monitoring agent",
    )

    def local_node(self) -> LocalNodeConfig | None:
        """``nodes.local``, or None when the local node is switched off."""
        local = self.nodes.local
        if local is None or not local.enabled:
            return None
        return local

    def addon_enabled(self, name: str) -> bool:
        """Whether add-on ``name`` (camelCase: trainingOperator, kueue, ...) is on."""
        for field, info in AddonsConfig.model_fields.items():
            if name in (field, info.alias):
                return bool(getattr(self.addons, field))
        raise KeyError(f"unknown add-on {name!r}")

    @classmethod
    def load(cls, data: object, source: str = "control-plane config") -> ControlPlaneConfig:
        """Validate a parsed document (None is the empty one); errors name the key."""
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ControlPlaneConfigError(f"{source}: must hold a mapping of keys")
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise ControlPlaneConfigError(_describe(exc, source)) from None

    @classmethod
    def of(cls, config: ControlPlaneConfig | Mapping[str, Any] | None) -> ControlPlaneConfig:
        """``config`` itself, or a parsed document loaded (tests and benchmarks pass dicts)."""
        if isinstance(config, ControlPlaneConfig):
            return config
        return cls.load(config)


class ControlPlaneConfigError(ValueError):
    """A control-plane config that does not match :class:`ControlPlaneConfig`."""


def _describe(exc: ValidationError, source: str) -> str:
    problems = []
    for err in exc.errors():
        loc = [p for p in err["loc"] if not (isinstance(p, str) and "[" in p)]
        path = ""
        for part in loc:
            path += f"[{part}]" if isinstance(part, int) else ("." if path else "") + str(part)
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (see the control-plane config reference in docs/internals.md)"
        problems.append(f"{path}: {msg}")
    return f"{source}: " + "; ".join(problems)


def key_paths(model: type[BaseModel] = ControlPlaneConfig, prefix: str = "") -> list[str]:
    """Every key of the document as a dotted camelCase path (list items as ``key[].sub``)."""
    out: list[str] = []
    for name, info in model.model_fields.items():
        key = prefix + (info.alias or name)
        sub = _model_in(info.annotation)
        if sub is not None:
            is_list = "list[" in str(info.annotation)
            out.extend(key_paths(sub, key + ("[]." if is_list else ".")))
        else:
            out.append(key)
    return out


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def reference_yaml(model: type[BaseModel] = ControlPlaneConfig, indent: int = 0) -> str:
    """The config reference: every key with its default and what it does (docs/internals.md)."""
    lines: list[str] = []
    _reference(model, indent, "", lines)
    return "\n".join(lines) + "\n"


def _reference(model: type[BaseModel], indent: int, first: str, lines: list[str]) -> None:
    for i, (name, info) in enumerate(model.model_fields.items()):
        pad = " " * indent
        if i == 0 and first:
            pad = " " * (indent - len(first)) + first
        key = info.alias or name
        desc = info.description or ""
        sub = _model_in(info.annotation)
        if sub is not None and "list[" in str(info.annotation):
            lines.append(f"{pad}{key}:  # {desc}; each item:")
            _reference(sub, indent + 4, "  - ", lines)
        elif sub is not None:
            lines.append(f"{pad}{key}:  # {desc}")
            _reference(sub, indent + 2, "", lines)
        else:
            default = info.get_default(call_default_factory=True)
            text = yaml.safe_dump(default, default_flow_style=True, width=10_000)
            value = text.strip().removesuffix("...").strip()
            lines.append(f"{pad}{key}: {value}  # {desc}")
