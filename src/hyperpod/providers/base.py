"""The one interface every cluster provider (local, aws) implements.

Read like TorchX's scheduler API: ``create`` is ``plan`` (dry run) + ``apply``; ``describe``
returns None when the stack does not exist; ``delete`` is idempotent; ``close`` never raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


@dataclass
class Problem:
    """One finding of ``validate``: the dotted field path, what is wrong, and the fix."""

    field: str
    message: str
    hint: str = ""
    severity: str = "error"  # "error" | "warning" | "info"


@dataclass
class StackInfo:
    """What ``describe``/``list_stacks`` report about one cluster stack."""

    name: str
    provider: str
    status: str
    endpoint: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class Provider(Protocol):
    name: str

    def validate(self, config: dict[str, Any], *, online: bool = True) -> list[Problem]:
        """Every problem in ``config`` (already schema-checked), with field paths."""
        ...

    def create(self, config: dict[str, Any], run_dir: Path, *, dry_run: bool = False) -> StackInfo:
        """Create (or report the existing) stack; record what was done under ``run_dir``."""
        ...

    def delete(self, name: str, *, purge: bool = False) -> None:
        """Delete the stack; deleting a missing stack is not an error."""
        ...

    def describe(self, name: str) -> StackInfo | None: ...

    def list_stacks(self) -> list[StackInfo]: ...

    def kubeconfig(self, name: str) -> dict[str, Any]:
        """A kubeconfig (as a dict) whose current context reaches the cluster."""
        ...

    def close(self) -> None: ...
