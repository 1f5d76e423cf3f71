"""Region from the standard chain and AWS errors turned into one line plus a fix."""

from __future__ import annotations

import os

import botocore.exceptions
import pytest

from hyperpod.providers.aws import session
from hyperpod.providers.aws.errors import AwsError, NoCredentials, NoRegion


def _client_error(code: str) -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": "m"}}, "CreateStack")


def test_throttling_after_retries_says_to_wait() -> None:
    mapped = session.translate(_client_error("Throttling"))
    assert isinstance(mapped, AwsError)
    assert "throttling CreateStack" in mapped.message and "wait" in mapped.hint


def test_expired_credentials_say_to_refresh_them() -> None:
    mapped = session.translate(_client_error("ExpiredToken"))
    assert isinstance(mapped, NoCredentials) and "refresh" in mapped.hint


def test_other_errors_pass_through() -> None:
    err = _client_error("ValidationError")
    assert session.translate(err) is err


def test_call_maps_missing_credentials() -> None:
    def no_creds() -> None:
        raise botocore.exceptions.NoCredentialsError()

    with pytest.raises(NoCredentials) as info:
        session.call(no_creds)
    assert "AWS_PROFILE" in info.value.hint


def test_aws_region_is_honoured_and_its_absence_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_REGION", "eu-north-1")
    assert session.resolve_region() == "eu-north-1"
    assert session.resolve_region("ap-south-1") == "ap-south-1"
    monkeypatch.delenv("AWS_REGION")
    with pytest.raises(NoRegion) as info:
        session.resolve_region()
    assert "AWS_REGION" in info.value.hint
