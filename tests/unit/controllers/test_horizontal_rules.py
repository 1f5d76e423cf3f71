"""The autoscaler's arithmetic against upstream's documented cases."""

from __future__ import annotations

import pytest

from hyperpod.controllers import horizontal_rules as r

NOW = 10_000.0
T = r.Timing()


def pod(
    name: str,
    usage: float | None,
    request: float | None = 1.0,
    phase: str = "Running",
    ready: bool | None = True,
    started: float = NOW - 1000,
) -> r.PodFigure:
    return r.PodFigure(
        name=name,
        phase=phase,
        deleting=False,
        ready=ready,
        start_time=started,
        ready_since=started + 5,
        request=request,
        missing_request=None if request is not None else "container c",
        usage=usage,
        sample_time=NOW,
        window=15.0,
    )


def test_utilization_scales_up_by_ceil_of_ratio() -> None:
    # 2 pods at 90 % of their request against a 50 % target: ratio 1.8, ceil(3.6) = 4.
    p = r.utilization_replicas(2, [pod("a", 0.9), pod("b", 0.9)], "cpu", 50, NOW, T)
    assert (p.replicas, p.utilization) == (4, 90)


def test_within_tolerance_keeps_the_current_count() -> None:
    p = r.utilization_replicas(2, [pod("a", 0.54), pod("b", 0.54)], "cpu", 50, NOW, T)
    assert p.replicas == 2 and p.utilization == 54


def test_missing_pods_count_as_full_request_on_scale_down() -> None:
    # Ready pods use 10 %; the missing one counts as 100 %: (0.1+0.1+1)/3 = 40 % vs 50 %
    # -> ratio 0.8, ceil(0.8 * 3) = 3: no scale down below what the missing pod may need.
    pods = [pod("a", 0.1), pod("b", 0.1), pod("c", None)]
    assert r.utilization_replicas(3, pods, "cpu", 50, NOW, T).replicas == 3


def test_unready_pods_count_as_zero_on_scale_up() -> None:
    # One ready pod at 100 % vs 50 % and one Pending: (1 + 0)/2 = 50 % -> within tolerance.
    pods = [pod("a", 1.0), pod("b", None, phase="Pending")]
    assert r.utilization_replicas(2, pods, "cpu", 50, NOW, T).replicas == 2


def test_a_recently_ready_pod_is_unready_for_cpu_while_its_window_overlaps() -> None:
    fresh = pod("b", 1.0, started=NOW - 10)  # Ready at NOW-5, 15 s window -> unready
    pods = [pod("a", 0.25), fresh]
    # Only "a" counts: 25 % vs 50 %, and an unready pod never blocks a scale down.
    assert r.utilization_replicas(2, pods, "cpu", 50, NOW, T).replicas == 1


def test_a_container_without_a_request_is_an_error_naming_it() -> None:
    with pytest.raises(r.MetricError, match="missing request for cpu in container c of Pod a"):
        r.utilization_replicas(1, [pod("a", 0.5, request=None)], "cpu", 50, NOW, T)


def test_no_ready_samples_is_an_error() -> None:
    with pytest.raises(r.MetricError, match="did not receive metrics"):
        r.utilization_replicas(1, [pod("a", None, phase="Pending")], "cpu", 50, NOW, T)


def test_average_value_memory() -> None:
    mi = 1024.0 * 1024
    pods = [pod("a", 300 * mi, request=None), pod("b", 100 * mi, request=None)]
    assert r.average_value_replicas(2, pods, "memory", 100 * mi, NOW, T).replicas == 4


def test_normalize_caps_scale_up_and_names_the_limit() -> None:
    recs: list[r.Recommendation] = []
    got = r.normalize(1, 10, 1, 20, recs, NOW, 300)
    assert (got.replicas, got.limited, got.limited_reason[0]) == (4, True, "ScaleUpLimit")
    got = r.normalize(4, 10, 1, 6, recs, NOW + 1, 300)
    assert (got.replicas, got.limited_reason[0]) == (6, "TooManyReplicas")


def test_normalize_downscale_window_keeps_the_highest_recent_recommendation() -> None:
    recs = [r.Recommendation(5, NOW - 100)]
    got = r.normalize(5, 2, 1, 10, recs, NOW, 300)
    assert got.replicas == 5 and got.able_reason[0] == "ScaleDownStabilized"
    got = r.normalize(5, 2, 1, 10, [r.Recommendation(5, NOW - 400)], NOW, 300)
    assert got.replicas == 2 and got.able_reason[0] == "ReadyForNewScale"


def test_behavior_rate_policies_limit_scale_down_per_period() -> None:
    behavior = {
        "scaleDown": {
            "stabilizationWindowSeconds": 0,
            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
        }
    }
    events: list[r.ScaleEvent] = []
    got = r.normalize_with_behavior(3, 1, 1, 5, behavior, [], events, NOW, 300)
    assert (got.replicas, got.limited_reason[0]) == (2, "ScaleDownLimit")
    events.append(r.ScaleEvent(-1, NOW))
    got = r.normalize_with_behavior(2, 1, 1, 5, behavior, [], events, NOW + 10, 300)
    assert got.replicas == 2  # one pod already removed in this 60 s period
    got = r.normalize_with_behavior(2, 1, 1, 5, behavior, [], events, NOW + 61, 300)
    assert got.replicas == 1


def test_behavior_scale_up_stabilization_takes_the_lowest_recent() -> None:
    behavior = {"scaleUp": {"stabilizationWindowSeconds": 60}}
    recs = [r.Recommendation(2, NOW - 30)]
    got = r.normalize_with_behavior(2, 8, 1, 10, behavior, recs, [], NOW, 300)
    assert got.replicas == 2 and got.able_reason[0] == "ScaleUpStabilized"


def test_behavior_default_scale_up_is_max_of_four_pods_and_double() -> None:
    got = r.normalize_with_behavior(10, 50, 1, 100, {}, [], [], NOW, 300)
    assert (got.replicas, got.limited_reason[0]) == (20, "ScaleUpLimit")
    got = r.normalize_with_behavior(1, 50, 1, 100, {}, [], [], NOW, 300)
    assert got.replicas == 5


def test_disabled_scale_down_keeps_the_count() -> None:
    behavior = {"scaleDown": {"selectPolicy": "Disabled", "stabilizationWindowSeconds": 0}}
    got = r.normalize_with_behavior(4, 1, 1, 5, behavior, [], [], NOW, 300)
    assert got.replicas == 4
