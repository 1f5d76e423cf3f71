"""The request gate: authentication -> impersonation -> authorization -> audit, per request.

Identities:
- a client certificate signed by the cluster's client CA (controlplane/clientcerts.py): user =
  Common Name, groups = Organizations;
- the cluster's admin token (``<data_dir>/token``) is user ``admin`` in ``system:masters``;
- a ServiceAccount JWT (TokenRequest API, see tokens.py) is
  ``system:serviceaccount:<ns>:<name>`` in ``system:serviceaccounts`` and
  ``system:serviceaccounts:<ns>``, valid while the account (and the pod it is bound to) exists;
- every authenticated user is also in ``system:authenticated``.
``Impersonate-User`` / ``Impersonate-Group`` / ``Impersonate-Uid`` / ``Impersonate-Extra-*``
headers (``kubectl --as``, ``--as-group``) switch identity only when RBAC grants the
``impersonate`` verb on ``users``, ``groups``, ``serviceaccounts``, ``uids`` or ``userextras``.
``/healthz``, ``/livez``, ``/readyz`` and ``/version`` need no credentials.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from typing import Any

from hyperpod.apiserver import audit, authz, tokens
from hyperpod.apiserver.audit import AuditLog
from hyperpod.apiserver.errors import BadRequest, Forbidden, Invalid, NotFound, Unauthorized
from hyperpod.apiserver.rbac import MASTERS, Attributes, UserInfo, forbidden_message
from hyperpod.apiserver.registry import Registry

PUBLIC = {"/healthz", "/livez", "/readyz", "/version"}
OIDC_PATHS = {
    "/.well-known/openid-configuration",
    "/.well-known/openid-configuration/",
    "/openid/v1/jwks",
    "/openid/v1/jwks/",
}
AUTHENTICATED = "system:authenticated"
ADMIN = UserInfo("admin", ("system:masters", AUTHENTICATED))
USER_KEY = "hyperpod.user"
CLIENT_CERT = "hyperpod.client_cert"  # (CN, [O...]) set by controlplane/clientcerts.py
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Gate:
    def __init__(
        self,
        reg: Registry,
        admin_token: str | None,
        issuer: tokens.TokenIssuer,
        audit_log: AuditLog | None = None,
    ) -> None:
        self.reg = reg
        self.admin_token = admin_token
        self.issuer = issuer
        self.authorizer = authz.Authorizer(reg)
        self.audit_log = audit_log
        self._verified: dict[str, tokens.Claims] = {}

    # ------------------------------------------------------------------ authentication
    def authenticate(
        self, headers: dict[str, str], client_cert: tuple[str, list[str]] | None = None
    ) -> UserInfo:
        if client_cert is not None:  # verified against the client CA by the TLS layer
            name, orgs = client_cert
            groups = tuple(dict.fromkeys([*orgs, AUTHENTICATED]))
            return ADMIN if name == ADMIN.name and MASTERS in groups else UserInfo(name, groups)
        auth = headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("Unauthorized")
        if self.admin_token is not None and hmac.compare_digest(token, self.admin_token):
            return ADMIN
        if token.count(".") == 2:
            user = self._service_account(token)
            if user is not None:
                return user
        raise Unauthorized("Unauthorized")

    def _service_account(self, token: str) -> UserInfo | None:
        now = time.time()
        claims = self._verified.get(token)
        if claims is None or now >= claims.expires:
            try:
                claims = self.issuer.verify(token, now=now)
            except tokens.TokenInvalid:
                return None
            if len(self._verified) >= 4096:
                self._verified.clear()
            # A signature checks out forever; expiry and the account/pod lookups below are
            # still done on every request, so a deleted account stops its tokens at once.
            self._verified[token] = claims
        sa = self.reg.try_get("serviceaccounts", claims.name, claims.namespace)
        if sa is None or (sa.get("metadata") or {}).get("uid") != claims.uid:
            return None
        extra: list[tuple[str, tuple[str, ...]]] = []
        if claims.bound_kind is not None:
            res = "pods" if claims.bound_kind == "pod" else "secrets"
            obj = self.reg.try_get(res, claims.bound_name or "", claims.namespace)
            md = (obj or {}).get("metadata") or {}
            if obj is None or md.get("uid") != claims.bound_uid or md.get("deletionTimestamp"):
                return None
            if claims.bound_kind == "pod":
                extra = [
                    ("authentication.kubernetes.io/pod-name", (claims.bound_name or "",)),
                    ("authentication.kubernetes.io/pod-uid", (claims.bound_uid or "",)),
                ]
        return UserInfo(
            claims.username,
            (
                "system:serviceaccounts",
                f"system:serviceaccounts:{claims.namespace}",
                AUTHENTICATED,
            ),
            uid=claims.uid,
            extra=tuple(extra),
        )

    # ------------------------------------------------------------------ impersonation
    def impersonate(
        self, user: UserInfo, raw_headers: list[tuple[bytes, bytes]]
    ) -> UserInfo | None:
        """The impersonated user when the request asks for one (and may), else None."""
        name: str | None = None
        groups: list[str] = []
        uid = ""
        extra: dict[str, list[str]] = {}
        for k, v in raw_headers:
            key = k.decode("latin-1").lower()
            value = v.decode("latin-1").strip()
            if key == "impersonate-user":
                name = value
            elif key == "impersonate-group":
                groups.append(value)
            elif key == "impersonate-uid":
                uid = value
            elif key.startswith("impersonate-extra-"):
                extra.setdefault(key[len("impersonate-extra-") :], []).append(value)
        if name is None:
            if groups or uid or extra:
                raise BadRequest(
                    "requested impersonation of groups, uid or extra without a user: "
                    "set Impersonate-User (kubectl --as) too"
                )
            return None
        checks: list[Attributes] = []
        if name.startswith("system:serviceaccount:") and name.count(":") == 3:
            _, _, ns, sa = name.split(":")
            checks.append(
                Attributes("impersonate", resource="serviceaccounts", namespace=ns, name=sa)
            )
            if not groups:
                groups = ["system:serviceaccounts", f"system:serviceaccounts:{ns}"]
        else:
            checks.append(Attributes("impersonate", resource="users", name=name))
        checks += [Attributes("impersonate", resource="groups", name=g) for g in groups]
        if uid:
            checks.append(
                Attributes("impersonate", group="authentication.k8s.io", resource="uids", name=uid)
            )
        for key, values in extra.items():
            checks += [
                Attributes(
                    "impersonate",
                    group="authentication.k8s.io",
                    resource="userextras",
                    subresource=key,
                    name=v,
                )
                for v in values
            ]
        for a in checks:
            allowed, _ = self.authorizer.authorize(user, a)
            if not allowed:
                raise Forbidden(
                    forbidden_message(user, a), name=a.name or None, group=a.group, kind=a.resource
                )
        if name != "system:anonymous" and AUTHENTICATED not in groups:
            groups.append(AUTHENTICATED)
        return UserInfo(
            name,
            tuple(groups),
            uid=uid,
            extra=tuple((k, tuple(v)) for k, v in sorted(extra.items())),
        )

    # ------------------------------------------------------------------ the step
    def admit(
        self,
        scope: dict[str, Any],
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
    ) -> UserInfo:
        """Authenticate and authorize one request; raises Unauthorized / Forbidden."""
        info = scope.setdefault("hyperpod.audit", {})
        if path in PUBLIC:
            info["attrs"] = authz.attributes(method, path, query)
            info["decision"] = ("allow", "public endpoint")
            scope[USER_KEY] = None
            return ADMIN
        user = self.authenticate(headers, scope.get(CLIENT_CERT))
        info["user"] = user
        acting = self.impersonate(user, scope.get("headers") or [])
        if acting is not None:
            info["impersonated"] = acting
            user = acting
        attrs = authz.attributes(method, path, query)
        info["attrs"] = attrs
        allowed, reason = self.authorizer.authorize(user, attrs)
        info["decision"] = ("allow" if allowed else "forbid", reason)
        if not allowed:
            raise Forbidden(
                forbidden_message(user, attrs),
                name=attrs.name or None,
                group=attrs.group if attrs.resource_request else None,
                kind=attrs.resource or None,
            )
        scope[USER_KEY] = user
        return user

    # ------------------------------------------------------------------ audit
    def audited(self, scope: dict[str, Any], send: Send) -> Send:
        """``send`` that writes the request's audit event once the response is complete."""
        if self.audit_log is None:
            return send
        received = audit.now()
        code = 0
        log = self.audit_log

        async def wrapped(msg: dict[str, Any]) -> None:
            nonlocal code
            if msg["type"] == "http.response.start":
                code = int(msg.get("status", 0))
            await send(msg)
            if msg["type"] == "http.response.body" and not msg.get("more_body"):
                info = scope.get("hyperpod.audit") or {}
                decision = info.get("decision")
                headers = dict(scope.get("headers") or [])
                qs = scope.get("query_string", b"").decode("latin-1")
                log.write(
                    audit.event(
                        received=received,
                        method=scope.get("method", "GET"),
                        uri=scope.get("path", "") + (f"?{qs}" if qs else ""),
                        attrs=info.get("attrs"),
                        user=info.get("user"),
                        impersonated=info.get("impersonated"),
                        source_ip=(scope.get("client") or ("", 0))[0],
                        user_agent=headers.get(b"user-agent", b"").decode("latin-1"),
                        code=code,
                        decision=decision[0] if decision else None,
                        reason=decision[1] if decision else "",
                    )
                )

        return wrapped

    # ------------------------------------------------------------------ endpoints
    def discovery(self, path: str, headers: dict[str, str]) -> dict[str, Any]:
        if path.startswith("/openid/"):
            return self.issuer.jwks()
        host = headers.get("host", "127.0.0.1")
        return self.issuer.openid_configuration(f"https://{host}")

    def token_request(self, name: str, namespace: str, body: Any) -> dict[str, Any]:
        """Answer a ``serviceaccounts/token`` create with a signed, bound, expiring token."""
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a TokenRequest object")
        sa = self.reg.try_get("serviceaccounts", name, namespace)
        if sa is None:
            raise NotFound(f'serviceaccounts "{name}" not found', name=name, kind="serviceaccounts")
        spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
        assert isinstance(spec, dict)
        expiry = spec.get("expirationSeconds", tokens.DEFAULT_EXPIRY)
        if expiry is None:
            expiry = tokens.DEFAULT_EXPIRY
        if not isinstance(expiry, int) or isinstance(expiry, bool) or expiry < tokens.MIN_EXPIRY:
            raise _invalid_token_request(
                "spec.expirationSeconds",
                f"may not specify a duration less than {tokens.MIN_EXPIRY} seconds",
            )
        expiry = min(expiry, tokens.MAX_EXPIRY)
        auds = spec.get("audiences") or [tokens.AUDIENCE]
        if not isinstance(auds, list) or not all(isinstance(a, str) for a in auds):
            raise _invalid_token_request("spec.audiences", "must be a list of strings")
        bound = spec.get("boundObjectRef")
        bound_obj = None
        if bound:
            if not isinstance(bound, dict) or bound.get("kind") not in ("Pod", "Secret"):
                raise _invalid_token_request(
                    "spec.boundObjectRef.kind", 'must be "Pod" or "Secret"'
                )
            res = "pods" if bound["kind"] == "Pod" else "secrets"
            obj = self.reg.try_get(res, str(bound.get("name", "")), namespace)
            if obj is None:
                raise NotFound(
                    f'{res} "{bound.get("name")}" not found', name=str(bound.get("name")), kind=res
                )
            md = obj.get("metadata") or {}
            if bound.get("uid") and bound["uid"] != md.get("uid"):
                raise BadRequest(
                    f"the UID in the bound object reference ({bound['uid']}) does not match the UID in record"
                )
            bound_obj = {"kind": bound["kind"], "name": md.get("name"), "uid": md.get("uid")}
        token, exp = self.issuer.issue(
            sa, audiences=list(auds), expiration_seconds=expiry, bound=bound_obj
        )
        out_spec: dict[str, Any] = {"audiences": list(auds), "expirationSeconds": expiry}
        if bound_obj:
            out_spec["boundObjectRef"] = {"apiVersion": "v1", **bound_obj}
        else:
            out_spec["boundObjectRef"] = None
        return {
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": None},
            "spec": out_spec,
            "status": {"token": token, "expirationTimestamp": tokens.rfc3339(exp)},
        }


def _invalid_token_request(field: str, message: str) -> Invalid:
    return Invalid(
        f"TokenRequest.authentication.k8s.io is invalid: {field}: Invalid value: {message}",
        kind="TokenRequest",
        group="authentication.k8s.io",
        causes=[{"reason": "FieldValueInvalid", "message": message, "field": field}],
    )
