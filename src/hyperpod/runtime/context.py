"""What each component receives when the control plane starts it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hyperpod.api.controlplane_config import ControlPlaneConfig
from hyperpod.apiserver.registry import DefaultHook, Registry, ValidateHook

# Keys of ``ControlPlaneContext.services`` the kubelet fills in for the components above it, so
# they never import the kubelet. OPEN_LOG: ``hyperpod.kubelet.logs.open_log`` (a CRI log under any
# sandbox root, with tail/since/follow); RESTART_IN_PLACE: ``(data_dir, pod) -> bool``, kill the
# running containers of a local pod so the kubelet restarts them.
OPEN_LOG = "open_log"
RESTART_IN_PLACE = "restart_in_place"


@dataclass
class ControlPlaneContext:
    reg: Registry
    config: ControlPlaneConfig  # a mapping given here is loaded (tests and benchmarks pass dicts)
    data_dir: Path
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    # Free-form handles components share (e.g. the kubelet's log reader for pods/log).
    services: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.config = ControlPlaneConfig.of(self.config)

    def addon_enabled(self, name: str) -> bool:
        """Whether add-on ``name`` (trainingOperator, kueue, devicePlugins, healthAgent) is on."""
        return self.config.addon_enabled(name)


@dataclass
class Component:
    name: str
    crds: Callable[[], list[dict[str, Any]]] | None = None
    admission: dict[str, tuple[DefaultHook | None, ValidateHook | None]] = field(
        default_factory=dict
    )
    start: Callable[[ControlPlaneContext], Awaitable[None]] | None = None
    addon: str | None = None  # the config add-on switch that turns it on, if any
