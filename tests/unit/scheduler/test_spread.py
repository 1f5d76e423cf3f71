"""Pod topology spread: skew per domain."""

from __future__ import annotations

from typing import Any

from hyperpod.scheduler.interpod import Placed
from hyperpod.scheduler.spread import MSG_SPREAD, MSG_SPREAD_LABEL, SpreadCheck

ZONE = "topology.kubernetes.io/zone"


def pod(max_skew: int = 1, when: str = "DoNotSchedule") -> dict[str, Any]:
    return {
        "metadata": {"namespace": "d", "labels": {"app": "w"}},
        "spec": {
            "topologySpreadConstraints": [
                {
                    "maxSkew": max_skew,
                    "topologyKey": ZONE,
                    "whenUnsatisfiable": when,
                    "labelSelector": {"matchLabels": {"app": "w"}},
                }
            ]
        },
    }


def at(zone: str) -> Placed:
    return Placed({ZONE: zone}, "d", {"app": "w"}, [])


NODES = [{ZONE: "a"}, {ZONE: "b"}]


def test_a_domain_ahead_by_max_skew_is_closed() -> None:
    check = SpreadCheck(pod(), [at("a")], NODES)
    assert check.reason({ZONE: "a"}) == MSG_SPREAD
    assert check.reason({ZONE: "b"}) is None
    assert SpreadCheck(pod(max_skew=2), [at("a")], NODES).reason({ZONE: "a"}) is None


def test_nodes_without_the_key_fail_and_schedule_anyway_does_not_filter() -> None:
    assert SpreadCheck(pod(), [], NODES).reason({}) == MSG_SPREAD_LABEL
    assert SpreadCheck(pod(when="ScheduleAnyway"), [at("a")], NODES).reason({ZONE: "a"}) is None
