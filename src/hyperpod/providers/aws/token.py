"""EKS bearer tokens, as ``aws eks get-token`` makes them, and the kubectl exec credential plugin.

A token is ``k8s-aws-v1.`` + base64url (no padding) of a presigned STS GetCallerIdentity URL
whose signature covers the ``x-k8s-aws-id: <cluster>`` header. EKS replays the URL to learn who
the caller is. Run as ``python -m hyperpod.providers.aws.token --cluster-name X --region R``
it prints an ``ExecCredential`` for kubectl and the kubernetes client.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import sys
from typing import Any

import boto3
import botocore.exceptions

PREFIX = "k8s-aws-v1."
CLUSTER_HEADER = "x-k8s-aws-id"
URL_EXPIRES_S = 60
TOKEN_LIFETIME = dt.timedelta(minutes=14)  # EKS accepts a token for 15 minutes
EXEC_API_VERSION = "client.authentication.k8s.io/v1beta1"


def presigned_url(session: boto3.Session, cluster_name: str, region: str) -> str:
    """A GET URL for STS GetCallerIdentity in ``region`` signed with the cluster header."""
    sts = session.client("sts", region_name=region)

    def add_header(request: Any, **_: Any) -> None:
        request.headers[CLUSTER_HEADER] = cluster_name

    sts.meta.events.register("before-sign.sts.GetCallerIdentity", add_header)
    url: str = sts.generate_presigned_url(
        "get_caller_identity", Params={}, ExpiresIn=URL_EXPIRES_S, HttpMethod="GET"
    )
    return url


def encode(url: str) -> str:
    return PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def decode(token: str) -> str:
    """The presigned URL inside a token (for tests and debugging)."""
    if not token.startswith(PREFIX):
        raise ValueError(f"not an EKS token (no {PREFIX} prefix)")
    body = token[len(PREFIX) :]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


def get_token(
    cluster_name: str, region: str, session: boto3.Session | None = None
) -> tuple[str, dt.datetime]:
    """(token, expiry) for ``cluster_name``; the session defaults to the standard chain."""
    session = session or boto3.Session(region_name=region)
    if session.get_credentials() is None:
        raise botocore.exceptions.NoCredentialsError()
    token = encode(presigned_url(session, cluster_name, region))
    return token, dt.datetime.now(dt.UTC) + TOKEN_LIFETIME


def exec_credential(token: str, expires: dt.datetime) -> dict[str, Any]:
    return {
        "kind": "ExecCredential",
        "apiVersion": EXEC_API_VERSION,
        "spec": {},
        "status": {
            "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "token": token,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hyperpod.providers.aws.token",
        description="Print an EKS ExecCredential (kubectl exec credential plugin).",
    )
    parser.add_argument("--cluster-name", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--profile", default=None)
    args = parser.parse_args(argv)
    try:
        session = boto3.Session(region_name=args.region, profile_name=args.profile)
        token, expires = get_token(args.cluster_name, args.region, session)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        print(
            f"error: cannot make an EKS token for {args.cluster_name}: {exc} "
            "(check AWS credentials: aws configure, AWS_PROFILE)",
            file=sys.stderr,
        )
        return 1
    json.dump(exec_credential(token, expires), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
