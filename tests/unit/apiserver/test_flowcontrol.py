"""API Priority and Fairness: classification by FlowSchema, seats per level, queues and 429s."""

from __future__ import annotations

import asyncio

import pytest

from hyperpod.apiserver import flowcontrol
from hyperpod.apiserver.errors import TooManyRequests
from hyperpod.apiserver.flowcontrol import FLOWSCHEMAS, LEVELS, FlowControl
from hyperpod.apiserver.rbac import Attributes, UserInfo
from hyperpod.apiserver.registry import Registry

AUTH = "system:authenticated"
ADMIN = UserInfo("admin", ("system:masters", AUTH))
ALICE = UserInfo("alice", ("devs", AUTH))
SA = UserInfo(
    "system:serviceaccount:team-a:bot",
    ("system:serviceaccounts", "system:serviceaccounts:team-a", AUTH),
)
NODE = UserInfo("system:node:n1", ("system:nodes", AUTH))
LIST_PODS = Attributes("list", resource="pods", namespace="team-a")


@pytest.fixture
def fc(registry: Registry) -> FlowControl:
    flowcontrol.seed(registry)
    return FlowControl(registry)


def names(fc: FlowControl, user: UserInfo, a: Attributes) -> tuple[str, str]:
    t = fc.classify(user, a)
    return t.schema.name, t.level.name


def test_bootstrap_objects_and_classification(fc: FlowControl, registry: Registry) -> None:
    levels = {o["metadata"]["name"] for o in registry.list(LEVELS)}
    assert levels == {
        "exempt",
        "system",
        "node-high",
        "leader-election",
        "workload-high",
        "workload-low",
        "global-default",
        "catch-all",
    }
    assert names(fc, ADMIN, LIST_PODS) == ("exempt", "exempt")
    assert names(fc, SA, LIST_PODS) == ("service-accounts", "workload-low")
    assert names(fc, ALICE, LIST_PODS) == ("global-default", "global-default")
    assert names(fc, NODE, Attributes("update", resource="nodes", subresource="status")) == (
        "system-node-high",
        "node-high",
    )
    assert names(fc, NODE, LIST_PODS) == ("system-nodes", "system")
    lease = Attributes(
        "update", group="coordination.k8s.io", resource="leases", namespace="kube-node-lease"
    )
    assert names(fc, NODE, lease) == ("system-node-high", "node-high")
    kube_sa_lease = UserInfo(
        "system:serviceaccount:kube-system:ctl", ("system:serviceaccounts:kube-system",)
    )
    assert names(fc, kube_sa_lease, lease) == ("system-leader-election", "leader-election")
    healthz = Attributes("get", resource_request=False, path="/readyz")
    assert names(fc, ALICE, healthz) == ("probes", "exempt")
    kube_sa = UserInfo(
        "system:serviceaccount:kube-system:x", ("system:serviceaccounts:kube-system",)
    )
    assert names(fc, kube_sa, LIST_PODS) == ("kube-system-service-accounts", "workload-high")
    # Unauthenticated-looking users match nothing but still land somewhere: catch-all.
    assert names(fc, UserInfo("nobody", ()), LIST_PODS)[1] == "catch-all"
    # Seats are shares of the 600-seat budget: ceil(600 * NCS / 245).
    assert fc.levels["workload-low"].seats == 245
    assert fc.levels["catch-all"].seats == 13
    assert fc.levels["exempt"].exempt


def test_a_new_flowschema_wins_by_precedence_and_is_seen_at_once(
    fc: FlowControl, registry: Registry
) -> None:
    assert names(fc, ALICE, LIST_PODS)[0] == "global-default"
    registry.create(
        FLOWSCHEMAS,
        {
            "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
            "kind": "FlowSchema",
            "metadata": {"name": "alice-pods"},
            "spec": {
                "priorityLevelConfiguration": {"name": "workload-high"},
                "matchingPrecedence": 50,
                "rules": [
                    {
                        "subjects": [{"kind": "User", "user": {"name": "alice"}}],
                        "resourceRules": [
                            {
                                "verbs": ["list"],
                                "apiGroups": [""],
                                "resources": ["pods"],
                                "namespaces": ["team-a"],
                            }
                        ],
                    }
                ],
            },
        },
    )
    assert names(fc, ALICE, LIST_PODS) == ("alice-pods", "workload-high")
    # Other namespaces, verbs and users are not covered by it.
    other_ns = Attributes("list", resource="pods", namespace="team-b")
    assert names(fc, ALICE, other_ns)[0] == "global-default"
    assert names(fc, ALICE, Attributes("delete", resource="pods", namespace="team-a"))[0] == (
        "global-default"
    )
    assert names(fc, SA, LIST_PODS)[0] == "service-accounts"


def test_bad_objects_are_refused_with_the_field_named(registry: Registry) -> None:
    from hyperpod.apiserver.errors import Invalid

    with pytest.raises(Invalid, match="matchingPrecedence"):
        registry.create(
            FLOWSCHEMAS,
            {
                "metadata": {"name": "x"},
                "spec": {"priorityLevelConfiguration": {"name": "a"}, "matchingPrecedence": 0},
            },
        )
    with pytest.raises(Invalid, match="handSize"):
        registry.create(
            LEVELS,
            {
                "metadata": {"name": "y"},
                "spec": {
                    "type": "Limited",
                    "limited": {
                        "limitResponse": {
                            "type": "Queuing",
                            "queuing": {"queues": 2, "handSize": 3},
                        }
                    },
                },
            },
        )


def test_a_full_level_queues_then_refuses_while_other_levels_pass(
    fc: FlowControl, registry: Registry
) -> None:
    low = registry.get(LEVELS, "workload-low")
    low["spec"]["limited"]["nominalConcurrencyShares"] = 1
    low["spec"]["limited"]["limitResponse"]["queuing"] = {
        "queues": 1,
        "handSize": 1,
        "queueLengthLimit": 1,
    }
    registry.update(LEVELS, low)
    fc.classify(ADMIN, LIST_PODS)  # picks up the change
    seats = fc.levels["workload-low"].seats
    assert seats == 5  # ceil(600 * 1 / 146)

    async def main() -> None:
        held = [fc.classify(SA, LIST_PODS) for _ in range(seats)]
        for t in held:
            await t.acquire()
        queued = fc.classify(SA, LIST_PODS)
        waiter = asyncio.create_task(queued.acquire())
        await asyncio.sleep(0)
        with pytest.raises(TooManyRequests) as refused:
            await fc.classify(SA, LIST_PODS).acquire()
        assert refused.value.retry_after == 1
        # Other levels are not affected by the full one.
        other = fc.classify(ALICE, LIST_PODS)
        await other.acquire()
        other.release()
        admin = fc.classify(ADMIN, LIST_PODS)
        await admin.acquire()
        admin.release()
        # Exempt is not limited by shares, only by a backstop of 1,200 in flight.
        exempt = fc.levels["exempt"]
        exempt.in_flight = flowcontrol.EXEMPT_BACKSTOP
        with pytest.raises(TooManyRequests):
            await fc.classify(ADMIN, LIST_PODS).acquire()
        exempt.in_flight = 0
        # A freed seat goes to the queued request.
        held[0].release()
        await asyncio.wait_for(waiter, 1)
        assert queued.holds
        queued.release()
        for t in held[1:]:
            t.release()
        assert fc.levels["workload-low"].in_flight == 0

    asyncio.run(main())
    assert fc.levels["workload-low"].rejected == 1
    assert fc.levels["exempt"].in_flight == 0


def test_headers_name_the_schema_and_level_uids(fc: FlowControl, registry: Registry) -> None:
    ticket = fc.classify(SA, LIST_PODS)
    sent: list[dict] = []

    async def send(msg: dict) -> None:
        sent.append(msg)

    async def main() -> None:
        wrapped = ticket.headers(send)
        await wrapped({"type": "http.response.start", "status": 429, "headers": []})

    asyncio.run(main())
    headers = dict(sent[0]["headers"])
    fs_uid = registry.get(FLOWSCHEMAS, "service-accounts")["metadata"]["uid"]
    pl_uid = registry.get(LEVELS, "workload-low")["metadata"]["uid"]
    assert headers[b"x-kubernetes-pf-flowschema-uid"] == fs_uid.encode()
    assert headers[b"x-kubernetes-pf-prioritylevel-uid"] == pl_uid.encode()
    assert headers[b"retry-after"] == b"1"


def test_seed_restores_mandatory_objects_and_respects_autoupdate_false(registry: Registry) -> None:
    flowcontrol.seed(registry)
    catch_all = registry.get(LEVELS, "catch-all")
    catch_all["spec"]["limited"]["nominalConcurrencyShares"] = 50
    registry.update(LEVELS, catch_all)
    low = registry.get(LEVELS, "workload-low")
    low["metadata"]["annotations"][flowcontrol.AUTOUPDATE] = "false"
    low["spec"]["limited"]["nominalConcurrencyShares"] = 7
    registry.update(LEVELS, low)
    flowcontrol.seed(registry)
    assert registry.get(LEVELS, "catch-all")["spec"]["limited"]["nominalConcurrencyShares"] == 5
    assert registry.get(LEVELS, "workload-low")["spec"]["limited"]["nominalConcurrencyShares"] == 7


def test_long_running_requests_hold_no_seat() -> None:
    assert flowcontrol.long_running({"path": "/readyz"})
    assert flowcontrol.long_running({"path": "/api/v1/pods", "query_string": b"watch=true"})
    assert flowcontrol.long_running({"path": "/api/v1/namespaces/a/pods/p/exec"})
    assert not flowcontrol.long_running({"path": "/api/v1/pods", "query_string": b""})
