"""Client certificates: users authenticated by TLS, named by the certificate's subject.

Like kube-apiserver's ``--client-ca-file``: the server asks for (but does not require) a
client certificate and trusts those signed by ``<data_dir>/pki/client-ca.crt`` (its key,
``client-ca.key``, is 0600 and stays in the data directory). The subject's Common Name is the
user name and each Organization a group. ``python -m hyperpod.controlplane.clientcerts issue
--data-dir D --user U [--group G ...]`` (or ``hyp controlplane issue-cert``) signs one and
prints a kubeconfig that uses it; whoever can read the data directory can mint any identity,
which on one machine is the cluster's owner anyway.

uvicorn puts no TLS details in the ASGI scope, so :func:`enable` wraps its HTTP protocol class:
each connection's verified peer subject is added to the scope as ``hyperpod.client_cert``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime
import os
import ssl
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SCOPE_KEY = "hyperpod.client_cert"


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def ensure_client_ca(pki: Path) -> tuple[Path, Path]:
    """(client-ca.crt, client-ca.key) under ``pki``, created once."""
    pki.mkdir(parents=True, exist_ok=True)
    crt, key_path = pki / "client-ca.crt", pki / "client-ca.key"
    if crt.exists() and key_path.exists():
        return crt, key_path
    now = datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hyperpod-local-client-ca")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    _write(key_path, _pem_key(key), 0o600)
    _write(crt, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return crt, key_path


def issue(pki: Path, user: str, groups: list[str], days: int = 365) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) for ``user`` in ``groups``, signed by the client CA."""
    crt_path, key_path = ensure_client_ca(pki)
    ca = x509.load_pem_x509_certificate(crt_path.read_bytes())
    ca_key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    subject = [x509.NameAttribute(NameOID.COMMON_NAME, user)]
    subject += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(subject))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)


def subject_of(peercert: dict[str, Any] | None) -> tuple[str, list[str]] | None:
    """(common name, organizations) of a verified peer certificate (ssl's getpeercert())."""
    if not peercert:
        return None
    cn = ""
    orgs: list[str] = []
    for rdn in peercert.get("subject") or ():
        for key, value in rdn:
            if key == "commonName":
                cn = value
            elif key == "organizationName":
                orgs.append(value)
    return (cn, orgs) if cn else None


App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def _with_peer(base: type[asyncio.Protocol]) -> type[asyncio.Protocol]:
    class PeerAwareProtocol(base):  # type: ignore[valid-type,misc]
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            ssl_object = transport.get_extra_info("ssl_object")
            peer = subject_of(ssl_object.getpeercert()) if ssl_object is not None else None
            if peer is None:
                return
            app: App = getattr(self, "app")  # noqa: B009 - set by the uvicorn base class

            async def with_subject(scope: dict[str, Any], receive: Any, send: Any) -> None:
                scope[SCOPE_KEY] = peer
                await app(scope, receive, send)

            self.app = with_subject

    return PeerAwareProtocol


def enable(config: Any, pki: Path) -> None:
    """Make a uvicorn ``Config`` ask for client certificates and pass their subject on."""
    from uvicorn.config import HTTP_PROTOCOLS
    from uvicorn.importer import import_from_string

    crt, _ = ensure_client_ca(pki)
    config.ssl_cert_reqs = ssl.CERT_OPTIONAL
    config.ssl_ca_certs = str(crt)
    base = config.http
    if isinstance(base, str):
        base = import_from_string(HTTP_PROTOCOLS[base])
    config.http = _with_peer(base)


def kubeconfig(
    data_dir: Path, user: str, cert: bytes, key: bytes, namespace: str
) -> dict[str, Any]:
    """A kubeconfig for the cluster in ``data_dir`` that authenticates with ``cert``."""
    port = (data_dir / "port").read_text().strip()
    ca = (data_dir / "pki" / "ca.crt").read_bytes()
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "hyperpod-local",
                "cluster": {
                    "server": f"https://127.0.0.1:{port}",
                    "certificate-authority-data": b64(ca),
                },
            }
        ],
        "users": [
            {
                "name": user,
                "user": {"client-certificate-data": b64(cert), "client-key-data": b64(key)},
            }
        ],
        "contexts": [
            {
                "name": user,
                "context": {"cluster": "hyperpod-local", "user": user, "namespace": namespace},
            }
        ],
        "current-context": user,
        "preferences": {},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hyperpod.controlplane.clientcerts")
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("issue", help="sign a client certificate and print its kubeconfig")
    cmd.add_argument("--data-dir", required=True, type=Path)
    cmd.add_argument("--user", required=True)
    cmd.add_argument("--group", action="append", default=[])
    cmd.add_argument("--namespace", default="default")
    cmd.add_argument("--days", type=int, default=365)
    cmd.add_argument("--output", "-o", type=Path, default=None)
    args = parser.parse_args(argv)
    if not (args.data_dir / "port").exists():
        print(
            f"error: {args.data_dir} holds no running control plane (no 'port' file); "
            "start it first or pass the right --data-dir",
            file=sys.stderr,
        )
        return 2
    if args.days < 1:
        print("error: --days must be at least 1", file=sys.stderr)
        return 2
    cert, key = issue(args.data_dir / "pki", args.user, list(args.group), args.days)
    text = yaml.safe_dump(
        kubeconfig(args.data_dir, args.user, cert, key, args.namespace), sort_keys=False
    )
    if args.output is None:
        sys.stdout.write(text)
    else:
        _write(args.output, text.encode(), 0o600)
        print(f"Wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
