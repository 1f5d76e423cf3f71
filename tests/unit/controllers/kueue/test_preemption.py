"""Preemption policies and fair sharing, each in a small scenario written out by hand."""

from __future__ import annotations

from hyperpod.controllers.kueue.preemption import dominant_resource_share
from hyperpod.controllers.kueue.scheduler import schedule
from hyperpod.controllers.kueue.snapshot import Preemption

from .scenario import admitted, cq, snap, wl


def _victims(result: object) -> list[tuple[str, str]]:
    return [(p.workload.name, p.reason) for p in result.preempted]  # type: ignore[attr-defined]


# --- withinClusterQueue --------------------------------------------------------------


def test_within_cluster_queue_lower_priority_evicts_a_lower_priority_workload() -> None:
    s = snap(cq("a", preemption=Preemption(within_cluster_queue="LowerPriority")))
    admitted(s, wl("low", "a", "10", priority=1))
    result = schedule([wl("high", "a", "4", priority=5)], s)
    assert _victims(result) == [("low", "InClusterQueue")]
    assert result.admitted == []
    assert result.pending["ns/high"].message == "Pending the preemption of 1 workload(s): ns/low"


def test_within_cluster_queue_never_leaves_running_work_alone() -> None:
    s = snap(cq("a"))
    admitted(s, wl("low", "a", "10", priority=1))
    result = schedule([wl("high", "a", "4", priority=5)], s)
    assert _victims(result) == []
    assert result.pending["ns/high"].message == (
        "couldn't assign flavors to pod set main: insufficient unused quota for cpu in flavor"
        " default, 4 more needed"
    )


def test_lower_priority_policy_never_evicts_equal_priority() -> None:
    s = snap(cq("a", preemption=Preemption(within_cluster_queue="LowerPriority")))
    admitted(s, wl("older", "a", "10", priority=5, t=1))
    assert _victims(schedule([wl("newer", "a", "4", priority=5, t=2)], s)) == []


def test_lower_or_newer_equal_priority_evicts_a_newer_workload_of_equal_priority() -> None:
    s = snap(cq("a", preemption=Preemption(within_cluster_queue="LowerOrNewerEqualPriority")))
    admitted(s, wl("newer", "a", "10", priority=5, t=9))
    result = schedule([wl("older", "a", "4", priority=5, t=1)], s)
    assert _victims(result) == [("newer", "InClusterQueue")]
    s2 = snap(cq("a", preemption=Preemption(within_cluster_queue="LowerOrNewerEqualPriority")))
    admitted(s2, wl("older", "a", "10", priority=5, t=1))
    assert _victims(schedule([wl("newer", "a", "4", priority=5, t=9)], s2)) == []


def test_only_the_minimal_set_of_victims_is_evicted() -> None:
    s = snap(cq("a", preemption=Preemption(within_cluster_queue="LowerPriority")))
    # candidate order: lower priority first, then most recently admitted: w2, w1, w3
    admitted(s, wl("w1", "a", "4", priority=1), at=1)
    admitted(s, wl("w2", "a", "2", priority=1), at=2)
    admitted(s, wl("w3", "a", "4", priority=3), at=3)
    result = schedule([wl("new", "a", "4", priority=5)], s)
    # removing w2 frees 2 (not enough), w1 frees 6: fits; w2 is then added back (4 free still fit)
    assert _victims(result) == [("w1", "InClusterQueue")]


# --- reclaimWithinCohort -------------------------------------------------------------


def _cohort(reclaim: str, borrow: str = "Never", threshold: int | None = None):  # type: ignore[no-untyped-def]
    pre = Preemption(
        reclaim_within_cohort=reclaim,
        borrow_within_cohort=borrow,
        borrow_max_priority_threshold=threshold,
    )
    s = snap(cq("a", cohort="c", preemption=pre), cq("b", cohort="c", preemption=pre))
    return s


def test_reclaim_any_takes_back_lent_quota_from_a_borrower() -> None:
    s = _cohort("Any")
    admitted(s, wl("b-own", "b", "10", priority=9), at=1)
    admitted(s, wl("b-borrowed", "b", "6", priority=9), at=2)  # borrows 6 of a's quota
    result = schedule([wl("a-job", "a", "8", priority=0)], s)
    assert _victims(result) == [("b-borrowed", "InCohortReclamation")]


def test_reclaim_lower_priority_spares_a_borrower_of_higher_priority() -> None:
    s = _cohort("LowerPriority")
    admitted(s, wl("b-own", "b", "10", priority=9), at=1)
    admitted(s, wl("b-borrowed", "b", "6", priority=9), at=2)
    assert _victims(schedule([wl("a-job", "a", "8", priority=1)], s)) == []
    s2 = _cohort("LowerPriority")
    admitted(s2, wl("b-own", "b", "10", priority=0), at=1)
    admitted(s2, wl("b-borrowed", "b", "6", priority=0), at=2)
    assert _victims(schedule([wl("a-job", "a", "8", priority=1)], s2)) == [
        ("b-borrowed", "InCohortReclamation")
    ]


def test_reclaim_never_waits_for_borrowed_quota_to_come_back() -> None:
    s = _cohort("Never")
    admitted(s, wl("b-borrowed", "b", "16"))
    result = schedule([wl("a-job", "a", "8")], s)
    assert _victims(result) == []
    assert "4 more needed" in result.pending["ns/a-job"].message


def test_a_queue_within_its_quota_is_never_reclaimed_from() -> None:
    s = _cohort("Any")
    admitted(s, wl("b-own", "b", "10"))
    admitted(s, wl("a-running", "a", "8"))
    result = schedule([wl("a-more", "a", "4")], s)
    # a would have to borrow from b, which is not borrowing: nothing to reclaim
    assert _victims(result) == []


# --- borrowWithinCohort ----------------------------------------------------------------


def _borrowing_scenario(borrow: str, threshold: int | None = None):  # type: ignore[no-untyped-def]
    s = _cohort("LowerPriority", borrow=borrow, threshold=threshold)
    admitted(s, wl("a-running", "a", "6", priority=5), at=1)
    admitted(s, wl("b-low", "b", "12", priority=1), at=1)  # b borrows 2; 2 cpu free
    # a-urgent needs 8: a would hold 14 of its 10, so it must borrow to run
    return schedule([wl("a-urgent", "a", "8", priority=9)], s)


def test_borrow_within_cohort_preempts_lower_priority_work_while_borrowing() -> None:
    assert _victims(_borrowing_scenario("LowerPriority")) == [
        ("b-low", "InCohortReclaimWhileBorrowing")
    ]


def test_without_borrow_within_cohort_a_borrower_cannot_preempt_in_the_cohort() -> None:
    assert _victims(_borrowing_scenario("Never")) == []


def test_borrow_within_cohort_respects_the_priority_threshold() -> None:
    assert _victims(_borrowing_scenario("LowerPriority", threshold=0)) == []


def test_preemption_candidates_from_other_queues_go_before_the_own_queue() -> None:
    pre = Preemption(reclaim_within_cohort="Any", within_cluster_queue="LowerPriority")
    s = snap(cq("a", cohort="c", preemption=pre), cq("b", cohort="c", preemption=pre))
    admitted(s, wl("a-low", "a", "6", priority=0), at=5)
    admitted(s, wl("b-own", "b", "10", priority=9), at=1)
    admitted(s, wl("b-borrowed", "b", "4", priority=9), at=2)  # b borrows 4
    result = schedule([wl("a-high", "a", "4", priority=3)], s)
    # a holds 6 of its 10 and needs 4 more: reclaiming b's borrowed 4 is enough, a-low stays
    assert _victims(result) == [("b-borrowed", "InCohortReclamation")]


# --- fair sharing ----------------------------------------------------------------------


def test_dominant_resource_share_is_borrowed_over_lendable_divided_by_weight() -> None:
    s = snap(cq("a", cohort="c", weight=2.0), cq("b", cohort="c"))
    admitted(s, wl("a-big", "a", "15"))
    # a borrows 5 of the cohort's 20: 5 * 1000 / 20 = 250, over weight 2 = 125
    assert dominant_resource_share(s.cluster_queues["a"]) == 125
    assert dominant_resource_share(s.cluster_queues["b"]) == 0


def test_fair_sharing_admits_the_queue_with_the_lower_share_first() -> None:
    s = snap(cq("a", cohort="c"), cq("b", cohort="c"), cq("z", cohort="c"))
    admitted(s, wl("a-big", "a", "16"))  # a borrows 6
    # 14 free in the cohort; both heads borrow 4; only one fits after the other
    heads = [wl("a-next", "a", "4", priority=9, t=1), wl("b-next", "b", "14", t=2)]
    result = schedule(heads, s, fair_sharing=True)
    assert [w.name for w, _ in result.admitted] == ["b-next"]
    classic = snap(cq("a", cohort="c"), cq("b", cohort="c"), cq("z", cohort="c"))
    admitted(classic, wl("a-big", "a", "16"))
    result2 = schedule(
        [wl("a-next", "a", "4", priority=9, t=1), wl("b-next", "b", "14", t=2)], classic
    )
    assert [w.name for w, _ in result2.admitted] == ["a-next"]


def test_a_zero_weight_queue_has_an_infinite_share_once_it_borrows() -> None:
    s = snap(cq("a", cohort="c", weight=0.0), cq("b", cohort="c"))
    admitted(s, wl("a-big", "a", "11"))
    assert dominant_resource_share(s.cluster_queues["a"]) == float("inf")


def test_fair_sharing_preempts_from_the_queue_with_the_highest_share() -> None:
    pre = Preemption(reclaim_within_cohort="Any")
    s = snap(
        cq("a", cohort="c", preemption=pre),
        cq("b", cohort="c", preemption=pre),
        cq("z", cohort="c", preemption=pre),
    )
    admitted(s, wl("a-1", "a", "10"), at=1)
    admitted(s, wl("a-2", "a", "8"), at=2)  # a borrows 8 (share 266)
    admitted(s, wl("b-1", "b", "10"), at=1)
    admitted(s, wl("b-2", "b", "2"), at=2)  # b borrows 2 (share 66); the cohort is full
    result = schedule([wl("z-job", "z", "8")], s, fair_sharing=True)
    assert _victims(result) == [("a-2", "InCohortFairSharing")]


def test_a_preemptor_keeps_the_free_quota_it_counted_on_for_the_rest_of_the_cycle() -> None:
    # a (10 cpu) lends to b; b borrowed 6 of it, so 4 of a's quota are free. a-job needs 8:
    # 4 free + 4 from evicting b-borrowed. b's next head (4 cpu, also borrowing) comes after
    # a-job in the cycle and must not take those 4, or a-job never fits (Kueue's net usage).
    s = _cohort("Any")
    admitted(s, wl("b-own", "b", "10", priority=9), at=1)
    admitted(s, wl("b-borrowed", "b", "6", priority=9), at=2)
    result = schedule([wl("a-job", "a", "8", priority=0), wl("b-next", "b", "4", priority=9)], s)
    assert _victims(result) == [("b-borrowed", "InCohortReclamation")]
    assert result.admitted == []
    assert result.pending["ns/b-next"].message == (
        "Workload no longer fits after processing another workload"
    )
    # the reservation lasts one cycle: the snapshot holds only admitted work again
    assert s.cluster_queues["a"].usage.get(("default", "cpu"), 0) == 0
    s.remove_workload(result.preempted[0].workload)
    again = schedule([wl("a-job", "a", "8", priority=0), wl("b-next", "b", "4", priority=9)], s)
    assert [w.name for w, _ in again.admitted] == ["a-job"]
