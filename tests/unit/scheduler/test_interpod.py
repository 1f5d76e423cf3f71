"""Required inter-pod affinity and anti-affinity decisions."""

from __future__ import annotations

from typing import Any

from hyperpod.scheduler.interpod import (
    MSG_AFFINITY,
    MSG_ANTI_AFFINITY,
    MSG_EXISTING_ANTI,
    InterPodCheck,
    Placed,
    required_terms,
)

HOST = "kubernetes.io/hostname"


def pod(
    labels: dict[str, str], *, affinity: str | None = None, anti: str | None = None, ns: str = "d"
) -> dict[str, Any]:
    aff: dict[str, Any] = {}
    if affinity:
        aff["podAffinity"] = {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": affinity}}, "topologyKey": HOST}
            ]
        }
    if anti:
        aff["podAntiAffinity"] = {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": anti}}, "topologyKey": HOST}
            ]
        }
    return {"metadata": {"namespace": ns, "labels": labels}, "spec": {"affinity": aff}}


def placed(node: str, p: dict[str, Any]) -> Placed:
    return Placed(
        {HOST: node},
        p["metadata"]["namespace"],
        p["metadata"]["labels"],
        required_terms(p, "podAntiAffinity"),
    )


def test_anti_affinity_keeps_replicas_on_different_nodes() -> None:
    first = pod({"app": "w"}, anti="w")
    check = InterPodCheck(pod({"app": "w"}, anti="w"), [placed("n1", first)])
    assert check.reason({HOST: "n1"}) == MSG_EXISTING_ANTI
    assert check.reason({HOST: "n2"}) is None
    plain = InterPodCheck(pod({"app": "x"}, anti="w"), [placed("n1", pod({"app": "w"}))])
    assert plain.reason({HOST: "n1"}) == MSG_ANTI_AFFINITY


def test_affinity_follows_the_group_and_the_first_pod_may_start_it() -> None:
    check = InterPodCheck(pod({"app": "w"}, affinity="w"), [placed("n2", pod({"app": "w"}))])
    assert check.reason({HOST: "n1"}) == MSG_AFFINITY
    assert check.reason({HOST: "n2"}) is None
    alone = InterPodCheck(pod({"app": "w"}, affinity="w"), [])
    assert alone.reason({HOST: "n1"}) is None
    stranger = InterPodCheck(pod({"app": "x"}, affinity="w"), [])
    assert stranger.reason({HOST: "n1"}) == MSG_AFFINITY


def test_terms_only_see_their_namespaces() -> None:
    check = InterPodCheck(
        pod({"app": "x"}, anti="w"), [placed("n1", pod({"app": "w"}, ns="other"))]
    )
    assert check.reason({HOST: "n1"}) is None
