"""Access reviews: ``kubectl auth can-i`` (``--list``), ``kubectl auth whoami``, and webhooks'
SubjectAccessReview.

SelfSubjectAccessReview, SelfSubjectRulesReview, SubjectAccessReview,
LocalSubjectAccessReview (authorization.k8s.io/v1) and SelfSubjectReview
(authentication.k8s.io/v1) are create-only and never stored: the answer comes back in
``status``, computed by the same RBAC authorizer that guards every request (see authz.py).
Without an authorizer (a server started without authentication) everyone is ``admin`` in
``system:masters`` and the answer is yes.
"""

from __future__ import annotations

import copy
from typing import Any

from hyperpod.apiserver.authz import Authorizer, user_from_review_spec
from hyperpod.apiserver.errors import Invalid
from hyperpod.apiserver.rbac import MASTERS, Attributes, UserInfo
from hyperpod.apiserver.resources import ResourceType

ADMIN = UserInfo("admin", (MASTERS, "system:authenticated"))


def _invalid(rt: ResourceType, field: str, message: str, value: str = "null") -> Invalid:
    return Invalid(
        f'{rt.kind}.{rt.group} is invalid: {field}: Invalid value: "{value}": {message}',
        kind=rt.kind,
        group=rt.group,
        causes=[{"reason": "FieldValueInvalid", "message": message, "field": field}],
    )


def _attrs(rt: ResourceType, spec: dict[str, Any], namespace: str | None) -> Attributes:
    given = [k for k in ("resourceAttributes", "nonResourceAttributes") if spec.get(k)]
    if len(given) != 1:
        raise _invalid(
            rt,
            "spec.resourceAttributes",
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        )
    if given[0] == "nonResourceAttributes":
        nra = spec["nonResourceAttributes"]
        if not isinstance(nra, dict):
            raise _invalid(rt, "spec.nonResourceAttributes", "must be an object")
        return Attributes(
            verb=str(nra.get("verb") or ""), resource_request=False, path=str(nra.get("path") or "")
        )
    ra = spec["resourceAttributes"]
    if not isinstance(ra, dict):
        raise _invalid(rt, "spec.resourceAttributes", "must be an object")
    ns = str(ra.get("namespace") or "")
    if namespace is not None:  # LocalSubjectAccessReview: the URL's namespace
        if ns and ns != namespace:
            raise _invalid(
                rt, "spec.resourceAttributes.namespace", "must match metadata.namespace", ns
            )
        ns = namespace
    return Attributes(
        verb=str(ra.get("verb") or ""),
        group=str(ra.get("group") or ""),
        resource=str(ra.get("resource") or ""),
        subresource=str(ra.get("subresource") or ""),
        namespace=ns,
        name=str(ra.get("name") or ""),
    )


def answer(
    rt: ResourceType,
    body: dict[str, Any],
    *,
    user: UserInfo | None = None,
    authorizer: Authorizer | None = None,
    namespace: str | None = None,
) -> dict[str, Any]:
    """The review with its ``status`` filled in; 422 naming the field when the spec is wrong."""
    out = copy.deepcopy(body)
    out["apiVersion"] = rt.api_version
    out["kind"] = rt.kind
    out.setdefault("metadata", {})
    me = user or ADMIN
    spec = out.get("spec")
    if rt.kind == "SelfSubjectReview":
        out["status"] = {"userInfo": me.to_wire()}
        return out
    if not isinstance(spec, dict):
        raise Invalid(
            f"{rt.kind}.{rt.group} is invalid: spec: Required value",
            kind=rt.kind,
            group=rt.group,
            causes=[{"reason": "FieldValueRequired", "message": "Required value", "field": "spec"}],
        )
    if rt.kind in ("SubjectAccessReview", "LocalSubjectAccessReview"):
        subject = user_from_review_spec(spec)
        if not subject.name and not subject.groups:
            raise _invalid(rt, "spec.user", "at least one of user or group must be specified")
        who = subject
    else:
        who = me
    if rt.kind == "SelfSubjectRulesReview":
        ns = str(spec.get("namespace") or "")
        if authorizer is None:
            res_rules = [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]
            non_rules = [{"verbs": ["*"], "nonResourceURLs": ["*"]}]
        else:
            res, non = authorizer.rules_for(who, ns)
            res_rules = [r.to_wire() for r in res]
            non_rules = [r.to_wire() for r in non]
        out["status"] = {
            "resourceRules": res_rules,
            "nonResourceRules": non_rules,
            "incomplete": False,
        }
        return out
    attrs = _attrs(rt, spec, namespace if rt.kind == "LocalSubjectAccessReview" else None)
    if authorizer is None:
        allowed, reason = True, "the server runs without authentication: everyone is admin"
    else:
        allowed, reason = authorizer.authorize(who, attrs)
    status: dict[str, Any] = {"allowed": allowed}
    if reason:
        status["reason"] = reason
    out["status"] = status
    return out
