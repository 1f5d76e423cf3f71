"""The components the control plane runs, in start order.

Each part of the system adds one entry (a :class:`Component`) with the CRDs it owns, its
admission hooks and its long-running task. Entries are loaded lazily by dotted path so a
component's imports cost nothing until the control plane starts.
"""

from __future__ import annotations

import importlib

from hyperpod.runtime.context import Component

# "module:attribute" of a Component or of a zero-argument function returning one.
COMPONENTS: list[str] = [
    "hyperpod.controlplane.core:garbage_collector",
    "hyperpod.controlplane.core:namespace_lifecycle",
    "hyperpod.controlplane.core:event_ttl",
    "hyperpod.controlplane.security:component",
    "hyperpod.controllers.pytorchjob:component",
    "hyperpod.controllers.replicaset:component",
    "hyperpod.controllers.deployment:component",
    "hyperpod.controllers.job:component",
    "hyperpod.controllers.replicaset:replication_controllers",
    "hyperpod.controllers.daemonset:component",
    "hyperpod.controllers.statefulset:component",
    "hyperpod.controllers.disruption:component",
    "hyperpod.controllers.cronjob:component",
    "hyperpod.controllers.volumes_provisioner:component",
    "hyperpod.controllers.resourcequota:component",
    "hyperpod.controllers.horizontal:component",
    "hyperpod.controllers.ingressclass_default:component",
    "hyperpod.controllers.kueue.component:kueue",
    "hyperpod.scheduler.scheduler:component",
    "hyperpod.kubelet.agent:component",
    "hyperpod.controllers.endpointslices:component",
    "hyperpod.proxy.service_proxy:component",
    "hyperpod.kubelet.simulated:component",
    "hyperpod.controllers.node_lifecycle:component",
    "hyperpod.kubelet.device_plugins:component",
    "hyperpod.controlplane.observability:component",
    "hyperpod.controllers.hyperpod_job:component",
    "hyperpod.controlplane.health:component",
    "hyperpod.dashboard.component:component",
]


def load() -> list[Component]:
    out: list[Component] = []
    for ref in COMPONENTS:
        module, _, attr = ref.partition(":")
        target = getattr(importlib.import_module(module), attr)
        out.append(target() if callable(target) and not isinstance(target, Component) else target)
    return out
