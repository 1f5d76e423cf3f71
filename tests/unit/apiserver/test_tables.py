"""Tables print objects the way kubectl shows them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hyperpod.apiserver.tables import human_age, jsonpath, node_status, pod_status, to_table

NOW = datetime(2026, 1, 10, 12, 0, 0, tzinfo=UTC)


def ts(delta: timedelta) -> str:
    return (NOW - delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(status: dict[str, Any] | None = None, containers: int = 1, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "p",
            "namespace": "default",
            "creationTimestamp": ts(timedelta(minutes=5, seconds=3)),
            **meta,
        },
        "spec": {
            "containers": [{"name": f"c{i}", "image": "x"} for i in range(containers)],
            "nodeName": "n1",
        },
        "status": status or {"phase": "Pending"},
    }


def running(name: str = "c0", ready: bool = True, restarts: int = 0) -> dict[str, Any]:
    return {
        "name": name,
        "ready": ready,
        "restartCount": restarts,
        "state": {"running": {"startedAt": ts(timedelta(minutes=1))}},
    }


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (59, "59s"),
        (119, "119s"),
        (120, "2m"),
        (303, "5m3s"),
        (600, "10m"),
        (179 * 60, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 600, "3h10m"),
        (30 * 3600, "30h"),
        (2 * 86400, "2d"),
        (2 * 86400 + 4 * 3600, "2d4h"),
        (30 * 86400, "30d"),
        (800 * 86400, "2y70d"),
        (3000 * 86400, "8y"),
    ],
)
def test_ages_read_like_kubectl(seconds: int, text: str) -> None:
    assert human_age(seconds) == text


def test_a_pod_table_has_kubectl_columns_and_wide_columns_at_priority_one() -> None:
    table = to_table(
        "Pod",
        [pod({"phase": "Running", "podIP": "127.0.0.1", "containerStatuses": [running()]})],
        now=NOW,
    )
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    cols = [(c["name"], c["priority"]) for c in table["columnDefinitions"]]
    assert cols == [
        ("Name", 0),
        ("Ready", 0),
        ("Status", 0),
        ("Restarts", 0),
        ("Age", 0),
        ("IP", 1),
        ("Node", 1),
        ("Nominated Node", 1),
        ("Readiness Gates", 1),
    ]
    row = table["rows"][0]
    assert row["cells"] == [
        "p",
        "1/1",
        "Running",
        "0",
        "5m3s",
        "127.0.0.1",
        "n1",
        "<none>",
        "<none>",
    ]
    assert row["object"] == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": pod()["metadata"],
    }


def test_rows_carry_the_whole_object_or_nothing_on_request() -> None:
    obj = pod()
    assert to_table("Pod", [obj], include_object="Object", now=NOW)["rows"][0]["object"] is obj
    assert "object" not in to_table("Pod", [obj], include_object="None", now=NOW)["rows"][0]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({"phase": "Pending"}, "Pending"),
        (
            {
                "phase": "Pending",
                "containerStatuses": [{"state": {"waiting": {"reason": "ContainerCreating"}}}],
            },
            "ContainerCreating",
        ),
        (
            {
                "phase": "Running",
                "containerStatuses": [
                    {"state": {"waiting": {"reason": "CrashLoopBackOff"}}, "restartCount": 4}
                ],
            },
            "CrashLoopBackOff",
        ),
        (
            {
                "phase": "Succeeded",
                "containerStatuses": [
                    {"state": {"terminated": {"reason": "Completed", "exitCode": 0}}}
                ],
            },
            "Completed",
        ),
        (
            {
                "phase": "Failed",
                "containerStatuses": [
                    {"state": {"terminated": {"reason": "Error", "exitCode": 1}}}
                ],
            },
            "Error",
        ),
        (
            {"phase": "Failed", "containerStatuses": [{"state": {"terminated": {"exitCode": 3}}}]},
            "ExitCode:3",
        ),
        (
            {
                "phase": "Failed",
                "containerStatuses": [{"state": {"terminated": {"exitCode": 137, "signal": 9}}}],
            },
            "Signal:9",
        ),
        ({"phase": "Failed", "reason": "Evicted"}, "Evicted"),
        (
            {
                "phase": "Pending",
                "conditions": [
                    {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}
                ],
            },
            "SchedulingGated",
        ),
    ],
)
def test_pod_status_is_computed_like_kubectl(status: dict[str, Any], expected: str) -> None:
    assert pod_status(pod(status))[0] == expected


def test_init_containers_show_progress_and_failures() -> None:
    obj = pod(
        {
            "phase": "Pending",
            "initContainerStatuses": [
                {"state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                {"state": {"running": {}}},
            ],
        }
    )
    obj["spec"]["initContainers"] = [{"name": "i0"}, {"name": "i1"}]
    assert pod_status(obj)[0] == "Init:1/2"
    obj["status"]["initContainerStatuses"][1] = {
        "state": {"terminated": {"exitCode": 2, "reason": "Error"}}
    }
    assert pod_status(obj)[0] == "Init:Error"
    obj["status"]["initContainerStatuses"][1] = {
        "state": {"waiting": {"reason": "CrashLoopBackOff"}}
    }
    assert pod_status(obj)[0] == "Init:CrashLoopBackOff"


def test_a_deleted_running_pod_is_terminating_and_a_completed_pod_with_a_running_container_is_not_ready() -> (
    None
):
    obj = pod(
        {"phase": "Running", "containerStatuses": [running()]}, deletionTimestamp=ts(timedelta(0))
    )
    assert pod_status(obj)[0] == "Terminating"
    obj = pod({"phase": "Failed"}, deletionTimestamp=ts(timedelta(0)))
    assert pod_status(obj)[0] == "Failed"
    obj = pod(
        {
            "phase": "Running",
            "containerStatuses": [
                running("c1"),
                {"state": {"terminated": {"reason": "Completed", "exitCode": 0}}},
            ],
        },
        containers=2,
    )
    assert pod_status(obj)[:3] == ("NotReady", 1, 2)


def test_restarts_show_when_the_last_one_happened() -> None:
    cs = running(restarts=3)
    cs["lastState"] = {"terminated": {"finishedAt": ts(timedelta(minutes=2))}}
    table = to_table("Pod", [pod({"phase": "Running", "containerStatuses": [cs]})], now=NOW)
    assert table["rows"][0]["cells"][3] == "3 (2m ago)"


def test_readiness_gates_count_true_conditions() -> None:
    obj = pod({"phase": "Running", "conditions": [{"type": "g1", "status": "True"}]})
    obj["spec"]["readinessGates"] = [{"conditionType": "g1"}, {"conditionType": "g2"}]
    assert to_table("Pod", [obj], now=NOW)["rows"][0]["cells"][8] == "1/2"


def test_nodes_show_status_roles_and_version() -> None:
    node = {
        "metadata": {
            "name": "n1",
            "creationTimestamp": ts(timedelta(days=2)),
            "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "gpu"},
        },
        "spec": {"unschedulable": True},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "nodeInfo": {"kubeletVersion": "v1.32.0-hyperpod"},
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
        },
    }
    table = to_table("Node", [node], now=NOW)
    assert [c["name"] for c in table["columnDefinitions"] if c["priority"] == 0] == [
        "Name",
        "Status",
        "Roles",
        "Age",
        "Version",
    ]
    assert table["rows"][0]["cells"][:6] == [
        "n1",
        "Ready,SchedulingDisabled",
        "control-plane,gpu",
        "2d",
        "v1.32.0-hyperpod",
        "127.0.0.1",
    ]
    assert (
        node_status({"status": {"conditions": [{"type": "Ready", "status": "False"}]}})
        == "NotReady"
    )
    assert node_status({}) == "Unknown"


def test_events_show_last_seen_object_and_repeat_counts() -> None:
    ev = {
        "metadata": {"name": "e1", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "p"},
        "reason": "Started",
        "message": "Started container",
        "type": "Normal",
        "count": 3,
        "firstTimestamp": ts(timedelta(minutes=10)),
        "lastTimestamp": ts(timedelta(minutes=5)),
        "source": {"component": "kubelet"},
    }
    cells = to_table("Event", [ev], now=NOW)["rows"][0]["cells"]
    assert cells[:5] == ["5m (x3 over 10m)", "Normal", "Started", "pod/p", "Started container"]
    assert cells[6] == "kubelet"


def test_namespaces_services_config_maps_and_secrets() -> None:
    created = {"creationTimestamp": ts(timedelta(seconds=30))}
    ns = to_table(
        "Namespace",
        [{"metadata": {"name": "a", **created}, "status": {"phase": "Active"}}],
        now=NOW,
    )
    assert ns["rows"][0]["cells"] == ["a", "Active", "30s"]
    svc = {
        "metadata": {"name": "s", **created},
        "spec": {
            "type": "NodePort",
            "clusterIP": "10.0.0.1",
            "ports": [
                {"port": 80, "nodePort": 30080, "protocol": "TCP"},
                {"port": 53, "protocol": "UDP"},
            ],
            "selector": {"app": "x"},
        },
    }
    assert to_table("Service", [svc], now=NOW)["rows"][0]["cells"] == [
        "s",
        "NodePort",
        "10.0.0.1",
        "<none>",
        "80:30080/TCP,53/UDP",
        "30s",
        "app=x",
    ]
    cm = {
        "metadata": {"name": "c", **created},
        "data": {"a": "1", "b": "2"},
        "binaryData": {"c": ""},
    }
    assert to_table("ConfigMap", [cm], now=NOW)["rows"][0]["cells"] == ["c", 3, "30s"]
    secret = {"metadata": {"name": "s", **created}, "type": "Opaque", "data": {"a": "YQ=="}}
    table = to_table("Secret", [secret], now=NOW)
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Type", "Data", "Age"]
    assert table["rows"][0]["cells"] == ["s", "Opaque", 1, "30s"]


def test_leases_priority_classes_crds_and_unknown_kinds() -> None:
    created = {"creationTimestamp": ts(timedelta(hours=1))}
    lease = {"metadata": {"name": "l", **created}, "spec": {"holderIdentity": "me"}}
    assert to_table("Lease", [lease], now=NOW)["rows"][0]["cells"] == ["l", "me", "60m"]
    pc = {"metadata": {"name": "high", **created}, "value": 1000, "globalDefault": False}
    assert to_table("PriorityClass", [pc], now=NOW)["rows"][0]["cells"] == [
        "high",
        1000,
        False,
        "60m",
        "PreemptLowerPriority",
    ]
    crd = {"metadata": {"name": "pytorchjobs.kubeflow.org", **created}}
    table = to_table("CustomResourceDefinition", [crd], now=NOW)
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Created At"]
    assert table["rows"][0]["cells"] == ["pytorchjobs.kubeflow.org", created["creationTimestamp"]]
    other = to_table("Widget", [{"metadata": {"name": "w", **created}}], now=NOW)
    assert [c["name"] for c in other["columnDefinitions"]] == ["Name", "Age"]
    assert other["rows"][0]["cells"] == ["w", "60m"]


def test_crd_printer_columns_are_evaluated_with_jsonpath() -> None:
    job = {
        "metadata": {"name": "j", "creationTimestamp": ts(timedelta(minutes=3))},
        "spec": {"replicas": 4, "containers": [{"image": "a"}, {"image": "b"}]},
        "status": {
            "conditions": [
                {"type": "Created", "status": "True"},
                {"type": "Running", "status": "False"},
            ],
            "startTime": ts(timedelta(seconds=90)),
        },
    }
    columns: list[dict[str, Any]] = [
        {
            "name": "State",
            "type": "string",
            "jsonPath": '.status.conditions[?(@.type=="Running")].status',
        },
        {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
        {"name": "Image", "type": "string", "jsonPath": ".spec.containers[0].image", "priority": 1},
        {"name": "Started", "type": "date", "jsonPath": ".status.startTime"},
        {"name": "Missing", "type": "string", "jsonPath": ".status.nothing"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    table = to_table("PyTorchJob", [job], printer_columns=columns, now=NOW)
    assert [(c["name"], c["type"], c["priority"]) for c in table["columnDefinitions"]] == [
        ("Name", "string", 0),
        ("State", "string", 0),
        ("Replicas", "integer", 0),
        ("Image", "string", 1),
        ("Started", "date", 0),
        ("Missing", "string", 0),
        ("Age", "date", 0),
    ]
    assert table["rows"][0]["cells"] == ["j", "False", 4, "a", "90s", None, "3m"]


def test_a_crd_without_printer_columns_shows_age() -> None:
    table = to_table(
        "PyTorchJob",
        [{"metadata": {"name": "j", "creationTimestamp": ts(timedelta(seconds=5))}}],
        printer_columns=[],
        now=NOW,
    )
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Age"]
    assert table["rows"][0]["cells"] == ["j", "5s"]


def test_jsonpath_supports_the_common_forms() -> None:
    obj = {"a": {"b.c": 1, "list": [{"k": "x", "v": 1}, {"k": "y", "v": 2}]}, "m": {"x": 1}}
    assert jsonpath(obj, ".a.list[*].v") == [1, 2]
    assert jsonpath(obj, ".a.list[-1].k") == ["y"]
    assert jsonpath(obj, "{.a.list[1:].k}") == ["y"]
    assert jsonpath(obj, ".a['b.c']") == [1]
    assert jsonpath(obj, r".a.b\.c") == [1]
    assert jsonpath(obj, '.a.list[?(@.k!="x")].v') == [2]
    assert jsonpath(obj, ".a.list[?(@.v==2)].k") == ["y"]
    assert jsonpath(obj, ".nothing.here") == []
    assert jsonpath(obj, ".a.list[5]") == []
