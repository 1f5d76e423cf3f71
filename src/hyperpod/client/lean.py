"""A lean HTTPS path for the CLI's hot calls: stdlib ``ssl`` sockets, no official client.

Importing the official ``kubernetes`` client costs most of a one-call ``hyp`` command's time,
and even ``http.client`` (through the ``email`` package) costs a noticeable share, so job
commands speak HTTP/1.1 over one keep-alive TLS socket here when the kubeconfig context is
one this module understands: a bearer token (inline or ``tokenFile``) and/or a client
certificate, and the cluster's CA (or ``insecure-skip-tls-verify``). Anything else (exec
plugins, auth providers, proxies, basic auth, several files in ``$KUBECONFIG``) makes
:func:`from_kubeconfig` answer None and the caller uses the official client. Errors look like
the official client's: HTTP failures raise :class:`ApiException` (``status``, ``reason``,
``body``), an unreachable server a ``ConnectionError``.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
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
_MAX_LINE = 65536  # longest status or header line accepted


class ApiException(Exception):
    """An HTTP error answer, shaped like ``kubernetes.client.exceptions.ApiException``."""

    def __init__(self, status: int, reason: str, body: str) -> None:
        super().__init__(status, reason, body)
        self.status = status
        self.reason = reason
        self.body = body

    def __str__(self) -> str:
        return f"({self.status})\nReason: {self.reason}\nHTTP response body: {self.body}\n"


class _Body:
    """The body of one HTTP/1.1 response, read as it arrives: by Content-Length, chunked, or
    to the end of the connection."""

    def __init__(self, file: IO[bytes], headers: dict[str, str], empty: bool) -> None:
        self._file = file
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length = headers.get("content-length")
        self._left: int | None = 0 if empty else (int(length) if length is not None else None)
        if self._chunked:
            self._left = None
        self.done = empty or self._left == 0
        self.reusable = headers.get("connection", "").lower() != "close" and (
            self._chunked or length is not None or empty
        )

    def chunks(self, amt: int = 65536) -> Iterator[bytes]:
        """The body in pieces of at most ``amt`` bytes, each as soon as it is there."""
        while not self.done:
            if self._chunked:
                yield from self._chunk(amt)
                continue
            want = amt if self._left is None else min(amt, self._left)
            data = self._file.read1(want)  # type: ignore[attr-defined]
            if not data:
                if self._left is not None:
                    raise ConnectionError("the connection closed in the middle of an answer")
                self.done = True
                return
            if self._left is not None:
                self._left -= len(data)
                self.done = self._left == 0
            yield data

    def _chunk(self, amt: int) -> Iterator[bytes]:
        line = self._file.readline(_MAX_LINE)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise ConnectionError(f"bad chunk size line {line[:40]!r}") from None
        if size == 0:
            while self._file.readline(_MAX_LINE) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            self.done = True
            return
        while size:
            data = self._file.read1(min(amt, size))  # type: ignore[attr-defined]
            if not data:
                raise ConnectionError("the connection closed in the middle of an answer")
            size -= len(data)
            yield data
        self._file.readline(_MAX_LINE)  # the CRLF after the chunk

    def read(self) -> bytes:
        return b"".join(self.chunks())


@dataclass
class LeanRest:
    """Requests to one cluster over one keep-alive TLS connection."""

    server: str
    context: ssl.SSLContext
    token: str | None = None
    _sock: ssl.SSLSocket | None = field(default=None, repr=False)
    _file: IO[bytes] | None = field(default=None, repr=False)

    def get_json(self, path: str, query: dict[str, Any] | None = None) -> Any:
        return self.request_json("GET", path, query)

    def request_json(
        self, method: str, path: str, query: dict[str, Any] | None = None, body: Any = None
    ) -> Any:
        """``method path`` with ``body`` as JSON; the answer's JSON (ApiException if not 2xx)."""
        payload = None if body is None else json.dumps(body).encode()
        status, reason, answer = self.open(method, path, query, payload)
        data = self._finish(answer, answer.read())
        if not 200 <= status < 300:
            raise ApiException(status, reason, data.decode("utf-8", "replace"))
        return json.loads(data) if data else {}

    def open(
        self,
        method: str,
        path: str,
        query: dict[str, Any] | None = None,
        payload: bytes | None = None,
        *,
        timeout: float | None = 60.0,
    ) -> tuple[int, str, _Body]:
        """Send a request; (status, reason, body to read). A connection the server had
        already closed is opened again once for a GET."""
        url = urlsplit(self.server).path.rstrip("/") + path
        params = {k: _query_value(v) for k, v in (query or {}).items() if v is not None}
        if params:
            url += "?" + urlencode(params)
        head = f"{method} {url} HTTP/1.1\r\nHost: {_host(self.server)}\r\nUser-Agent: hyp\r\n"
        head += "Accept: application/json, */*\r\n"
        if self.token:
            head += f"Authorization: Bearer {self.token}\r\n"
        if payload is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        request = (head + "\r\n").encode("latin-1") + (payload or b"")
        for attempt in (0, 1):
            reused = self._sock is not None
            try:
                if self._sock is None:
                    self._connect()
                assert self._sock is not None and self._file is not None
                self._sock.settimeout(timeout)
                self._sock.sendall(request)
                return self._response(method)
            except _Stale:
                self.close()
                if reused and attempt == 0 and method == "GET":
                    continue
                raise ConnectionError(
                    f"{self.server}: the server closed the connection without answering"
                ) from None
            except ConnectionError:
                self.close()
                raise
            except OSError as exc:
                self.close()
                if reused and attempt == 0 and method == "GET" and _is_reset(exc):
                    continue
                raise ConnectionError(f"{self.server}: {exc}") from exc
        raise AssertionError("unreachable")

    def _connect(self) -> None:
        parts = urlsplit(self.server)
        host = parts.hostname or ""
        raw = socket.create_connection((host, parts.port or 443), timeout=60)
        try:
            self._sock = self.context.wrap_socket(raw, server_hostname=host)
        except BaseException:
            raw.close()
            raise
        self._file = self._sock.makefile("rb")

    def _response(self, method: str) -> tuple[int, str, _Body]:
        assert self._file is not None
        while True:
            line = self._file.readline(_MAX_LINE)
            if not line:
                raise _Stale()
            version, _, rest = line.decode("latin-1").rstrip("\r\n").partition(" ")
            code, _, reason = rest.partition(" ")
            if not version.startswith("HTTP/") or not code.isdigit():
                raise ConnectionError(f"{self.server}: not an HTTP answer: {line[:60]!r}")
            headers: dict[str, str] = {}
            while True:
                raw = self._file.readline(_MAX_LINE)
                if raw in (b"\r\n", b"\n", b""):
                    break
                key, _, value = raw.decode("latin-1").partition(":")
                headers[key.strip().lower()] = value.strip()
            status = int(code)
            if 100 <= status < 200:
                continue  # an interim answer: the real one follows
            empty = method == "HEAD" or status in (204, 304)
            body = _Body(self._file, headers, empty)
            if version == "HTTP/1.0":
                body.reusable = False
            return status, reason, body

    def _finish(self, body: _Body, data: bytes) -> bytes:
        """``data`` (the whole body, read); closes the connection unless it can be reused."""
        if not body.reusable:
            self.close()
        return data

    def stream(
        self, path: str, query: dict[str, Any] | None = None, *, timeout: float | None = 60.0
    ) -> LeanStream:
        """A GET whose body is read piece by piece (pod logs); ApiException if not 200."""
        status, reason, body = self.open("GET", path, query, timeout=timeout)
        if status != 200:
            data = self._finish(body, body.read())
            raise ApiException(status, reason, data.decode("utf-8", "replace"))
        return LeanStream(self, body)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class _Stale(Exception):
    """The server closed the connection before answering (typically an idle keep-alive one)."""


def _is_reset(exc: OSError) -> bool:
    return isinstance(exc, (BrokenPipeError, ConnectionResetError, ConnectionAbortedError))


def _host(server: str) -> str:
    return urlsplit(server).netloc.rpartition("@")[2]


def _query_value(value: Any) -> Any:
    """Query values the way the official client sends them (booleans as ``true``/``false``)."""
    return str(value).lower() if isinstance(value, bool) else value


class LeanStream:
    """A streamed answer shaped like the urllib3 response the official client gives with
    ``_preload_content=False``: ``stream(amt)`` and ``release_conn()``."""

    def __init__(self, rest: LeanRest, body: _Body) -> None:
        self._rest = rest
        self._body = body

    def stream(self, amt: int = 65536, **_urllib3_options: Any) -> Iterator[bytes]:
        yield from self._body.chunks(amt)

    def read_text(self) -> str:
        """The whole answer as text (and the connection released)."""
        data = b"".join(self._body.chunks())
        self.release_conn()
        return data.decode("utf-8", "replace")

    def release_conn(self) -> None:
        """Done with the answer: keep the connection if it was read to its end, else close."""
        if not (self._body.done and self._body.reusable):
            self._rest.close()


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

    def create_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, body: Any, **kw: Any
    ) -> Any:
        path = f"/apis/{group}/{version}/namespaces/{quote(namespace, safe='')}/{plural}"
        return self._rest.request_json("POST", path, self._query(kw), body)

    def delete_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, name: str, **kw: Any
    ) -> Any:
        ns, nm = quote(namespace, safe=""), quote(name, safe="")
        path = f"/apis/{group}/{version}/namespaces/{ns}/{plural}/{nm}"
        return self._rest.request_json("DELETE", path, self._query(kw))


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
        import tempfile

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

    def read_namespaced_pod_log(self, name: str, namespace: str, **kw: Any) -> Any:
        """The pod's log: its text, or with ``_preload_content=False`` a :class:`LeanStream`
        (which, following, waits as long as the log goes on, like the official client)."""
        ns, nm = quote(namespace, safe=""), quote(name, safe="")
        path = f"/api/v1/namespaces/{ns}/pods/{nm}/log"
        query = LeanCustomObjects._query(kw)
        if kw.get("_preload_content", True):
            return self._rest.stream(path, query).read_text()
        return self._rest.stream(path, query, timeout=None if kw.get("follow") else 60.0)

    def read_namespace(self, name: str) -> View:
        return View(self._rest.get_json(f"/api/v1/namespaces/{quote(name, safe='')}"))
