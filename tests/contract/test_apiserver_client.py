"""The official kubernetes client (typed, dynamic, watch) against the real server process."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from kubernetes import client, dynamic, watch
from kubernetes.client.rest import ApiException
from kubernetes.stream import stream

from support import RunningControlPlane

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "gadgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {
            "plural": "gadgets",
            "singular": "gadget",
            "kind": "Gadget",
            "shortNames": ["gd"],
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Size", "type": "string", "jsonPath": ".spec.size"}
                ],
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {
                                    "size": {"type": "string", "enum": ["s", "m", "l"]},
                                    "count": {"type": "integer", "default": 3},
                                },
                            },
                            "status": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            },
                        },
                    }
                },
            },
            {
                "name": "v1beta1",
                "served": True,
                "storage": False,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            },
        ],
    },
}


@pytest.fixture(scope="module")
def api(cluster: RunningControlPlane) -> Any:
    return cluster.api_client()


def test_typed_api_creates_reads_lists_and_deletes_a_config_map(api: Any) -> None:
    core = client.CoreV1Api(api)
    body = client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="typed", labels={"t": "1"}), data={"k": "v"}
    )
    created = core.create_namespaced_config_map("default", body)
    assert created.metadata.uid and created.metadata.resource_version
    got = core.read_namespaced_config_map("typed", "default")
    assert got.data == {"k": "v"}
    listed = core.list_namespaced_config_map("default", label_selector="t=1")
    assert [i.metadata.name for i in listed.items] == ["typed"]
    core.delete_namespaced_config_map("typed", "default")
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("typed", "default")
    assert err.value.status == 404
    assert json.loads(err.value.body)["reason"] == "NotFound"


def test_stale_update_returns_409_conflict(api: Any) -> None:
    core = client.CoreV1Api(api)
    cm = core.create_namespaced_config_map(
        "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="stale"), data={"a": "1"})
    )
    fresh = core.read_namespaced_config_map("stale", "default")
    fresh.data = {"a": "2"}
    core.replace_namespaced_config_map("stale", "default", fresh)
    cm.data = {"a": "3"}
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_config_map("stale", "default", cm)
    assert err.value.status == 409
    assert json.loads(err.value.body)["reason"] == "Conflict"


def test_pod_patches_strategic_merge_and_json_patch(api: Any) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(
        "default",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "patchme"},
            "spec": {
                "nodeName": "nowhere",
                "containers": [
                    {"name": "a", "image": "img:1", "env": [{"name": "X", "value": "1"}]},
                    {"name": "b", "image": "img:1"},
                ],
            },
        },
    )
    # A dict is sent as a strategic merge patch: containers merge by name.
    out = core.patch_namespaced_pod(
        "patchme",
        "default",
        {
            "metadata": {"labels": {"p": "1"}},
            "spec": {"containers": [{"name": "a", "image": "img:2"}]},
        },
    )
    assert [c.name for c in out.spec.containers] == ["a", "b"]
    assert out.spec.containers[0].image == "img:2"
    assert out.spec.containers[0].env[0].name == "X"
    # A list is sent as a JSON patch.
    out = core.patch_namespaced_pod(
        "patchme", "default", [{"op": "add", "path": "/metadata/labels/q", "value": "2"}]
    )
    assert out.metadata.labels == {"p": "1", "q": "2"}
    core.delete_namespaced_pod("patchme", "default", grace_period_seconds=0)


def test_crd_becomes_served_with_defaults_validation_and_versions(api: Any) -> None:
    ext = client.ApiextensionsV1Api(api)
    ext.create_custom_resource_definition(CRD)
    co = client.CustomObjectsApi(api)
    obj = co.create_namespaced_custom_object(
        "example.com",
        "v1",
        "default",
        "gadgets",
        {
            "apiVersion": "example.com/v1",
            "kind": "Gadget",
            "metadata": {"name": "g1"},
            "spec": {"size": "m"},
        },
    )
    assert obj["spec"]["count"] == 3
    with pytest.raises(ApiException) as err:
        co.create_namespaced_custom_object(
            "example.com",
            "v1",
            "default",
            "gadgets",
            {
                "apiVersion": "example.com/v1",
                "kind": "Gadget",
                "metadata": {"name": "g2"},
                "spec": {"size": "xxl"},
            },
        )
    assert err.value.status == 422
    causes = json.loads(err.value.body)["details"]["causes"]
    assert causes[0]["field"] == "spec.size"
    # Custom objects get merge patches from the client.
    patched = co.patch_namespaced_custom_object(
        "example.com", "v1", "default", "gadgets", "g1", {"spec": {"size": "l"}}
    )
    assert patched["spec"]["size"] == "l"
    old = co.get_namespaced_custom_object("example.com", "v1beta1", "default", "gadgets", "g1")
    assert old["apiVersion"] == "example.com/v1beta1"
    status = co.patch_namespaced_custom_object_status(
        "example.com", "v1", "default", "gadgets", "g1", {"status": {"ready": True}}
    )
    assert status["status"] == {"ready": True}


def test_dynamic_client_discovers_custom_resources(api: Any) -> None:
    dyn = dynamic.DynamicClient(api)
    gadgets = dyn.resources.get(api_version="example.com/v1", kind="Gadget")
    items = gadgets.get(namespace="default").items
    assert "g1" in [i.metadata.name for i in items]
    pods = dyn.resources.get(api_version="v1", kind="Pod")
    assert pods.namespaced and "po" in pods.short_names


def test_watch_streams_added_modified_and_deleted(api: Any) -> None:
    core = client.CoreV1Api(api)
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    seen: list[tuple[str, str]] = []

    def run() -> None:
        w = watch.Watch()
        for ev in w.stream(
            core.list_namespaced_config_map,
            "default",
            resource_version=rv,
            timeout_seconds=10,
            field_selector="metadata.name=watched",
        ):
            seen.append((ev["type"], ev["object"].metadata.name))
            if ev["type"] == "DELETED":
                w.stop()

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.3)
    core.create_namespaced_config_map(
        "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="watched"))
    )
    core.patch_namespaced_config_map("watched", "default", {"data": {"x": "y"}})
    core.delete_namespaced_config_map("watched", "default")
    t.join(15)
    assert seen == [("ADDED", "watched"), ("MODIFIED", "watched"), ("DELETED", "watched")]


def test_foreground_deletion_removes_dependents_first(api: Any) -> None:
    core = client.CoreV1Api(api)
    owner = core.create_namespaced_config_map(
        "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owner"))
    )
    ref = client.V1OwnerReference(
        api_version="v1",
        kind="ConfigMap",
        name="owner",
        uid=owner.metadata.uid,
        block_owner_deletion=True,
    )
    for i in range(2):
        core.create_namespaced_config_map(
            "default",
            client.V1ConfigMap(
                metadata=client.V1ObjectMeta(name=f"dep{i}", owner_references=[ref])
            ),
        )
    core.delete_namespaced_config_map("owner", "default", propagation_policy="Foreground")
    deadline = time.time() + 10
    names: set[str] = set()
    while time.time() < deadline:
        names = {c.metadata.name for c in core.list_namespaced_config_map("default").items}
        if not names & {"owner", "dep0", "dep1"}:
            break
        time.sleep(0.1)
    assert not names & {"owner", "dep0", "dep1"}


def test_orphan_deletion_keeps_dependents_without_the_owner_reference(api: Any) -> None:
    core = client.CoreV1Api(api)
    owner = core.create_namespaced_config_map(
        "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owner2"))
    )
    ref = client.V1OwnerReference(
        api_version="v1", kind="ConfigMap", name="owner2", uid=owner.metadata.uid
    )
    core.create_namespaced_config_map(
        "default",
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="orphan0", owner_references=[ref])),
    )
    core.delete_namespaced_config_map("owner2", "default", propagation_policy="Orphan")
    deadline = time.time() + 10
    dep = None
    while time.time() < deadline:
        dep = core.read_namespaced_config_map("orphan0", "default")
        gone = "owner2" not in {
            c.metadata.name for c in core.list_namespaced_config_map("default").items
        }
        if gone and not dep.metadata.owner_references:
            break
        time.sleep(0.1)
    assert dep is not None and not dep.metadata.owner_references


def test_namespace_deletion_empties_the_namespace_then_removes_it(api: Any) -> None:
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="doomed")))
    core.create_namespaced_config_map(
        "doomed", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="inside"))
    )
    core.delete_namespace("doomed")
    deadline = time.time() + 10
    while time.time() < deadline:
        if "doomed" not in {n.metadata.name for n in core.list_namespace().items}:
            break
        time.sleep(0.1)
    assert "doomed" not in {n.metadata.name for n in core.list_namespace().items}
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(
            "doomed", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="late"))
        )
    assert err.value.status == 404


def test_requests_without_a_token_are_401(cluster: RunningControlPlane) -> None:
    import ssl
    import urllib.error
    import urllib.request

    ctx = ssl.create_default_context(cafile=str(cluster.data_dir / "pki" / "ca.crt"))
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(cluster.url + "/api/v1/pods", context=ctx, timeout=5)
    assert err.value.code == 401


@pytest.mark.parametrize(
    ("body", "ctype", "code"),
    [
        (b"{not json", "application/json", 400),
        (b"kind: [", "application/yaml", 400),
        (b'{"apiVersion":"v1","kind":"Service","metadata":{"name":"x"}}', "application/json", 400),
        (
            b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Not_DNS"}}',
            "application/json",
            422,
        ),
        (
            b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"big"},"data":{"a":"'
            + b"x" * (3 * 1024 * 1024 + 10)
            + b'"}}',
            "application/json",
            413,
        ),
    ],
)
def test_bad_input_gets_a_4xx_status_naming_the_problem(
    cluster: RunningControlPlane, body: bytes, ctype: str, code: int
) -> None:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(
        cluster.url + "/api/v1/namespaces/default/configmaps",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {cluster.token}", "Content-Type": ctype},
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, context=cluster.ssl_context(), timeout=10)
    assert err.value.code == code
    status = json.loads(err.value.read())
    assert status["kind"] == "Status" and status["code"] == code and status["message"]


def test_a_bad_selector_is_a_400_not_a_500(api: Any) -> None:
    core = client.CoreV1Api(api)
    with pytest.raises(ApiException) as err:
        core.list_namespaced_pod("default", label_selector="a in (")
    assert err.value.status == 400


def test_exec_through_the_clients_stream_gives_output_exit_code_and_a_terminal(
    cluster: RunningControlPlane, api: Any
) -> None:
    core = client.CoreV1Api(api)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "streamed"},
        "spec": {"containers": [{"name": "main", "image": "busybox", "command": ["sleep", "300"]}]},
    }
    core.create_namespaced_pod("default", pod)
    deadline = time.monotonic() + 30
    while core.read_namespaced_pod("streamed", "default").status.phase != "Running":
        assert time.monotonic() < deadline, "the pod did not start"
        time.sleep(0.1)
    exec_ = core.connect_get_namespaced_pod_exec
    out = stream(
        exec_,
        "streamed",
        "default",
        command=["sh", "-c", "echo hi"],
        stdout=True,
        stderr=True,
        stdin=False,
        tty=False,
    )
    assert out == "hi\n"
    ws = stream(
        exec_,
        "streamed",
        "default",
        command=["sh", "-c", "exit 4"],
        stdout=True,
        stderr=True,
        stdin=False,
        tty=False,
        _preload_content=False,
    )
    ws.run_forever(timeout=20)
    assert ws.returncode == 4
    ws = stream(
        exec_,
        "streamed",
        "default",
        command=["sh"],
        stdout=True,
        stderr=True,
        stdin=True,
        tty=True,
        _preload_content=False,
    )
    ws.write_channel(4, json.dumps({"Width": 90, "Height": 30}))
    ws.write_stdin("stty size; exit 0\n")
    ws.run_forever(timeout=20)
    assert ws.returncode == 0 and "30 90" in ws.read_stdout()
    with pytest.raises(ApiException) as err:
        stream(
            exec_,
            "gone",
            "default",
            command=["ls"],
            stdout=True,
            stderr=True,
            stdin=False,
            tty=False,
        )
    assert "404" in str(err.value) and 'pods \\"gone\\" not found' in str(err.value)


def test_a_self_subject_access_review_is_answered_not_stored(api: Any) -> None:
    authz = client.AuthorizationV1Api(api)
    review = client.V1SelfSubjectAccessReview(
        spec=client.V1SelfSubjectAccessReviewSpec(
            resource_attributes=client.V1ResourceAttributes(
                verb="delete", group="kubeflow.org", resource="pytorchjobs", namespace="team-a"
            )
        )
    )
    out = authz.create_self_subject_access_review(review)
    assert out.status.allowed is True and "system:masters" in out.status.reason
    with pytest.raises(ApiException) as err:
        authz.create_self_subject_access_review(
            client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec())
        )
    assert err.value.status == 422 and "exactly one of" in err.value.body


def test_an_idle_keep_alive_connection_still_serves_the_next_request(
    cluster: RunningControlPlane,
) -> None:
    # httpx drops idle connections after 5 s; a server closing at the same moment raced with the
    # client's next request ("Server disconnected without sending a response").
    import http.client

    conn = http.client.HTTPSConnection("127.0.0.1", cluster.port, context=cluster.ssl_context())
    headers = {"Authorization": f"Bearer {cluster.token}"}
    try:
        conn.request("GET", "/api/v1/namespaces/default", headers=headers)
        first = conn.getresponse()
        first.read()
        sock = conn.sock
        time.sleep(6.5)
        conn.request("GET", "/api/v1/namespaces/default", headers=headers)
        second = conn.getresponse()
        second.read()
        assert (first.status, second.status) == (200, 200)
        assert conn.sock is sock  # the same connection, not a silent reconnect
    finally:
        conn.close()
