"""EKS tokens: the format `aws eks get-token` produces, and a SigV4 signature we recompute by hand."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import subprocess
import sys
import urllib.parse

import boto3
import pytest

from hyperpod.providers.aws import token

KEY, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> boto3.Session:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_STS", raising=False)
    return boto3.Session(
        aws_access_key_id=KEY, aws_secret_access_key=SECRET, region_name="eu-west-1"
    )


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def test_a_token_is_the_prefix_and_a_base64url_presigned_sts_url(session: boto3.Session) -> None:
    tok, expires = token.get_token("demo-eks", "eu-west-1", session)
    assert tok.startswith("k8s-aws-v1.")
    body = tok[len("k8s-aws-v1.") :]
    assert "=" not in body and "+" not in body and "/" not in body
    url = urllib.parse.urlsplit(token.decode(tok))
    assert (url.scheme, url.netloc, url.path) == ("https", "sts.eu-west-1.amazonaws.com", "/")
    q = dict(urllib.parse.parse_qsl(url.query))
    assert q["Action"] == "GetCallerIdentity" and q["Version"] == "2011-06-15"
    assert q["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert q["X-Amz-Expires"] == "60"
    assert q["X-Amz-SignedHeaders"] == "host;x-k8s-aws-id"
    assert q["X-Amz-Credential"].startswith(f"{KEY}/") and q["X-Amz-Credential"].endswith(
        "/eu-west-1/sts/aws4_request"
    )
    assert dt.timedelta(minutes=13) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(minutes=14)


def test_the_signature_covers_the_cluster_header(session: boto3.Session) -> None:
    tok, _ = token.get_token("demo-eks", "eu-west-1", session)
    url = urllib.parse.urlsplit(token.decode(tok))
    params = urllib.parse.parse_qsl(url.query)
    q = dict(params)
    canonical_query = "&".join(
        f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
        for k, v in sorted(p for p in params if p[0] != "X-Amz-Signature")
    )

    def signature(cluster: str) -> str:
        canonical = "\n".join(
            [
                "GET",
                "/",
                canonical_query,
                f"host:{url.netloc}\nx-k8s-aws-id:{cluster}\n",
                "host;x-k8s-aws-id",
                hashlib.sha256(b"").hexdigest(),
            ]
        )
        date = q["X-Amz-Date"]
        scope = f"{date[:8]}/eu-west-1/sts/aws4_request"
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        k = _hmac(("AWS4" + SECRET).encode(), date[:8])
        for part in ("eu-west-1", "sts", "aws4_request"):
            k = _hmac(k, part)
        return hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()

    assert q["X-Amz-Signature"] == signature("demo-eks")
    assert q["X-Amz-Signature"] != signature("other-cluster")


def test_the_plugin_prints_an_exec_credential() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | {
        "AWS_ACCESS_KEY_ID": KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_CONFIG_FILE": os.devnull,
    }
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "hyperpod.providers.aws.token",
            "--cluster-name",
            "c1",
            "--region",
            "us-west-2",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    cred = json.loads(out)
    assert cred["kind"] == "ExecCredential"
    assert cred["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert cred["status"]["token"].startswith("k8s-aws-v1.")
    assert cred["status"]["expirationTimestamp"].endswith("Z")


def test_the_plugin_without_credentials_says_so_and_exits_1() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | {
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hyperpod.providers.aws.token",
            "--cluster-name",
            "c1",
            "--region",
            "us-west-2",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 1
    assert "credentials" in proc.stderr and "Traceback" not in proc.stderr
