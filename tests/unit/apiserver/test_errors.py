"""Status bodies match kube-apiserver's JSON byte for byte (field order, omitempty)."""

from __future__ import annotations

import orjson

from hyperpod.apiserver.errors import AlreadyExists, NotFound, TooManyRequests, cause, invalid


def test_a_not_found_status_has_kube_apiservers_field_order_and_no_empty_group() -> None:
    err = NotFound('pods "x" not found', name="x", group="", kind="pods")
    assert orjson.dumps(err.status()) == (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        b'"message":"pods \\"x\\" not found","reason":"NotFound",'
        b'"details":{"name":"x","kind":"pods"},"code":404}'
    )


def test_a_bare_not_found_still_carries_empty_details() -> None:
    body = NotFound("the server could not find the requested resource").status()
    assert list(body) == [
        "kind",
        "apiVersion",
        "metadata",
        "status",
        "message",
        "reason",
        "details",
        "code",
    ]
    assert body["details"] == {}


def test_groups_and_causes_are_kept_when_set() -> None:
    err = AlreadyExists(
        'pytorchjobs.kubeflow.org "j" already exists',
        name="j",
        group="kubeflow.org",
        kind="pytorchjobs",
    )
    assert err.status()["details"] == {"name": "j", "group": "kubeflow.org", "kind": "pytorchjobs"}
    inv = invalid("ConfigMap", "c", [cause("data", "Required value", "FieldValueRequired")])
    assert orjson.dumps(inv.status()["details"]) == (
        b'{"name":"c","kind":"ConfigMap","causes":[{"reason":"FieldValueRequired",'
        b'"message":"Required value","field":"data"}]}'
    )


def test_other_errors_omit_details_and_put_retry_after_in_them() -> None:
    assert "details" not in AlreadyExists("x").status()
    busy = TooManyRequests("slow down", retry_after=1).status()
    assert busy["details"] == {"retryAfterSeconds": 1}
    assert list(busy)[-2:] == ["details", "code"]
