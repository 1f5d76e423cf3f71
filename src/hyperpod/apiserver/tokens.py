"""ServiceAccount tokens: bound, expiring RS256 JWTs, like kube-apiserver's TokenRequest API.

The signing key (RSA 2048) lives in ``<data_dir>/pki/sa.key`` (0600) and is created once. A
token names its ServiceAccount (``sub`` = ``system:serviceaccount:<ns>:<name>``) and, when
bound, a pod or secret; it stays valid only while those objects exist with the same uid and
until ``exp``. The public half is served at ``/openid/v1/jwks`` and described at
``/.well-known/openid-configuration``, so anyone can verify a token offline.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from hyperpod.api.meta import rfc3339 as rfc3339

ISSUER = "https://kubernetes.default.svc.cluster.local"
AUDIENCE = "https://kubernetes.default.svc.cluster.local"
DEFAULT_EXPIRY = 3600
MIN_EXPIRY = 600
MAX_EXPIRY = 48 * 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int_b64(n: int) -> str:
    return _b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))


class TokenInvalid(Exception):
    """A token that is not ours, is malformed, or has expired."""


@dataclass(frozen=True)
class Claims:
    namespace: str
    name: str
    uid: str
    audiences: list[str]
    expires: int
    issued: int
    bound_kind: str | None = None
    bound_name: str | None = None
    bound_uid: str | None = None

    @property
    def username(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.name}"


class TokenIssuer:
    """Signs and verifies ServiceAccount JWTs with one RSA key kept under the data dir."""

    def __init__(self, key_path: Path) -> None:
        if key_path.exists():
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ValueError(f"{key_path} is not an RSA private key")
        else:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            key_path.parent.mkdir(parents=True, exist_ok=True)
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            tmp = key_path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
            os.replace(tmp, key_path)
        self._key = key
        self._public = key.public_key()
        der = self._public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.kid = _b64(hashlib.sha256(der).digest())
        self._header = _b64(orjson.dumps({"alg": "RS256", "kid": self.kid}))

    # ------------------------------------------------------------------ issuing
    def issue(
        self,
        sa: dict[str, Any],
        *,
        audiences: list[str] | None = None,
        expiration_seconds: int = DEFAULT_EXPIRY,
        bound: dict[str, Any] | None = None,
        now: float | None = None,
    ) -> tuple[str, int]:
        """(token, expiry as epoch seconds) for ServiceAccount object ``sa``."""
        md = sa.get("metadata") or {}
        issued = int(now if now is not None else time.time())
        exp = issued + int(expiration_seconds)
        ident: dict[str, Any] = {
            "namespace": md.get("namespace", ""),
            "serviceaccount": {"name": md.get("name", ""), "uid": md.get("uid", "")},
        }
        if bound:
            kind = str(bound.get("kind", "")).lower()
            ident[kind] = {"name": bound.get("name", ""), "uid": bound.get("uid", "")}
        claims = {
            "aud": audiences or [AUDIENCE],
            "exp": exp,
            "iat": issued,
            "nbf": issued,
            "iss": ISSUER,
            "jti": str(uuid.uuid4()),
            "sub": f"system:serviceaccount:{ident['namespace']}:{md.get('name', '')}",
            "kubernetes.io": ident,
        }
        signing_input = self._header + "." + _b64(orjson.dumps(claims))
        sig = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + _b64(sig), exp

    # ------------------------------------------------------------------ verifying
    def verify(self, token: str, *, now: float | None = None) -> Claims:
        """The claims of a token we signed, for our audience and not expired."""
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenInvalid("not a JWT")
        try:
            header = orjson.loads(_unb64(parts[0]))
            payload = orjson.loads(_unb64(parts[1]))
            sig = _unb64(parts[2])
        except (ValueError, orjson.JSONDecodeError) as exc:
            raise TokenInvalid("malformed JWT") from exc
        if not isinstance(header, dict) or header.get("alg") != "RS256":
            raise TokenInvalid("unsupported JWT algorithm")
        try:
            self._public.verify(
                sig, (parts[0] + "." + parts[1]).encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature as exc:
            raise TokenInvalid("bad signature") from exc
        if not isinstance(payload, dict) or payload.get("iss") != ISSUER:
            raise TokenInvalid("wrong issuer")
        aud = payload.get("aud")
        auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if AUDIENCE not in auds:
            raise TokenInvalid("token is not for this API server")
        t = now if now is not None else time.time()
        exp = payload.get("exp")
        if not isinstance(exp, int) or t >= exp:
            raise TokenInvalid("token has expired")
        ident = payload.get("kubernetes.io")
        if not isinstance(ident, dict):
            raise TokenInvalid("not a ServiceAccount token")
        sa = ident.get("serviceaccount") or {}
        bound_kind = next((k for k in ("pod", "secret") if isinstance(ident.get(k), dict)), None)
        bound: dict[str, Any] = ident.get(bound_kind) or {} if bound_kind else {}
        return Claims(
            namespace=str(ident.get("namespace", "")),
            name=str(sa.get("name", "")),
            uid=str(sa.get("uid", "")),
            audiences=[str(a) for a in auds],
            expires=exp,
            issued=int(payload.get("iat") or 0),
            bound_kind=bound_kind,
            bound_name=str(bound.get("name", "")) if bound_kind else None,
            bound_uid=str(bound.get("uid", "")) if bound_kind else None,
        )

    # ------------------------------------------------------------------ discovery
    def jwks(self) -> dict[str, Any]:
        nums = self._public.public_numbers()
        return {
            "keys": [
                {
                    "use": "sig",
                    "kty": "RSA",
                    "kid": self.kid,
                    "alg": "RS256",
                    "n": _int_b64(nums.n),
                    "e": _int_b64(nums.e),
                }
            ]
        }

    @staticmethod
    def openid_configuration(server_url: str) -> dict[str, Any]:
        return {
            "issuer": ISSUER,
            "jwks_uri": f"{server_url}/openid/v1/jwks",
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }
