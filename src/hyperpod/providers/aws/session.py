"""boto3 sessions from the standard chain (env, profile, ``AWS_REGION``), with retries for throttling.

``AWS_ENDPOINT_URL`` (honoured by botocore) points every client at moto in tests.
"""

from __future__ import annotations

import os
from typing import Any

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
        if code in ("ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId"):
            return NoCredentials(
                f"AWS refused the credentials ({code})", "refresh them (aws sso login, new keys)"
            )
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
