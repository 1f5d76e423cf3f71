"""waitForPodsReady decisions: timeout, exponential requeue backoff, deactivation, blocking."""

from __future__ import annotations

import pytest

from hyperpod.api.controlplane_config import WaitForPodsReadyConfig
from hyperpod.controllers.kueue.podsready import (
    PodsReadyConfig,
    backoff_seconds,
    check,
    duration_seconds,
    may_admit,
)

CFG = PodsReadyConfig(enable=True, timeout_s=300, backoff_limit_count=2)


def test_nothing_happens_when_wait_for_pods_ready_is_off() -> None:
    assert check(10_000, 0, False, 0, PodsReadyConfig()).action == "none"


def test_a_workload_whose_pods_are_ready_is_left_alone() -> None:
    assert check(10_000, 0, True, 0, CFG).action == "none"


def test_before_the_timeout_the_controller_waits_until_the_deadline() -> None:
    d = check(100, 0, False, 0, CFG)
    assert (d.action, d.recheck_after_s) == ("wait", 200)


def test_after_the_timeout_the_workload_is_evicted_and_requeued_with_backoff() -> None:
    d = check(300, 0, False, 0, CFG)
    assert (d.action, d.requeue_count, d.requeue_at) == ("evict", 1, 360)
    assert d.message == "Exceeded the PodsReady timeout 5m0s"
    d2 = check(1000, 700, False, 1, CFG)
    assert (d2.action, d2.requeue_count, d2.requeue_at) == ("evict", 2, 1120)


def test_past_the_backoff_limit_the_workload_is_deactivated() -> None:
    d = check(300, 0, False, 2, CFG)
    assert d.action == "deactivate"
    assert "exceeding the maximum number of re-queuing retries (2)" in d.message


def test_backoff_doubles_from_the_base_and_stops_at_the_maximum() -> None:
    cfg = PodsReadyConfig(enable=True, backoff_base_s=60, backoff_max_s=3600)
    assert [backoff_seconds(n, cfg) for n in (1, 2, 3, 4, 7, 8)] == [60, 120, 240, 480, 3600, 3600]


def test_block_admission_holds_new_work_while_an_admitted_workload_is_not_ready() -> None:
    cfg = PodsReadyConfig(enable=True, block_admission=True)
    assert not may_admit(cfg, [True, False])
    assert may_admit(cfg, [True, True])
    assert may_admit(PodsReadyConfig(enable=True), [False])


def test_recovery_timeout_counts_from_when_readiness_was_lost() -> None:
    cfg = PodsReadyConfig(enable=True, timeout_s=300, recovery_timeout_s=60)
    assert check(1000, 0, False, 0, cfg, ready_lost_at=950).action == "wait"
    assert check(1011, 0, False, 0, cfg, ready_lost_at=950).action == "evict"


def test_configuration_reads_kueue_durations() -> None:
    cfg = PodsReadyConfig.from_config(
        WaitForPodsReadyConfig.model_validate(
            {"enable": True, "timeout": "2m30s", "requeuingStrategy": {"backoffLimitCount": 3}}
        )
    )
    assert (cfg.timeout_s, cfg.backoff_limit_count, cfg.backoff_base_s) == (150, 3, 60)
    assert duration_seconds("250ms") == 0.25
    with pytest.raises(ValueError, match="missing unit"):
        duration_seconds("10")
