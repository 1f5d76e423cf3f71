"""ServiceAccount tokens are RS256 JWTs that verify against the published JWKS, carry their
binding, and stop working when expired or altered."""

from __future__ import annotations

import base64
from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from hyperpod.apiserver.tokens import AUDIENCE, ISSUER, TokenInvalid, TokenIssuer

SA = {"metadata": {"name": "alice", "namespace": "team-a", "uid": "u-1"}}


def _b(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_a_token_names_its_account_and_verifies_with_the_jwks(tmp_path: Path) -> None:
    issuer = TokenIssuer(tmp_path / "sa.key")
    token, exp = issuer.issue(SA, now=1000.0, expiration_seconds=600)
    claims = issuer.verify(token, now=1500.0)
    assert claims.username == "system:serviceaccount:team-a:alice"
    assert (claims.uid, claims.expires, claims.bound_kind) == ("u-1", 1600, None)
    header, payload, sig = token.split(".")
    body = orjson.loads(_b(payload))
    assert body["iss"] == ISSUER and body["aud"] == [AUDIENCE] and body["exp"] == exp
    key = issuer.jwks()["keys"][0]
    assert key["kid"] == orjson.loads(_b(header))["kid"]
    public = rsa.RSAPublicNumbers(
        int.from_bytes(_b(key["e"]), "big"), int.from_bytes(_b(key["n"]), "big")
    ).public_key()
    public.verify(_b(sig), f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())


def test_expired_altered_or_foreign_tokens_are_refused(tmp_path: Path) -> None:
    issuer = TokenIssuer(tmp_path / "sa.key")
    token, _ = issuer.issue(SA, now=1000.0, expiration_seconds=600)
    with pytest.raises(TokenInvalid, match="expired"):
        issuer.verify(token, now=1600.0)
    h, p, s = token.split(".")
    forged = base64.urlsafe_b64encode(_b(p).replace(b"alice", b"admin")).rstrip(b"=").decode()
    with pytest.raises(TokenInvalid, match="signature"):
        issuer.verify(f"{h}.{forged}.{s}", now=1100.0)
    other = TokenIssuer(tmp_path / "other.key")
    with pytest.raises(TokenInvalid):
        other.verify(token, now=1100.0)
    elsewhere, _ = issuer.issue(SA, audiences=["vault"], now=1000.0)
    with pytest.raises(TokenInvalid, match="not for this API server"):
        issuer.verify(elsewhere, now=1100.0)
    with pytest.raises(TokenInvalid):
        issuer.verify("not-a-jwt", now=1100.0)


def test_the_key_survives_a_restart_and_is_private(tmp_path: Path) -> None:
    first = TokenIssuer(tmp_path / "pki" / "sa.key")
    token, _ = first.issue(SA, bound={"kind": "Pod", "name": "p", "uid": "p-1"}, now=1000.0)
    again = TokenIssuer(tmp_path / "pki" / "sa.key")
    claims = again.verify(token, now=1001.0)
    assert (claims.bound_kind, claims.bound_name, claims.bound_uid) == ("pod", "p", "p-1")
    assert (tmp_path / "pki" / "sa.key").stat().st_mode & 0o777 == 0o600
