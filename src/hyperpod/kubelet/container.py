"""One container of a pod as the kubelet tracks it: spec, attempts, state, probes, backoff."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hyperpod.kubelet import processes

Obj = dict[str, Any]


@dataclass
class Container:
    spec: Obj
    init: bool
    restart_count: int = 0
    attempt: processes.Attempt | None = None
    running: bool = False
    state: Obj = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    last_state: Obj = field(default_factory=dict)
    ready: bool = False
    done: bool = False  # will not run again
    succeeded: bool = False
    next_start: float = 0.0
    backoff_step: int = 0
    pulled: bool = False
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = Path("/")
    probes: list[asyncio.Task[None]] = field(default_factory=list)
    has_readiness: bool = False
    started: bool = False  # the startup probe (if any) has succeeded

    @property
    def name(self) -> str:
        return str(self.spec.get("name", ""))

    def cancel_probes(self) -> None:
        for t in self.probes:
            t.cancel()
        self.probes = []
