"""A lean HTTPS path for the CLI's hot reads: stdlib ``http.client`` + ``ssl``, no official client.

Importing the official ``kubernetes`` client costs most of a one-call ``hyp`` command's time,
so reads that return plain JSON (custom objects: job lists and gets) go through
:class:`LeanRest` when the kubeconfig context is one it understands: a bearer token (inline or
``tokenFile``) and/or a client certificate, and the cluster's CA (or
``insecure-skip-tls-verify``). Anything else (exec plugins, auth providers, proxies, basic
auth, several files in ``$KUBECONFIG``) makes :func:`from_kubeconfig` answer None and the
caller uses the official client. Errors look like the official client's: HTTP failures raise
:class:`ApiException` (``status``, ``reason``, ``body``), an unreachable server a
``ConnectionError``.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

# User fields this path can honour; any other key in the user entry means "use the official client".
_USER_KEYS = {
    "token",
    "tokenFile",
    "client-certificate",
    "client-certificate-data",
    "client-key",
    "client-key-data",
}
_CLUSTER_KEYS = {
    "server",
    "certificate-authority",
    "certificate-authority-data",
    "insecure-skip-tls-verify",
    "extensions",
}


class ApiException(Exception):
    """An HTTP error answer, shaped like ``kubernetes.client.exceptions.ApiException``."""

    def __init__(self, status: int, reason: str, body: str) -> None:
        super().__init__(status, reason, body)
        self.status = status
        self.reason = reason
        self.body = body

    def __str__(self) -> str:
        return f"({self.status})\nReason: {self.reason}\nHTTP response body: {self.body}\n"


@dataclass
class LeanRest:
    """GETs of JSON documents from one cluster (one keep-alive connection)."""

    server: str
    context: ssl.SSLContext
    token: str | None = None
    _conn: http.client.HTTPSConnection | None = None

    def get_json(self, path: str, query: dict[str, Any] | None = None) -> Any:
        parts = urlsplit(self.server)
        prefix = parts.path.rstrip("/")
        url = prefix + path
        params = {k: v for k, v in (query or {}).items() if v is not None}
        if params:
            url += "?" + urlencode(params)
        headers = {"Accept": "application/json", "User-Agent": "hyp"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            if self._conn is None:
                self._conn = http.client.HTTPSConnection(
                    parts.hostname or "", parts.port or 443, context=self.context, timeout=60
                )
            self._conn.request("GET", url, headers=headers)
            resp = self._conn.getresponse()
            data = resp.read()
        except ConnectionError:
            self.close()
            raise
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise ConnectionError(f"{self.server}: {exc}") from exc
        if resp.status != 200:
            raise ApiException(resp.status, resp.reason, data.decode("utf-8", "replace"))
        return json.loads(data)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class LeanCustomObjects:
    """The read calls of ``CustomObjectsApi`` over :class:`LeanRest`; the rest is delegated."""

    def __init__(self, rest: LeanRest, official: Any) -> None:
        self._rest = rest
        self._official = official

    def __getattr__(self, name: str) -> Any:
        return getattr(self._official(), name)

    @staticmethod
    def _query(kwargs: dict[str, Any]) -> dict[str, Any]:
        """The official client's keyword arguments as query parameters (``label_selector`` ->
        ``labelSelector``, ``_continue`` -> ``continue``); its own options (``_request_timeout``)
        are not sent."""
        out = {}
        for key, value in kwargs.items():
            if key == "_continue":
                out["continue"] = value
            elif not key.startswith("_"):
                out[_camel(key)] = value
        return out

    def list_cluster_custom_object(self, group: str, version: str, plural: str, **kw: Any) -> Any:
        return self._rest.get_json(f"/apis/{group}/{version}/{plural}", self._query(kw))

    def list_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, **kw: Any
    ) -> Any:
        path = f"/apis/{group}/{version}/namespaces/{quote(namespace, safe='')}/{plural}"
        return self._rest.get_json(path, self._query(kw))

    def get_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, name: str
    ) -> Any:
        ns, nm = quote(namespace, safe=""), quote(name, safe="")
        return self._rest.get_json(f"/apis/{group}/{version}/namespaces/{ns}/{plural}/{nm}")


def _named(entries: Any, name: str) -> dict[str, Any] | None:
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            inner = entry.get("cluster") or entry.get("user") or entry.get("context") or {}
            return inner if isinstance(inner, dict) else None
    return None


def _resolve(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def from_kubeconfig(path: str, context: str | None) -> LeanRest | None:
    """A :class:`LeanRest` for the context, or None where only the official client will do."""
    if os.pathsep in os.environ.get("KUBECONFIG", "").strip(os.pathsep):
        return None  # several files merged: leave that to the official client
    try:
        import yaml

        text = Path(path).read_text()
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        doc = yaml.load(text, Loader=loader)
    except Exception:  # unreadable or invalid: the official client says what is wrong
        return None
    if not isinstance(doc, dict):
        return None
    ctx = _named(doc.get("contexts"), context or str(doc.get("current-context") or ""))
    if ctx is None:
        return None
    cluster = _named(doc.get("clusters"), str(ctx.get("cluster") or ""))
    user = _named(doc.get("users"), str(ctx.get("user") or "")) or {}
    if cluster is None or not str(cluster.get("server") or "").startswith("https://"):
        return None
    if set(cluster) - _CLUSTER_KEYS or set(user) - _USER_KEYS:
        return None
    base = Path(path).expanduser().resolve().parent
    try:
        return _build(cluster, user, base)
    except (OSError, ValueError, ssl.SSLError):
        return None


def _build(cluster: dict[str, Any], user: dict[str, Any], base: Path) -> LeanRest:
    if cluster.get("insecure-skip-tls-verify"):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif cluster.get("certificate-authority-data"):
        pem = base64.b64decode(cluster["certificate-authority-data"]).decode()
        ctx = ssl.create_default_context(cadata=pem)
    elif cluster.get("certificate-authority"):
        ctx = ssl.create_default_context(
            cafile=str(_resolve(base, cluster["certificate-authority"]))
        )
    else:
        ctx = ssl.create_default_context()
    cert, key = user.get("client-certificate-data"), user.get("client-key-data")
    if cert and key:
        with tempfile.TemporaryDirectory() as tmp:
            certfile, keyfile = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
            certfile.write_bytes(base64.b64decode(cert))
            keyfile.write_bytes(base64.b64decode(key))
            ctx.load_cert_chain(str(certfile), str(keyfile))
    elif user.get("client-certificate") and user.get("client-key"):
        ctx.load_cert_chain(
            str(_resolve(base, user["client-certificate"])), str(_resolve(base, user["client-key"]))
        )
    elif cert or key or user.get("client-certificate") or user.get("client-key"):
        raise ValueError("a client certificate without its key")
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token = _resolve(base, user["tokenFile"]).read_text().strip()
    return LeanRest(server=str(cluster["server"]), context=ctx, token=str(token) if token else None)


# Keys whose snake_case attribute name does not camel-case back the regular way.
_IRREGULAR = {"pod_ip": "podIP", "pod_i_ps": "podIPs", "host_ip": "hostIP", "host_i_ps": "hostIPs"}
_TIME_SUFFIXES = ("Timestamp", "Time", "At")


def _camel(name: str) -> str:
    special = _IRREGULAR.get(name)
    if special is not None:
        return special
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _wrap(key: str, value: Any) -> Any:
    if isinstance(value, dict):
        return View(value)
    if isinstance(value, list):
        return [_wrap(key, v) for v in value]
    if isinstance(value, str) and key.endswith(_TIME_SUFFIXES):
        from datetime import datetime

        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


class View:
    """A JSON object read like the official client's models: ``pod.status.container_statuses``.

    Attribute names are the models' snake_case names; absent fields read as None, timestamps
    as timezone-aware datetimes, nested objects as views. Read-only.
    """

    __slots__ = ("_doc",)

    def __init__(self, doc: dict[str, Any]) -> None:
        self._doc = doc

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        key = _camel(name)
        return _wrap(key, self._doc.get(key))

    def __repr__(self) -> str:
        return f"View({self._doc!r})"


class LeanCoreV1:
    """The reads of ``CoreV1Api`` that job commands make (pods, events, a namespace) over
    :class:`LeanRest`, answering :class:`View` objects; the rest is delegated."""

    def __init__(self, rest: LeanRest, official: Any) -> None:
        self._rest = rest
        self._official = official

    def __getattr__(self, name: str) -> Any:
        return getattr(self._official(), name)

    def list_namespaced_pod(self, namespace: str, **kw: Any) -> View:
        path = f"/api/v1/namespaces/{quote(namespace, safe='')}/pods"
        return View(self._rest.get_json(path, LeanCustomObjects._query(kw)))

    def list_namespaced_event(self, namespace: str, **kw: Any) -> View:
        path = f"/api/v1/namespaces/{quote(namespace, safe='')}/events"
        return View(self._rest.get_json(path, LeanCustomObjects._query(kw)))

    def read_namespaced_pod(self, name: str, namespace: str) -> View:
        ns, nm = quote(namespace, safe=""), quote(name, safe="")
        return View(self._rest.get_json(f"/api/v1/namespaces/{ns}/pods/{nm}"))

    def read_namespace(self, name: str) -> View:
        return View(self._rest.get_json(f"/api/v1/namespaces/{quote(name, safe='')}"))
