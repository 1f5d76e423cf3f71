"""The Kubernetes ``Status`` error tree, shared by the HTTP layer and in-process callers.

Every failure the API can report is an :class:`ApiError` carrying the HTTP code, the
``reason`` clients switch on, and optional ``details`` (name, group, kind, causes).
"""

from __future__ import annotations

from typing import Any

from hyperpod.api.meta import cause as cause


class ApiError(Exception):
    code = 500
    reason = "InternalError"

    def __init__(
        self,
        message: str,
        *,
        name: str | None = None,
        group: str | None = None,
        kind: str | None = None,
        causes: list[dict[str, str]] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.name = name
        self.group = group
        self.kind = kind
        self.causes = causes or []
        self.retry_after = retry_after

    def status(self) -> dict[str, Any]:
        """The wire ``Status`` body, in kube-apiserver's field order with its omitempty rules:
        kind, apiVersion, metadata, status, message, reason, details, code; empty detail
        fields (``group: ""`` of the core group) are left out."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        details: dict[str, Any] = {}
        if self.name:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = [{k: v for k, v in c.items() if v} for c in self.causes]
        if self.retry_after:
            details["retryAfterSeconds"] = self.retry_after
        # kube-apiserver always sends details with a 404, and kubectl relies on it (kubectl
        # debug reads details.name to tell "no such subresource" from "no such pod").
        if details or self.reason == "NotFound":
            body["details"] = details
        body["code"] = self.code
        return body


class BadRequest(ApiError):
    code = 400
    reason = "BadRequest"


class Unauthorized(ApiError):
    code = 401
    reason = "Unauthorized"


class Forbidden(ApiError):
    code = 403
    reason = "Forbidden"


class NotFound(ApiError):
    code = 404
    reason = "NotFound"


class MethodNotAllowed(ApiError):
    code = 405
    reason = "MethodNotAllowed"


class NotAcceptable(ApiError):
    code = 406
    reason = "NotAcceptable"


class AlreadyExists(ApiError):
    code = 409
    reason = "AlreadyExists"


class Conflict(ApiError):
    code = 409
    reason = "Conflict"


class Expired(ApiError):
    code = 410
    reason = "Expired"


class RequestEntityTooLarge(ApiError):
    code = 413
    reason = "RequestEntityTooLarge"


class UnsupportedMediaType(ApiError):
    code = 415
    reason = "UnsupportedMediaType"


class Invalid(ApiError):
    code = 422
    reason = "Invalid"


class TooManyRequests(ApiError):
    code = 429
    reason = "TooManyRequests"


class InternalError(ApiError):
    code = 500
    reason = "InternalError"


class ServiceUnavailable(ApiError):
    code = 503
    reason = "ServiceUnavailable"


class Timeout(ApiError):
    code = 504
    reason = "Timeout"


def invalid(kind: str, name: str | None, causes: list[dict[str, str]], group: str = "") -> Invalid:
    """A 422 in the exact wording kube-apiserver uses: ``Kind "name" is invalid: field: msg``."""
    summary = ", ".join(f"{c['field']}: {c['message']}" for c in causes)
    subject = f'{kind}.{group} "{name}"' if group else f'{kind} "{name or ""}"'
    return Invalid(
        f"{subject} is invalid: [{summary}]"
        if len(causes) > 1
        else f"{subject} is invalid: {summary}",
        name=name,
        group=group,
        kind=kind,
        causes=causes,
    )
