"""waitForPodsReady: all-or-nothing admission with a timeout, requeue backoff and deactivation.

Pure decisions over times in seconds; the workload controller applies them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hyperpod.api.controlplane_config import WaitForPodsReadyConfig


@dataclass(frozen=True)
class PodsReadyConfig:
    enable: bool = False
    timeout_s: float = 300.0
    block_admission: bool = False
    recovery_timeout_s: float | None = None
    requeuing_timestamp: str = "Eviction"  # or "Creation"
    backoff_limit_count: int | None = None  # None: requeue forever
    backoff_base_s: float = 60.0
    backoff_max_s: float = 3600.0

    @classmethod
    def from_config(cls, cfg: WaitForPodsReadyConfig) -> PodsReadyConfig:
        """From the typed ``kueue.waitForPodsReady`` section (durations like ``5m``)."""
        rq = cfg.requeuing_strategy
        recovery = cfg.recovery_timeout
        return cls(
            enable=cfg.enable,
            timeout_s=duration_seconds(cfg.timeout),
            block_admission=cfg.block_admission,
            recovery_timeout_s=None if recovery is None else duration_seconds(recovery),
            requeuing_timestamp=rq.timestamp,
            backoff_limit_count=rq.backoff_limit_count,
            backoff_base_s=float(rq.backoff_base_seconds),
            backoff_max_s=float(rq.backoff_max_seconds),
        )


def duration_seconds(value: Any) -> float:
    """A Go duration (``"5m"``, ``"1h30m"``, ``"250ms"``) or a number of seconds."""
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    total, num = 0.0, ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            num += ch
            i += 1
            continue
        unit = "ms" if text[i : i + 2] == "ms" else ch
        if unit not in units or not num:
            raise ValueError(f"invalid duration {value!r} (use forms like 5m, 30s, 1h)")
        total += float(num) * units[unit]
        num = ""
        i += len(unit)
    if num:
        raise ValueError(f"invalid duration {value!r}: missing unit (use forms like 5m, 30s, 1h)")
    return total


def backoff_seconds(count: int, cfg: PodsReadyConfig) -> float:
    """Delay before the ``count``-th requeue: base * 2^(count-1), capped at the maximum."""
    return min(cfg.backoff_base_s * (2 ** max(count - 1, 0)), cfg.backoff_max_s)


@dataclass(frozen=True)
class Decision:
    action: str  # "none" | "wait" | "evict" | "deactivate"
    recheck_after_s: float | None = None
    requeue_count: int = 0
    requeue_at: float | None = None
    message: str = ""


def check(
    now: float,
    admitted_at: float,
    pods_ready: bool,
    requeue_count: int,
    cfg: PodsReadyConfig,
    ready_lost_at: float | None = None,
) -> Decision:
    """What to do with an admitted workload whose pods may not be ready yet."""
    if not cfg.enable:
        return Decision("none")
    if pods_ready:
        return Decision("none")
    if ready_lost_at is not None and cfg.recovery_timeout_s is not None:
        deadline, what = ready_lost_at + cfg.recovery_timeout_s, "recoveryTimeout"
    else:
        deadline, what = admitted_at + cfg.timeout_s, "timeout"
    if now < deadline:
        return Decision("wait", recheck_after_s=deadline - now)
    count = requeue_count + 1
    if cfg.backoff_limit_count is not None and count > cfg.backoff_limit_count:
        return Decision(
            "deactivate",
            requeue_count=requeue_count,
            message=(
                f"The workload is deactivated due to exceeding the maximum number of re-queuing"
                f" retries ({cfg.backoff_limit_count}) after PodsReady {what}"
            ),
        )
    return Decision(
        "evict",
        requeue_count=count,
        requeue_at=now + backoff_seconds(count, cfg),
        message=f"Exceeded the PodsReady timeout {_fmt(cfg.timeout_s if what == 'timeout' else cfg.recovery_timeout_s or 0)}",
    )


def may_admit(cfg: PodsReadyConfig, admitted_ready: list[bool]) -> bool:
    """With blockAdmission, nothing new is admitted while an admitted workload is not ready."""
    if not cfg.enable or not cfg.block_admission:
        return True
    return all(admitted_ready)


def _fmt(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m0s"
    return f"{seconds:g}s"
