"""Taints and tolerations: whether a toleration covers a taint, and when NoExecute evicts.

Shared by the scheduler (TaintToleration) and the node lifecycle controller (taint-based
eviction), so neither imports the other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hyperpod.api.wellknown import TAINT_NOT_READY, TAINT_UNREACHABLE

UNREACHABLE = TAINT_UNREACHABLE
NOT_READY = TAINT_NOT_READY
# What the DefaultTolerationSeconds admission plugin gives pods for the two taints above.
DEFAULT_TOLERATION_S = 300


@dataclass
class Toleration:
    key: str = ""
    operator: str = "Equal"
    value: str = ""
    effect: str = ""
    toleration_seconds: int | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Toleration:
        secs = d.get("tolerationSeconds")
        return cls(
            key=d.get("key") or "",
            operator=d.get("operator") or "Equal",
            value=d.get("value") or "",
            effect=d.get("effect") or "",
            toleration_seconds=int(secs) if secs is not None else None,
        )

    def tolerates(self, taint: Mapping[str, Any]) -> bool:
        if self.effect and self.effect != taint.get("effect"):
            return False
        if self.key and self.key != taint.get("key"):
            return False
        if self.operator == "Exists":
            return True
        if not self.key:  # an empty key needs operator Exists
            return False
        return self.value == (taint.get("value") or "")


def eviction_delay(pod: Mapping[str, Any], taints: Sequence[Mapping[str, Any]]) -> float | None:
    """Seconds after the taint was added when ``pod`` must go; None: it may stay."""
    tols = [Toleration.from_dict(t) for t in (pod.get("spec") or {}).get("tolerations") or []]
    delay: float | None = None
    for taint in taints:
        if taint.get("effect") != "NoExecute":
            continue
        matching = [t for t in tols if t.tolerates(taint)]
        if not matching:
            if taint.get("key") in (UNREACHABLE, NOT_READY):
                seconds: float = DEFAULT_TOLERATION_S
            else:
                return 0.0
        elif any(t.toleration_seconds is None for t in matching):
            continue
        else:
            seconds = float(min(t.toleration_seconds or 0 for t in matching))
        delay = seconds if delay is None else min(delay, seconds)
    return delay
