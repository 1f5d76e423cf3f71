"""Where a cluster's metrics are and how Prometheus scrapes them (from the user's kubeconfig).

:func:`target` reads the API server URL, the CA and the bearer token of one kubeconfig context;
:func:`write_scrape_config` writes a Prometheus configuration that scrapes ``/metrics`` with
them (the CA and the token in files next to it, 0600), as ``hyp get-monitoring
--scrape-config DIR`` does.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from hyperpod.api import job_progress
from hyperpod.client import kubeconfig as kc
from hyperpod.client.errors import ClusterUnreachable, UserError

JOB_NAME = "hyperpod"
FORMAT_NOTE = "PROGRESS <step>/<total_steps> [name=value ...]"


@dataclass(frozen=True)
class Target:
    context: str
    server: str
    token: str | None
    ca_pem: bytes | None
    # A client certificate and key (PEM), as in a team member's kubeconfig (hyp get kubeconfig).
    client_cert: bytes | None = None
    client_key: bytes | None = None

    @property
    def metrics_url(self) -> str:
        return self.server.rstrip("/") + "/metrics"

    @property
    def local(self) -> bool:
        host = urlsplit(self.server).hostname or ""
        return host in ("127.0.0.1", "localhost", "::1")


def _named(config: dict[str, Any], section: str, name: str) -> dict[str, Any]:
    for entry in config.get(section) or []:
        if entry.get("name") == name:
            return dict(entry.get(section[:-1]) or {})
    raise ClusterUnreachable(
        f"kubeconfig has no {section[:-1]} named {name!r}",
        "create a local cluster with `hyp create`, or pass --kubeconfig/--context",
    )


def target(kubeconfig: str | None = None, context: str | None = None) -> Target:
    path = Path(kubeconfig) if kubeconfig else kc.default_path()
    config = kc.load(path)
    name = context or config.get("current-context") or ""
    if not name:
        raise ClusterUnreachable(
            f"kubeconfig {path} has no current context",
            "create a local cluster with `hyp create`, or pass --context",
        )
    ctx = _named(config, "contexts", name)
    cluster = _named(config, "clusters", str(ctx.get("cluster", "")))
    user = _named(config, "users", str(ctx.get("user", "")))
    ca: bytes | None = None
    if cluster.get("certificate-authority-data"):
        ca = base64.b64decode(cluster["certificate-authority-data"])
    elif cluster.get("certificate-authority"):
        try:
            ca = Path(cluster["certificate-authority"]).expanduser().read_bytes()
        except OSError as exc:
            raise UserError(
                f"cannot read the cluster CA {cluster['certificate-authority']}: {exc.strerror}",
                "check the kubeconfig's certificate-authority path",
            ) from exc
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token = Path(user["tokenFile"]).expanduser().read_text().strip()
    cert = _pem(user, "client-certificate")
    key = _pem(user, "client-key")
    return Target(name, str(cluster.get("server", "")), token, ca, cert, key)


def _pem(user: dict[str, Any], field: str) -> bytes | None:
    """``<field>-data`` (base64) or the file ``<field>`` of a kubeconfig user, if any."""
    if user.get(f"{field}-data"):
        try:
            return base64.b64decode(user[f"{field}-data"])
        except ValueError as exc:
            raise UserError(
                f"the kubeconfig's {field}-data is not base64", "write the kubeconfig again"
            ) from exc
    if user.get(field):
        try:
            return Path(user[field]).expanduser().read_bytes()
        except OSError as exc:
            raise UserError(
                f"cannot read the kubeconfig's {field} {user[field]}: {exc.strerror}",
                f"check the kubeconfig's {field} path",
            ) from exc
    return None


def scrape_config(
    t: Target, ca_file: Path | None, token_file: Path | None, interval: str
) -> dict[str, Any]:
    """A prometheus.yml (as a dict) scraping the API server's ``/metrics`` of ``t``."""
    split = urlsplit(t.server)
    job: dict[str, Any] = {
        "job_name": JOB_NAME,
        "scheme": split.scheme or "https",
        "metrics_path": (split.path.rstrip("/") or "") + "/metrics",
        "static_configs": [{"targets": [split.netloc], "labels": {"cluster": t.context}}],
    }
    if token_file is not None:
        job["authorization"] = {"type": "Bearer", "credentials_file": str(token_file)}
    if ca_file is not None:
        job["tls_config"] = {"ca_file": str(ca_file)}
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [job],
    }


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def write_scrape_config(t: Target, directory: Path, interval: str = "15s") -> Path:
    """Write ``prometheus.yml``, ``ca.crt`` and ``token`` into ``directory``; returns the yml path."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        ca_file = token_file = None
        if t.ca_pem:
            ca_file = directory / "ca.crt"
            _write_private(ca_file, t.ca_pem)
        if t.token:
            token_file = directory / "token"
            _write_private(token_file, t.token.encode() + b"\n")
        out = directory / "prometheus.yml"
        cfg = scrape_config(t, ca_file, token_file, interval)
        _write_private(out, yaml.safe_dump(cfg, sort_keys=False).encode())
    except OSError as exc:
        raise UserError(
            f"cannot write the scrape configuration to {directory}: {exc.strerror}",
            "choose a directory you can write to",
        ) from exc
    return out


def progress_text(job: dict[str, Any]) -> str:
    """The PROGRESS column: ``45% (180/400)``; ``-`` before the job reports any."""
    p = job_progress.read(job)
    if "percent" not in p:
        return "-"
    return f"{float(p['percent']):.0f}% ({p.get('step', 0)}/{p.get('totalSteps', 0)})"


def eta_text(job: dict[str, Any]) -> str:
    """The ETA column: ``1h02m``, ``3m05s``, ``42s``; ``-`` when unknown or the job ended."""
    status = job.get("status") or {}
    if status.get("completionTime"):
        return "-"
    eta = job_progress.read(job).get("etaSeconds")
    if eta is None:
        return "-"
    s = max(0, int(eta))
    if s >= 3600:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"
