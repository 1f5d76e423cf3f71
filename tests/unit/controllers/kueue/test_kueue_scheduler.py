"""Admission scheduler scenarios; every expected admission is written out by hand."""

from __future__ import annotations

from hyperpod.controllers.kueue.queues import QueueManager
from hyperpod.controllers.kueue.scheduler import cycle, schedule
from hyperpod.controllers.kueue.snapshot import Flavor, PodSet

from .scenario import admitted, admitted_names, cq, last_message, run, snap, wl

# --- admission -----------------------------------------------------------------------


def test_workloads_are_admitted_while_quota_lasts_and_the_rest_say_what_is_missing() -> None:
    s = snap(cq("a"))  # 10 cpu
    results = run(s, wl("w1", "a", "4", t=1), wl("w2", "a", "4", t=2), wl("w3", "a", "4", t=3))
    assert admitted_names(results) == ["w1", "w2"]
    assert last_message(results, "w3") == (
        "couldn't assign flavors to pod set main: insufficient unused quota for cpu in flavor default, 2 more needed"
    )
    assert s.cluster_queues["a"].usage[("default", "cpu")] == 8000


def test_a_pod_set_that_does_not_fit_blocks_the_whole_workload() -> None:
    s = snap(cq("a", {"p5": {"nvidia.com/gpu": "16"}}))
    admitted(s, wl("other", "a", "0", extra={"nvidia.com/gpu": "8"}), "p5")
    gpu = {"nvidia.com/gpu": 8000}
    job = wl(
        "job",
        "a",
        pod_sets=[PodSet("master", 1, gpu), PodSet("worker", 1, gpu)],
    )
    results = run(s, job)
    assert admitted_names(results) == []
    assert last_message(results, "job") == (
        "couldn't assign flavors to pod set worker: insufficient unused quota for"
        " nvidia.com/gpu in flavor p5, 8 more needed"
    )


def test_an_admitted_workload_records_the_flavor_of_each_pod_set() -> None:
    s = snap(cq("a", {"p5": {"nvidia.com/gpu": "16", "cpu": "100"}}))
    job = wl(
        "job",
        "a",
        pod_sets=[
            PodSet("master", 1, {"nvidia.com/gpu": 8000, "cpu": 4000}),
            PodSet("worker", 1, {"nvidia.com/gpu": 8000, "cpu": 4000}),
        ],
    )
    [result] = run(s, job)[:1]
    [(_w, a)] = result.admitted
    assert [(p.name, p.flavors, p.usage) for p in a.pod_sets] == [
        ("master", {"nvidia.com/gpu": "p5", "cpu": "p5"}, {"nvidia.com/gpu": 8000, "cpu": 4000}),
        ("worker", {"nvidia.com/gpu": "p5", "cpu": "p5"}, {"nvidia.com/gpu": 8000, "cpu": 4000}),
    ]


def test_flavors_are_tried_in_the_listed_order() -> None:
    s = snap(cq("a", {"spot": {"cpu": "4"}, "on-demand": {"cpu": "10"}}))
    results = run(s, wl("w1", "a", "3", t=1), wl("w2", "a", "3", t=2))
    [(_w1, a1)] = results[0].admitted
    assert a1.pod_sets[0].flavors == {"cpu": "spot"}
    [(_w2, a2)] = results[1].admitted
    assert a2.pod_sets[0].flavors == {"cpu": "on-demand"}


def test_a_flavor_whose_taint_is_not_tolerated_is_skipped() -> None:
    tainted = Flavor(
        "gpu", {"pool": "gpu"}, [{"key": "gpu", "value": "true", "effect": "NoSchedule"}]
    )
    s = snap(cq("a", {"gpu": {"cpu": "10"}, "cheap": {"cpu": "10"}}), flavors=[tainted])
    [r] = run(s, wl("plain", "a", "1"))[:1]
    assert r.admitted[0][1].pod_sets[0].flavors == {"cpu": "cheap"}
    s2 = snap(cq("a", {"gpu": {"cpu": "10"}, "cheap": {"cpu": "10"}}), flavors=[tainted])
    tol = [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]
    [r2] = run(s2, wl("tolerant", "a", "1", tolerations=tol))[:1]
    assert r2.admitted[0][1].pod_sets[0].flavors == {"cpu": "gpu"}


def test_a_node_selector_that_contradicts_the_flavor_labels_skips_it() -> None:
    flavors = [
        Flavor("p4", {"node.kubernetes.io/instance-type": "ml.p4d.24xlarge"}),
        Flavor("p5", {"node.kubernetes.io/instance-type": "ml.p5.48xlarge"}),
    ]
    s = snap(cq("a", {"p4": {"cpu": "10"}, "p5": {"cpu": "10"}}), flavors=flavors)
    w = wl("w", "a", "1", node_selector={"node.kubernetes.io/instance-type": "ml.p5.48xlarge"})
    [r] = run(s, w)[:1]
    assert r.admitted[0][1].pod_sets[0].flavors == {"cpu": "p5"}


def test_a_resource_the_queue_does_not_cover_is_named_in_the_message() -> None:
    s = snap(cq("a"))
    results = run(s, wl("w", "a", "1", extra={"nvidia.com/gpu": "1"}))
    assert admitted_names(results) == []
    assert last_message(results, "w") == (
        "couldn't assign flavors to pod set main: resource nvidia.com/gpu unavailable in ClusterQueue"
    )


def test_more_than_the_queue_could_ever_hold_is_reported_as_such() -> None:
    s = snap(cq("a"))
    results = run(s, wl("w", "a", "11"))
    assert last_message(results, "w") == (
        "couldn't assign flavors to pod set main: insufficient quota for cpu in flavor default,"
        " request > maximum capacity (11 > 10)"
    )


def test_missing_queue_stopped_queue_and_namespace_selector_each_explain_themselves() -> None:
    class NoMatch:
        def matches(self, labels: object) -> bool:
            return False

    s = snap(cq("held", stop_policy="Hold"), cq("picky", namespace_selector=NoMatch()))
    results = run(s, wl("a", "missing"), wl("b", "held"), wl("c", "picky"))
    assert admitted_names(results) == []
    assert last_message(results, "a") == "ClusterQueue missing doesn't exist"
    assert last_message(results, "b") == "ClusterQueue held is stopped (stopPolicy Hold)"
    assert last_message(results, "c") == "Workload namespace doesn't match ClusterQueue selector"


def test_a_queue_that_references_a_missing_flavor_is_inactive() -> None:
    s = snap(cq("a", inactive_reason="FlavorNotFound: references missing ResourceFlavor(s): x"))
    results = run(s, wl("w", "a"))
    assert admitted_names(results) == []
    assert "is inactive" in last_message(results, "w")


# --- borrowing and lending -----------------------------------------------------------


def test_a_queue_borrows_idle_quota_from_its_cohort() -> None:
    s = snap(cq("a", cohort="c"), cq("b", cohort="c"))
    results = run(s, wl("big", "a", "15"))
    [(w, a)] = results[0].admitted
    assert w.name == "big" and a.borrows
    assert s.cluster_queues["b"].available(("default", "cpu")) == 5000


def test_the_borrowing_limit_caps_what_a_queue_may_borrow() -> None:
    s = snap(cq("a", cohort="c", borrowing={"cpu": "2"}), cq("b", cohort="c"))
    results = run(s, wl("w13", "a", "13"), wl("w12", "a", "12", t=1))
    assert admitted_names(results) == ["w12"]
    assert last_message(results, "w13") == (
        "couldn't assign flavors to pod set main: insufficient quota for cpu in flavor default,"
        " request > maximum capacity (13 > 12)"
    )


def test_the_lending_limit_keeps_the_rest_of_a_queues_quota_private() -> None:
    s = snap(cq("a", cohort="c"), cq("b", cohort="c", lending={"cpu": "3"}))
    results = run(s, wl("w14", "a", "14"), wl("w13", "a", "13", t=1))
    assert admitted_names(results) == ["w13"]
    # b still has its private 7 cpu
    assert s.cluster_queues["b"].available(("default", "cpu")) == 7000


def test_a_queue_without_cohort_never_borrows() -> None:
    s = snap(cq("a"), cq("b"))
    results = run(s, wl("w", "a", "12"))
    assert admitted_names(results) == []


def test_heads_that_need_no_borrowing_go_before_borrowers_then_by_priority() -> None:
    s = snap(cq("a", cohort="c"), cq("b", cohort="c"))
    admitted(s, wl("a-running", "a", "8"))
    # a's head must borrow 4; b's head fits in b's own quota; only 4 cpu are free for borrowing
    result = schedule([wl("a-head", "a", "6", priority=100), wl("b-head", "b", "8")], s)
    assert [w.name for w, _ in result.admitted] == ["b-head"]
    assert result.pending["ns/a-head"].message == (
        "Workload no longer fits after processing another workload"
    )


def test_higher_priority_heads_are_admitted_first() -> None:
    s = snap(cq("a", cohort="c"), cq("b", cohort="c"))
    result = schedule([wl("low", "a", "10", priority=1), wl("high", "b", "10", priority=5)], s)
    assert [w.name for w, _ in result.admitted] == ["high", "low"]
    s2 = snap(
        cq("a", cohort="c", quotas={"default": {"cpu": "5"}}),
        cq("b", cohort="c", quotas={"default": {"cpu": "5"}}),
    )
    result2 = schedule([wl("low", "a", "6", priority=1), wl("high", "b", "6", priority=5)], s2)
    assert [w.name for w, _ in result2.admitted] == ["high"]


# --- queueing strategies -------------------------------------------------------------


def _queue(strategy: str) -> tuple[QueueManager, list[str]]:
    s = snap(cq("a", strategy=strategy))
    q = QueueManager()
    q.set_strategy("a", strategy)
    for w in (wl("big", "a", "12", t=1), wl("small", "a", "2", t=2)):
        q.push("a", w)
    admitted_order = []
    for _ in range(4):
        r = cycle(q, s)
        admitted_order += [w.name for w, _ in r.admitted]
    return q, admitted_order


def test_best_effort_fifo_sets_aside_a_head_that_does_not_fit_and_admits_the_next() -> None:
    q, order = _queue("BestEffortFIFO")
    assert order == ["small"]
    assert q.is_inadmissible("ns/big")


def test_strict_fifo_lets_a_head_that_does_not_fit_block_its_queue() -> None:
    q, order = _queue("StrictFIFO")
    assert order == []
    assert [w.name for w in q.pending("a")] == ["big", "small"]


def test_strict_fifo_still_admits_a_higher_priority_arrival_ahead_of_the_blocked_head() -> None:
    s = snap(cq("a", strategy="StrictFIFO"))
    q = QueueManager()
    q.set_strategy("a", "StrictFIFO")
    q.push("a", wl("big", "a", "12", t=1))
    cycle(q, s)
    q.push("a", wl("urgent", "a", "2", t=5, priority=10))
    r = cycle(q, s)
    assert [w.name for w, _ in r.admitted] == ["urgent"]


def test_set_aside_workloads_return_when_quota_is_freed() -> None:
    s = snap(cq("a"))
    running = admitted(s, wl("running", "a", "8"))
    q = QueueManager()
    q.push("a", wl("next", "a", "5"))
    assert cycle(q, s).admitted == []
    assert q.heads(["a"]) == []
    s.remove_workload(running)
    q.requeue_inadmissible({"a"})
    assert [w.name for w, _ in cycle(q, s).admitted] == ["next"]


# --- cohorts with their own quota --------------------------------------------------------


def test_a_cohort_object_lends_its_own_pool_to_its_queues() -> None:
    from hyperpod.controllers.kueue.snapshot import Quota

    s = snap(cq("a", cohort="shared"), cq("b", cohort="shared"))
    s.add_cohort("shared", None, {("default", "cpu"): Quota(6000)})
    # a may use its 10, b's idle 10 and the cohort's own 6
    results = run(s, wl("w26", "a", "26"), wl("w27", "a", "27", t=1))
    assert admitted_names(results) == ["w26"]
    assert s.cluster_queues["b"].available(("default", "cpu")) == 0


def test_a_child_cohort_borrows_from_its_parent_within_its_limit() -> None:
    from hyperpod.controllers.kueue.snapshot import Quota

    s = snap(cq("a", cohort="team"), cq("z", cohort="org"))
    s.add_cohort("team", "org", {("default", "cpu"): Quota(0, borrowing_limit=3000)})
    s.add_cohort("org", None, {})
    results = run(s, wl("w14", "a", "14"), wl("w13", "a", "13", t=1))
    # a holds 10; its cohort may borrow 3 of z's idle 10 from the parent
    assert admitted_names(results) == ["w13"]


def test_a_preemptor_goes_first_once_its_victims_are_gone() -> None:
    s = snap(cq("a", cohort="c"), cq("b", cohort="c"))
    admitted(s, wl("a-running", "a", "8"))
    heads = [wl("a-big", "a", "6", priority=9), wl("b-head", "b", "8")]
    # normally the head that needs no borrowing (b-head) takes the free quota first
    assert [w.name for w, _ in schedule(heads, s).admitted] == ["b-head"]
    s2 = snap(cq("a", cohort="c"), cq("b", cohort="c"))
    admitted(s2, wl("a-running", "a", "8"))
    heads2 = [wl("a-big", "a", "6", priority=9), wl("b-head", "b", "8")]
    result = schedule(heads2, s2, preempting={"ns/a-big"})
    assert [w.name for w, _ in result.admitted] == ["a-big"]
