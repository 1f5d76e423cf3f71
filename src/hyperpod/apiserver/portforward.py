"""``pods/portforward`` over WebSocket: kubectl's SPDY tunnel and the channel protocol.

Two subprotocols are spoken:

- ``SPDY/3.1+portforward.k8s.io`` (kubectl 1.31+): every binary message is a slice of a
  SPDY/3.1 byte stream. For each local connection kubectl opens an error stream and a data
  stream (headers ``streamtype``, ``port``, ``requestid``); the server answers each SYN_STREAM
  with a SYN_REPLY, connects the data stream to ``<podIP>:<port>``, copies both ways, half-closes
  with FIN, reports a failure to connect as text on the error stream, and echoes PINGs. Header
  blocks are zlib streams with SPDY/3's preset dictionary. No flow control (kubectl sends no
  WINDOW_UPDATE it depends on).
- ``v4.channel.k8s.io`` (the official Python client's ``portforward``): ports come from the
  query (``ports=80&ports=8080``); port *i* uses channel ``2i`` for data and ``2i+1`` for
  errors, each first sending the port as two little-endian bytes; one connection per port.

The target is the pod's IP (``status.podIP``): pods of the local node listen on loopback
addresses of this machine. Pods that are not Running are refused with the Status
kube-apiserver gives. (Simulated nodes' pods report 127.0.0.1 and run no process: a forward
to one reaches whatever listens on that port of 127.0.0.1.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import struct
import zlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from hyperpod.apiserver.errors import ApiError, BadRequest

log = logging.getLogger(__name__)
Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]
SPDY_TUNNEL = "SPDY/3.1+portforward.k8s.io"
CHANNELS = "v4.channel.k8s.io"
PROTOCOLS = (SPDY_TUNNEL, CHANNELS)
CHUNK = 32 * 1024
HTTP_REFUSAL = (
    "port-forward is served over WebSocket only (subprotocols SPDY/3.1+portforward.k8s.io, "
    "v4.channel.k8s.io): use kubectl 1.31 or newer; pods share this machine's network, so the "
    "pod's IP (kubectl get pod -o wide), the Service's cluster IP and 127.0.0.1:<nodePort> "
    "also reach it directly"
)
CONNECT_TIMEOUT_S = 5.0

# SPDY/3 frame types and flags (draft-mbelshe-httpbis-spdy-00, section 2.6).
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = (
    1,
    2,
    3,
    4,
    6,
    7,
    8,
    9,
)
FLAG_FIN = 0x01
RST_CANCEL = 5

# The SPDY/3 header compression dictionary (section 2.6.10.1): length-prefixed header names
# and values, then a run of common status lines, dates and media types.
_DICT_NAMES = (
    "options head post put delete trace accept accept-charset accept-encoding accept-language "
    "accept-ranges age allow authorization cache-control connection content-base "
    "content-encoding content-language content-length content-location content-md5 "
    "content-range content-type date etag expect expires from host if-match if-modified-since "
    "if-none-match if-range if-unmodified-since last-modified location max-forwards pragma "
    "proxy-authenticate proxy-authorization range referer retry-after server te trailer "
    "transfer-encoding upgrade user-agent vary via warning www-authenticate method get status"
)
_DICT_WORDS = [
    *_DICT_NAMES.split(),
    *("200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin"),
]
_DICT_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
    "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
SPDY_DICTIONARY = (
    b"".join(struct.pack(">I", len(w)) + w.encode() for w in _DICT_WORDS) + _DICT_TAIL.encode()
)


def target(pod: Mapping[str, Any]) -> str:
    """The address to forward to, or the error kube-apiserver gives for this pod."""
    status = pod.get("status") or {}
    phase = status.get("phase") or "Pending"
    if phase != "Running":
        raise BadRequest(
            f"unable to forward port because pod is not running. Current status={phase}"
        )
    ip = str(status.get("podIP") or "")
    if not ip.startswith("127."):
        raise BadRequest(
            f'pod "{(pod.get("metadata") or {}).get("name")}" has no address on this machine '
            "to forward to"
        )
    return ip


def choose(offered: list[str]) -> str | None:
    for p in PROTOCOLS:
        if p in offered:
            return p
    return None


def parse_ports(raw_query: str) -> list[int]:
    """``ports`` of the channel protocol (repeated or comma separated), each 1-65535."""
    out: list[int] = []
    for value in parse_qs(raw_query).get("ports", []):
        for part in value.split(","):
            if not part.strip().isdigit() or not 0 < int(part) < 65536:
                raise BadRequest(f'invalid port "{part}": ports must be 1-65535')
            out.append(int(part))
    if not out:
        raise BadRequest('query parameter "ports" is required')
    return out


async def _connect(ip: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(asyncio.open_connection(ip, port), CONNECT_TIMEOUT_S)


def _refused(name: str, ip: str, port: int, exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        reason = "i/o timeout"
    elif isinstance(exc, OSError) and exc.errno:
        reason = os.strerror(exc.errno)
    else:
        reason = str(exc) or exc.__class__.__name__
    return (
        f"error forwarding port {port} to pod {name}: dial tcp {ip}:{port}: connect: "
        f"{str(reason).lower()}"
    )


# --------------------------------------------------------------------------- SPDY tunnel
def _u32(data: bytes, at: int) -> int:
    return int(struct.unpack_from(">I", data, at)[0])


def parse_headers(block: bytes) -> dict[str, str]:
    """A decompressed SPDY/3 name/value block (lower-case names; first of several values)."""
    count, at, out = _u32(block, 0), 4, {}
    for _ in range(count):
        n = _u32(block, at)
        name = block[at + 4 : at + 4 + n].decode("latin-1").lower()
        at += 4 + n
        v = _u32(block, at)
        out[name] = block[at + 4 : at + 4 + v].decode("latin-1").split("\x00")[0]
        at += 4 + v
    return out


def control_frame(kind: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | 3, kind, (flags << 24) | len(payload)) + payload


def data_frame(stream: int, flags: int, data: bytes) -> bytes:
    return struct.pack(">II", stream & 0x7FFFFFFF, (flags << 24) | len(data)) + data


@dataclass
class _Pair:
    """The error and data streams of one forwarded connection (one ``requestid``)."""

    port: int
    error: int = 0
    data: int = 0
    writer: asyncio.StreamWriter | None = None
    task: asyncio.Task[None] | None = None
    pending: list[bytes] = field(default_factory=list)
    client_fin: bool = False


class SpdyTunnel:
    """The server side of kubectl's port-forward SPDY session, over WebSocket messages."""

    def __init__(self, send: Send, pod_name: str, ip: str) -> None:
        self._send = send
        self.pod_name, self.ip = pod_name, ip
        self.buf = bytearray()
        self.inflate = zlib.decompressobj(zdict=SPDY_DICTIONARY)
        self.deflate = zlib.compressobj(zdict=SPDY_DICTIONARY)
        self.lock = asyncio.Lock()
        self.pairs: dict[str, _Pair] = {}
        self.by_stream: dict[int, _Pair] = {}

    async def send(self, frame: bytes) -> None:
        async with self.lock:
            await self._send({"type": "websocket.send", "bytes": frame})

    async def feed(self, data: bytes) -> None:
        self.buf += data
        while len(self.buf) >= 8:
            length = int.from_bytes(self.buf[5:8], "big")
            if len(self.buf) < 8 + length:
                return
            head, payload = bytes(self.buf[:8]), bytes(self.buf[8 : 8 + length])
            del self.buf[: 8 + length]
            flags = head[4]
            if head[0] & 0x80:
                await self._control(int.from_bytes(head[2:4], "big"), flags, payload)
            else:
                await self._data(_u32(head, 0) & 0x7FFFFFFF, flags, payload)

    async def _control(self, kind: int, flags: int, payload: bytes) -> None:
        if kind == SYN_STREAM:
            stream = _u32(payload, 0) & 0x7FFFFFFF
            headers = parse_headers(self.inflate.decompress(payload[10:]))
            await self._open(stream, headers, flags)
        elif kind == PING:
            await self.send(control_frame(PING, 0, payload[:4]))
        elif kind == RST_STREAM:
            pair = self.by_stream.get(_u32(payload, 0) & 0x7FFFFFFF)
            if pair is not None:
                self._drop(pair)
        # SETTINGS, WINDOW_UPDATE, HEADERS and GOAWAY need no answer here.

    async def _open(self, stream: int, headers: dict[str, str], flags: int) -> None:
        reply = self.deflate.compress(struct.pack(">I", 0)) + self.deflate.flush(zlib.Z_SYNC_FLUSH)
        await self.send(control_frame(SYN_REPLY, 0, struct.pack(">I", stream) + reply))
        port_text, kind = headers.get("port", ""), headers.get("streamtype", "")
        request = headers.get("requestid", port_text)
        if not port_text.isdigit() or kind not in ("error", "data"):
            await self.send(control_frame(RST_STREAM, 0, struct.pack(">II", stream, 1)))
            return
        pair = self.pairs.setdefault(request, _Pair(int(port_text)))
        self.by_stream[stream] = pair
        if kind == "error":
            pair.error = stream
        else:
            pair.data = stream
            pair.client_fin = bool(flags & FLAG_FIN)
            pair.task = asyncio.create_task(self._forward(request, pair))

    async def _forward(self, request: str, pair: _Pair) -> None:
        try:
            reader, writer = await _connect(self.ip, pair.port)
        except (OSError, TimeoutError) as exc:
            message = _refused(self.pod_name, self.ip, pair.port, exc)
            if pair.error:
                await self.send(data_frame(pair.error, 0, message.encode()))
                await self.send(data_frame(pair.error, FLAG_FIN, b""))
            await self.send(data_frame(pair.data, FLAG_FIN, b""))
            self.pairs.pop(request, None)
            self.by_stream.pop(pair.data, None)
            self.by_stream.pop(pair.error, None)
            return
        pair.writer = writer
        for chunk in pair.pending:
            writer.write(chunk)
        pair.pending.clear()
        if pair.client_fin and writer.can_write_eof():
            with contextlib.suppress(OSError, RuntimeError):
                writer.write_eof()
        try:
            while data := await reader.read(CHUNK):
                await self.send(data_frame(pair.data, 0, data))
            await self.send(data_frame(pair.data, FLAG_FIN, b""))
            if pair.error:
                await self.send(data_frame(pair.error, FLAG_FIN, b""))
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            self.pairs.pop(request, None)
            self.by_stream.pop(pair.data, None)
            self.by_stream.pop(pair.error, None)

    async def _data(self, stream: int, flags: int, data: bytes) -> None:
        pair = self.by_stream.get(stream)
        if pair is None or stream != pair.data:
            return  # the error stream carries nothing from the client
        if pair.writer is None:
            if data:
                pair.pending.append(data)
            pair.client_fin = pair.client_fin or bool(flags & FLAG_FIN)
            return
        if pair.writer.is_closing():
            return
        with contextlib.suppress(ConnectionError, OSError, RuntimeError):
            if data:
                pair.writer.write(data)
                await pair.writer.drain()
            if flags & FLAG_FIN and pair.writer.can_write_eof():
                pair.writer.write_eof()

    def _drop(self, pair: _Pair) -> None:
        if pair.task is not None:
            pair.task.cancel()
        if pair.writer is not None:
            pair.writer.close()

    def close(self) -> None:
        for pair in list(self.by_stream.values()):
            self._drop(pair)


async def serve_spdy(receive: Receive, send: Send, pod_name: str, ip: str) -> None:
    tunnel = SpdyTunnel(send, pod_name, ip)
    try:
        while True:
            msg = await receive()
            if msg["type"] == "websocket.disconnect":
                return
            data = msg.get("bytes")
            if data is None:
                data = (msg.get("text") or "").encode("latin-1")
            await tunnel.feed(data)
    except (zlib.error, struct.error, IndexError) as exc:
        log.info("port-forward to %s: bad SPDY from the client: %s", pod_name, exc)
        with contextlib.suppress(OSError, RuntimeError):
            await send({"type": "websocket.close", "code": 1002})
    finally:
        tunnel.close()
        tasks = [p.task for p in tunnel.by_stream.values() if p.task is not None]
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t


# --------------------------------------------------------------------------- channels (v4)
async def serve_channels(
    receive: Receive, send: Send, pod_name: str, ip: str, ports: list[int]
) -> None:
    lock = asyncio.Lock()

    async def frame(channel: int, data: bytes) -> None:
        async with lock:
            await send({"type": "websocket.send", "bytes": bytes([channel]) + data})

    writers: dict[int, asyncio.StreamWriter] = {}
    tasks: list[asyncio.Task[None]] = []

    async def pump(i: int, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(CHUNK):
                await frame(2 * i, data)

    for i, port in enumerate(ports):
        await frame(2 * i, struct.pack("<H", port))
        await frame(2 * i + 1, struct.pack("<H", port))
        try:
            reader, writer = await _connect(ip, port)
        except (OSError, TimeoutError) as exc:
            await frame(2 * i + 1, _refused(pod_name, ip, port, exc).encode())
            continue
        writers[i] = writer
        tasks.append(asyncio.create_task(pump(i, reader)))
    try:
        while True:
            msg = await receive()
            if msg["type"] == "websocket.disconnect":
                return
            data = msg.get("bytes") or (msg.get("text") or "").encode("latin-1")
            if not data or data[0] % 2 or data[0] // 2 not in writers:
                continue
            w = writers[data[0] // 2]
            with contextlib.suppress(ConnectionError, OSError, RuntimeError):
                w.write(data[1:])
                await w.drain()
    finally:
        for w in writers.values():
            w.close()
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t


async def serve(
    pod: Mapping[str, Any], protocol: str, raw_query: str, receive: Receive, send: Send
) -> None:
    """Run an accepted port-forward WebSocket until the client goes."""
    name = str((pod.get("metadata") or {}).get("name"))
    ip = target(pod)
    if protocol == SPDY_TUNNEL:
        await serve_spdy(receive, send, name, ip)
    else:
        await serve_channels(receive, send, name, ip, parse_ports(raw_query))


def check(pod: Mapping[str, Any], protocol: str | None, raw_query: str) -> str:
    """The protocol to accept, or the ApiError that refuses the upgrade."""
    target(pod)
    if protocol is None:
        raise BadRequest(
            "port-forward speaks the WebSocket subprotocols "
            + ", ".join(PROTOCOLS)
            + "; the client offered none of them"
        )
    if protocol == CHANNELS:
        parse_ports(raw_query)
    return protocol


__all__ = ["PROTOCOLS", "ApiError", "check", "choose", "serve"]
