"""Pod Security admission refuses host access in baseline/restricted namespaces with a 403."""

from __future__ import annotations

from typing import Any

import pytest

from hyperpod.apiserver.errors import Forbidden
from hyperpod.apiserver.podsecurity import ENFORCE, validator, violations
from hyperpod.apiserver.registry import Registry


def _pod(name: str, ns: str, **spec: Any) -> dict[str, Any]:
    base = {"containers": [{"name": "c", "image": "x", "command": ["true"]}]}
    return {"metadata": {"name": name, "namespace": ns}, "spec": {**base, **spec}}


HOST = {"volumes": [{"name": "h", "hostPath": {"path": "/etc"}}]}


def test_what_baseline_forbids_is_named_like_kube() -> None:
    assert violations(_pod("p", "a")) == []
    assert violations(_pod("p", "a", **HOST)) == ['hostPath volumes (volumes "h")']
    priv = [{"name": "c", "image": "x", "securityContext": {"privileged": True}}]
    assert violations(_pod("p", "a", containers=priv)) == [
        'privileged (containers "c" must not set securityContext.privileged=true)'
    ]
    caps = [{"name": "c", "securityContext": {"capabilities": {"add": ["SYS_ADMIN", "CHOWN"]}}}]
    assert "capabilities SYS_ADMIN" in violations(_pod("p", "a", containers=caps))[0]
    assert violations(_pod("p", "a", hostPID=True))[0] == "host namespaces (hostPID=true)"


def test_labelled_namespaces_refuse_and_others_allow(registry: Registry) -> None:
    registry.add_admission("pods", None, validator(registry))
    for name, level in (("open", None), ("base", "baseline"), ("strict", "restricted")):
        labels = {ENFORCE: level} if level else {}
        registry.create("namespaces", {"metadata": {"name": name, "labels": labels}})
    registry.create("pods", _pod("ok", "open", **HOST))
    registry.create("pods", _pod("plain", "strict"))
    for ns, level in (("base", "baseline"), ("strict", "restricted")):
        with pytest.raises(Forbidden) as err:
            registry.create("pods", _pod("bad", ns, **HOST))
        assert err.value.message == (
            f'pods "bad" is forbidden: violates PodSecurity "{level}:latest": '
            'hostPath volumes (volumes "h")'
        )
        assert registry.try_get("pods", "bad", ns) is None
