"""Port-forward's SPDY tunnel: stream pairs, replies, data both ways, refusals, pings."""

from __future__ import annotations

import asyncio
import struct
import zlib
from typing import Any

import pytest

from hyperpod.apiserver.errors import BadRequest
from hyperpod.apiserver.portforward import (
    FLAG_FIN,
    PING,
    SPDY_DICTIONARY,
    SYN_REPLY,
    SYN_STREAM,
    SpdyTunnel,
    control_frame,
    data_frame,
    parse_headers,
    parse_ports,
    target,
)


def header_block(headers: dict[str, str]) -> bytes:
    out = struct.pack(">I", len(headers))
    for k, v in headers.items():
        out += struct.pack(">I", len(k)) + k.encode() + struct.pack(">I", len(v)) + v.encode()
    return out


class Client:
    """The kubectl side: compresses header blocks with the SPDY/3 dictionary."""

    def __init__(self) -> None:
        self.deflate = zlib.compressobj(zdict=SPDY_DICTIONARY)

    def syn(self, stream: int, **headers: str) -> bytes:
        block = self.deflate.compress(header_block(headers)) + self.deflate.flush(zlib.Z_SYNC_FLUSH)
        return control_frame(SYN_STREAM, 0, struct.pack(">IIH", stream, 0, 0) + block)


def frames(sent: list[bytes]) -> list[tuple[bool, int, int, bytes]]:
    """(control, type or stream id, flags, payload) of every frame the server sent."""
    out = []
    for f in sent:
        control = bool(f[0] & 0x80)
        ident = int.from_bytes(f[2:4], "big") if control else int.from_bytes(f[0:4], "big")
        out.append((control, ident, f[4], f[8:]))
    return out


def test_the_dictionary_is_spdy3s() -> None:
    assert len(SPDY_DICTIONARY) == 1423
    assert SPDY_DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert SPDY_DICTIONARY.endswith(b"enq=0.")


def test_a_pair_of_streams_forwards_to_the_pod_and_back() -> None:
    async def scenario() -> list[bytes]:
        async def echo(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            w.write(b"pong:" + await r.read())
            await w.drain()
            w.close()

        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = str(server.sockets[0].getsockname()[1])
        sent: list[bytes] = []

        async def send(msg: dict[str, Any]) -> None:
            sent.append(msg["bytes"])

        tunnel = SpdyTunnel(send, "web", "127.0.0.1")
        kubectl = Client()
        stream = kubectl.syn(1, streamtype="error", port=port, requestid="0")
        await tunnel.feed(stream[:5])  # frames may arrive split across messages
        await tunnel.feed(stream[5:])
        await tunnel.feed(kubectl.syn(3, streamtype="data", port=port, requestid="0"))
        await tunnel.feed(data_frame(3, FLAG_FIN, b"ping"))
        await tunnel.feed(control_frame(PING, 0, struct.pack(">I", 7)))
        for _ in range(100):
            if any(f[:5] == data_frame(1, FLAG_FIN, b"")[:5] for f in sent):
                break
            await asyncio.sleep(0.02)
        server.close()
        return sent

    got = frames(asyncio.run(scenario()))
    replies = [p for c, t, _, p in got if c and t == SYN_REPLY]
    assert [struct.unpack(">I", p[:4])[0] for p in replies] == [1, 3]
    inflate = zlib.decompressobj(zdict=SPDY_DICTIONARY)
    assert parse_headers(inflate.decompress(replies[0][4:])) == {}
    assert (True, PING, 0, struct.pack(">I", 7)) in got
    data = b"".join(p for c, s, _, p in got if not c and s == 3)
    assert data == b"pong:ping"
    assert (False, 3, FLAG_FIN, b"") in got and (False, 1, FLAG_FIN, b"") in got


def test_a_closed_port_is_reported_on_the_error_stream() -> None:
    async def scenario() -> list[bytes]:
        sent: list[bytes] = []

        async def send(msg: dict[str, Any]) -> None:
            sent.append(msg["bytes"])

        tunnel = SpdyTunnel(send, "web", "127.0.0.1")
        kubectl = Client()
        await tunnel.feed(kubectl.syn(1, streamtype="error", port="9", requestid="4"))
        await tunnel.feed(kubectl.syn(3, streamtype="data", port="9", requestid="4"))
        for _ in range(100):
            if len(sent) >= 5:
                break
            await asyncio.sleep(0.02)
        return sent

    got = frames(asyncio.run(scenario()))
    message = b"".join(p for c, s, _, p in got if not c and s == 1).decode()
    assert message.startswith("error forwarding port 9 to pod web: dial tcp 127.0.0.1:9")
    assert "connection refused" in message


def test_pods_that_are_not_running_and_bad_ports_are_refused() -> None:
    with pytest.raises(BadRequest, match=r"pod is not running\. Current status=Pending"):
        target({"status": {"phase": "Pending"}})
    assert target({"status": {"phase": "Running", "podIP": "127.112.0.3"}}) == "127.112.0.3"
    assert parse_ports("ports=80&ports=8080,9090") == [80, 8080, 9090]
    with pytest.raises(BadRequest, match="ports must be 1-65535"):
        parse_ports("ports=http")
