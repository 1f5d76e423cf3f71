"""Access reviews: ``kubectl auth can-i`` (``--list``) and ``kubectl auth whoami``.

SelfSubjectAccessReview, SelfSubjectRulesReview (authorization.k8s.io/v1) and
SelfSubjectReview (authentication.k8s.io/v1) are create-only and never stored: the answer
comes back in ``status``. The local cluster authenticates one bearer token and does not
enforce RBAC, so the truthful answer to "may I?" is always yes, and the review says why.
"""

from __future__ import annotations

import copy
from typing import Any

from hyperpod.apiserver.errors import Invalid
from hyperpod.apiserver.resources import ResourceType

USERNAME = "admin"
GROUPS = ["system:masters", "system:authenticated"]
REASON = (
    "the local cluster does not enforce RBAC: every request that carries the cluster's "
    "token is allowed"
)


def answer(rt: ResourceType, body: dict[str, Any]) -> dict[str, Any]:
    """The review with its ``status`` filled in; 422 naming the field when the spec is wrong."""
    out = copy.deepcopy(body)
    out["apiVersion"] = rt.api_version
    out["kind"] = rt.kind
    out.setdefault("metadata", {})
    spec = out.get("spec")
    if rt.kind == "SelfSubjectReview":
        out["status"] = {"userInfo": {"username": USERNAME, "groups": list(GROUPS)}}
        return out
    if not isinstance(spec, dict):
        raise Invalid(
            f"{rt.kind}.{rt.group} is invalid: spec: Required value",
            kind=rt.kind,
            group=rt.group,
            causes=[{"reason": "FieldValueRequired", "message": "Required value", "field": "spec"}],
        )
    if rt.kind == "SelfSubjectAccessReview":
        given = [k for k in ("resourceAttributes", "nonResourceAttributes") if spec.get(k)]
        if len(given) != 1:
            message = "exactly one of nonResourceAttributes or resourceAttributes must be specified"
            raise Invalid(
                f"{rt.kind}.{rt.group} is invalid: spec.resourceAttributes: Invalid value: "
                f'"null": {message}',
                kind=rt.kind,
                group=rt.group,
                causes=[
                    {
                        "reason": "FieldValueInvalid",
                        "message": message,
                        "field": "spec.resourceAttributes",
                    }
                ],
            )
        out["status"] = {"allowed": True, "reason": REASON}
        return out
    out["status"] = {
        "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
        "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
        "incomplete": False,
    }
    return out
