"""What each component receives when the control plane starts it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hyperpod.apiserver.registry import DefaultHook, Registry, ValidateHook


@dataclass
class ControlPlaneContext:
    reg: Registry
    config: dict[str, Any]
    data_dir: Path
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    # Free-form handles components share (e.g. the kubelet's log reader for pods/log).
    services: dict[str, Any] = field(default_factory=dict)

    def addon_enabled(self, name: str) -> bool:
        """Whether add-on ``name`` (trainingOperator, kueue, devicePlugins, healthAgent) is on."""
        return bool((self.config.get("addons") or {}).get(name, True))


@dataclass
class Component:
    name: str
    crds: Callable[[], list[dict[str, Any]]] | None = None
    admission: dict[str, tuple[DefaultHook | None, ValidateHook | None]] = field(
        default_factory=dict
    )
    start: Callable[[ControlPlaneContext], Awaitable[None]] | None = None
    addon: str | None = None  # the config add-on switch that turns it on, if any
