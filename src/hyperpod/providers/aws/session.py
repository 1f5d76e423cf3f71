"""boto3 sessions from the standard chain (env, profile, ``AWS_REGION``), with retries for throttling.

``AWS_ENDPOINT_URL`` (honoured by botocore) points every client at moto in tests.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from typing import Any, TypeVar

import boto3
import botocore.exceptions
from botocore.config import Config

from hyperpod.providers.aws.errors import AwsError, NoCredentials, NoRegion

MAX_ATTEMPTS = 8  # throttling is retried with adaptive backoff; AWS_MAX_ATTEMPTS overrides
THROTTLING = {
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
}

# error codes meaning "these credentials are wrong or stale" (each service spells it its own way)
BAD_CREDENTIALS = {
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AuthFailure",
    "InvalidToken",
    "IncompleteSignature",
    "MissingAuthenticationToken",
}
CREDENTIAL_HINT = (
    "refresh or fix them: `aws sso login`, new keys in `aws configure`, or another AWS_PROFILE; "
    "`aws sts get-caller-identity` shows who you are"
)
F = TypeVar("F", bound=Callable[..., Any])


def resolve_region(region: str | None = None, profile: str | None = None) -> str:
    """The region from the config, else ``AWS_REGION``/``AWS_DEFAULT_REGION``, else the profile."""
    found = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not found:
        try:
            found = boto3.Session(profile_name=profile).region_name
        except botocore.exceptions.ProfileNotFound as exc:
            raise AwsError(str(exc), "set AWS_PROFILE to a profile in ~/.aws/config") from exc
    if not found:
        raise NoRegion(
            "no AWS region is set",
            "put `region: us-west-2` in config.yaml, or export AWS_REGION, or set it in your profile",
        )
    return found


class Aws:
    """One session and its clients, made lazily; everything the provider calls goes through here."""

    def __init__(self, region: str | None = None, profile: str | None = None) -> None:
        self.region = resolve_region(region, profile)
        try:
            self.session = boto3.Session(region_name=self.region, profile_name=profile)
        except botocore.exceptions.ProfileNotFound as exc:
            raise AwsError(str(exc), "set AWS_PROFILE to a profile in ~/.aws/config") from exc
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            attempts = int(os.environ.get("AWS_MAX_ATTEMPTS") or MAX_ATTEMPTS)
            retries = Config(
                retries={"mode": "adaptive", "max_attempts": attempts}, user_agent_extra="hyperpod"
            )
            self._clients[service] = self.session.client(service, config=retries)
        return self._clients[service]

    def has_credentials(self) -> bool:
        return self.session.get_credentials() is not None

    def require_credentials(self) -> None:
        if not self.has_credentials():
            raise NoCredentials(
                "no AWS credentials found",
                "run `aws configure`, set AWS_PROFILE, or export AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY",
            )

    def account_id(self) -> str:
        return str(call(self.client("sts").get_caller_identity)["Account"])

    def caller_arn(self) -> str:
        return str(call(self.client("sts").get_caller_identity)["Arn"])


def error_code(exc: BaseException) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def translate(exc: Exception) -> Exception:
    """The AwsError a credential, throttling or endpoint failure means, else ``exc`` itself."""
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return NoCredentials(
            "no AWS credentials found",
            "run `aws configure`, set AWS_PROFILE, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        )
    if isinstance(exc, botocore.exceptions.ClientError):
        code = error_code(exc)
        if code in THROTTLING:
            return AwsError(
                f"AWS kept throttling {exc.operation_name} after retries",
                "wait a minute and run the command again",
            )
        raw = str(exc.response.get("Error", {}).get("Message", ""))
        if code in ("401", "403"):  # a bare HTTP status: the real code may be inside the body
            code = next((c for c in sorted(BAD_CREDENTIALS) if f">{c}<" in raw), code)
            raw = re.sub(r"(?s).*<Message>(.*?)</Message>.*", r"\1", raw) if "<" in raw else raw
        if code in BAD_CREDENTIALS:
            text = raw.splitlines()
            detail = f": {text[0][:160]}" if text and text[0] else ""
            return NoCredentials(
                f"AWS refused the credentials in {exc.operation_name} ({code}){detail}",
                CREDENTIAL_HINT,
            )
    if isinstance(
        exc,
        botocore.exceptions.PartialCredentialsError
        | botocore.exceptions.CredentialRetrievalError
        | botocore.exceptions.TokenRetrievalError
        | botocore.exceptions.SSOError
        | botocore.exceptions.UnauthorizedSSOTokenError,
    ):
        first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        return NoCredentials(f"the AWS credentials could not be loaded: {first}", CREDENTIAL_HINT)
    if isinstance(exc, botocore.exceptions.EndpointConnectionError):
        return AwsError(f"cannot reach AWS: {exc}", "check the network and the region")
    return exc


def call(fn: Any, **kwargs: Any) -> Any:
    """Call a boto3 operation, turning credential, throttling and endpoint errors into AwsError."""
    try:
        return fn(**kwargs)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        mapped = translate(exc)
        if mapped is exc:
            raise
        raise mapped from exc


def paginate(
    client: Any, operation: str, key: str, *, page_size: int | None = None, **kwargs: Any
) -> list[Any]:
    """Every item under ``key`` across all pages of ``operation``."""
    items: list[Any] = []
    if page_size:
        kwargs["PaginationConfig"] = {"PageSize": page_size}
    try:
        for page in client.get_paginator(operation).paginate(**kwargs):
            items.extend(page.get(key, []))
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        mapped = translate(exc)
        if mapped is exc:
            raise
        raise mapped from exc
    return items


def aws_errors(fn: F) -> F:
    """Wrap a provider entry point: any AWS error that escapes it becomes a one-line AwsError."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            mapped = translate(exc)
            if mapped is not exc:
                raise mapped from exc
            if isinstance(exc, botocore.exceptions.ClientError):
                err = exc.response.get("Error", {})
                message = str(err.get("Message", "")).splitlines()
                raise AwsError(
                    f"AWS refused {exc.operation_name} ({err.get('Code', '?')})"
                    + (f": {message[0][:200]}" if message and message[0] else ""),
                    "check the names, the region and your permissions (`hyp --debug` shows the call)",
                ) from exc
            first = str(exc).splitlines()[0][:200]
            raise AwsError(f"AWS call failed: {first}", "check the network and the region") from exc

    return wrapper  # type: ignore[return-value]
