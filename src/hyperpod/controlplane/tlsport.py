"""The HTTPS port: TLS for clients that speak it, a plain 400 for those that send plain HTTP.

kube-apiserver answers an ``http://`` request on its TLS port with ``400 Bad Request`` and
"Client sent an HTTP request to an HTTPS server."; a TLS server left to itself just drops the
connection, which reads like a crash. Here the control plane accepts connections itself,
peeks at the first byte (a TLS handshake record starts with 0x16) and either hands the socket
to uvicorn's HTTP protocol over TLS or writes the 400 and closes. uvicorn runs with no
listener of its own (``sockets=[]``) and keeps its connection bookkeeping and graceful
shutdown; only accepting is ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Any

import uvicorn

log = logging.getLogger(__name__)

TLS_HANDSHAKE = 0x16
PLAIN_HTTP_ANSWER = (
    b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
    b"Client sent an HTTP request to an HTTPS server.\n"
)
FIRST_BYTE_TIMEOUT = 10.0


async def serve(server: uvicorn.Server, sock: socket.socket) -> None:
    """Run ``server`` (configured with TLS) on the listening ``sock`` until it exits."""
    loop = asyncio.get_running_loop()
    task = loop.create_task(server.serve(sockets=[]))
    while not server.started:
        if task.done():
            await task
            return
        await asyncio.sleep(0.01)
    config = server.config

    def protocol() -> Any:
        return config.http_protocol_class(  # type: ignore[call-arg]
            config=config, server_state=server.server_state, app_state=server.lifespan.state
        )

    sock.setblocking(False)
    accepting = loop.create_task(_accept(loop, sock, protocol, config.ssl))
    try:
        await task
    finally:
        accepting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await accepting
        sock.close()


async def _accept(
    loop: asyncio.AbstractEventLoop, sock: socket.socket, protocol: Any, ssl: Any
) -> None:
    pending: set[asyncio.Task[None]] = set()
    while True:
        try:
            conn, _ = await loop.sock_accept(sock)
        except asyncio.CancelledError:
            raise
        except OSError as exc:  # e.g. EMFILE: wait a moment rather than spin
            log.warning("accepting a connection failed: %s", exc)
            await asyncio.sleep(0.1)
            continue
        t = loop.create_task(_route(loop, conn, protocol, ssl))
        pending.add(t)
        t.add_done_callback(pending.discard)


async def _first_byte(loop: asyncio.AbstractEventLoop, conn: socket.socket) -> bytes:
    ready: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(conn.fileno(), readable)
    try:
        await asyncio.wait_for(ready, FIRST_BYTE_TIMEOUT)
    finally:
        loop.remove_reader(conn.fileno())
    return conn.recv(1, socket.MSG_PEEK)


async def _route(
    loop: asyncio.AbstractEventLoop, conn: socket.socket, protocol: Any, ssl: Any
) -> None:
    conn.setblocking(False)
    try:
        first = await _first_byte(loop, conn)
    except (OSError, TimeoutError):
        conn.close()
        return
    if not first:
        conn.close()
        return
    if first[0] != TLS_HANDSHAKE:
        with contextlib.suppress(OSError):
            conn.send(PLAIN_HTTP_ANSWER)
            conn.shutdown(socket.SHUT_WR)
        conn.close()
        return
    try:
        await loop.connect_accepted_socket(protocol, sock=conn, ssl=ssl)
    except (OSError, ConnectionError) as exc:  # a failed handshake: the client's problem
        log.debug("TLS handshake failed: %s", exc)
        conn.close()
