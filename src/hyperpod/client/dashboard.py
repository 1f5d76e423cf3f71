"""One-time login links to the control plane's web dashboard (``hyp get-monitoring``).

The control plane mints a link when asked with the kubeconfig's credentials (bearer token or a
team member's client certificate; ``POST /dashboard/login-links``); the link works once and for
a few minutes, and opens a browser session as that identity, which sees what RBAC lets it list.
"""

from __future__ import annotations

import json
import os
import ssl
import tempfile
import urllib.error
import urllib.request

from hyperpod.client.errors import ClusterUnreachable, UserError
from hyperpod.client.monitoring import Target


def dashboard_url(t: Target) -> str:
    return t.server.rstrip("/") + "/dashboard/"


def login_link(t: Target, timeout: float = 10.0) -> tuple[str, int]:
    """(a fresh one-time login URL, seconds it stays valid) for the dashboard of ``t``."""
    ctx = ssl_context(t)
    headers = {"Authorization": f"Bearer {t.token}"} if t.token else {}
    req = urllib.request.Request(
        t.server.rstrip("/") + "/dashboard/login-links", method="POST", data=b"", headers=headers
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
            body = json.loads(resp.read())
    except urllib.error.HTTPError as err:
        hint = (
            "the kubeconfig's credentials were refused"
            if err.code == 401
            else "this cluster serves no dashboard (is it a local hyperpod cluster?)"
        )
        raise ClusterUnreachable(
            f"cannot get a dashboard login link: HTTP {err.code}", hint
        ) from err
    except (OSError, ValueError) as exc:
        raise ClusterUnreachable(
            f"cannot reach {t.server} for a dashboard login link: {exc}",
            "start the cluster with `hyp create` (or check --kubeconfig/--context)",
        ) from exc
    return t.server.rstrip("/") + str(body["path"]), int(body.get("expiresInSeconds", 0))


def ssl_context(t: Target) -> ssl.SSLContext:
    """TLS to ``t``'s API server: its CA (else the system's) and its client certificate, if any."""
    if t.ca_pem is None:
        ctx = ssl.create_default_context()
    else:
        ctx = ssl.create_default_context(cadata=t.ca_pem.decode())
    if t.client_cert and t.client_key:
        _load_client_cert(ctx, t.client_cert, t.client_key)
    return ctx


def _load_client_cert(ctx: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    """``ssl`` loads a certificate chain from files only: a private temporary one, removed."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "client.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(cert.rstrip(b"\n") + b"\n" + key)
        try:
            ctx.load_cert_chain(path)
        except (ssl.SSLError, OSError) as exc:
            raise UserError(
                f"the kubeconfig's client certificate or key cannot be used: {exc}",
                "write the kubeconfig again (hyp get kubeconfig --user U --team T)",
            ) from exc


def login_hint(kubeconfig: str | None = None, context: str | None = None) -> str:
    """One line for ``hyp create``: a fresh login link, or how to get one later."""
    from hyperpod.client.errors import UserError
    from hyperpod.client.monitoring import target

    try:
        url, seconds = login_link(target(kubeconfig, context))
    except UserError:
        return "Dashboard: run `hyp get-monitoring` for a login link"
    return f"Dashboard: {url}\n  (one-time login link, valid {seconds // 60} min; `hyp get-monitoring` prints a new one)"
