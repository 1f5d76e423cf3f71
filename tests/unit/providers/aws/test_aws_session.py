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


@pytest.mark.parametrize(
    "code",
    [
        "ExpiredTokenException",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "AuthFailure",
    ],
)
def test_every_services_spelling_of_bad_credentials_is_one_line_with_the_fix(code: str) -> None:
    mapped = session.translate(_client_error(code))
    assert isinstance(mapped, NoCredentials)
    assert code in mapped.message and "\n" not in mapped.message
    assert "aws sso login" in mapped.hint and "get-caller-identity" in mapped.hint


def test_a_bare_403_with_the_code_in_an_xml_body_is_read_as_bad_credentials() -> None:
    body = "<Response><Errors><Error><Code>InvalidClientTokenId</Code><Message>The security token included in the request is invalid.</Message></Error></Errors></Response>"
    err = botocore.exceptions.ClientError(
        {"Error": {"Code": "403", "Message": body}}, "ListClusters"
    )
    mapped = session.translate(err)
    assert isinstance(mapped, NoCredentials)
    assert mapped.message == (
        "AWS refused the credentials in ListClusters (InvalidClientTokenId): "
        "The security token included in the request is invalid."
    )


def test_an_expired_sso_session_is_one_line_with_the_fix() -> None:
    mapped = session.translate(botocore.exceptions.UnauthorizedSSOTokenError())
    assert isinstance(mapped, NoCredentials) and "aws sso login" in mapped.hint


def test_the_entry_point_wrapper_turns_any_other_aws_error_into_one_line() -> None:
    @session.aws_errors
    def boom() -> None:
        raise _client_error("ValidationError")

    with pytest.raises(AwsError) as info:
        boom()
    assert info.value.message == "AWS refused CreateStack (ValidationError): m"
