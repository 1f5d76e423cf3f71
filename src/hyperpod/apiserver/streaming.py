"""``pods/exec`` over WebSocket: the channel protocol of kubectl (v5) and the official client (v4).

Every message is binary (the official client sends text, read the same way) and starts with
one byte naming its channel: 0 stdin, 1 stdout, 2 stderr, 3 the final Status, 4 terminal
resize (``{"Width": w, "Height": h}``). v5 adds 255, whose payload ``0`` means "stdin is
closed". When the command ends, the server writes a Status on channel 3 (Success, or Failure
with reason NonZeroExitCode and the code as an ExitCode cause, which kubectl turns into its own
exit code) and closes the socket. Errors found before the command starts refuse the upgrade with
an ordinary Status; kubectl then retries over SPDY, which this server does not speak, and the
HTTP path answers that retry with the same Status so the user sees the real reason.

Running the command is not this module's business: a component registers an
:class:`ExecBackend` (the kubelet, for the pods of its node) under ``services["pod_exec"]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs

import orjson

from hyperpod.apiserver.errors import ApiError, BadRequest

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
STDIN_BUFFER = 64 * 1024 * 1024

log = logging.getLogger(__name__)

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class ExecSession(Protocol):
    async def read(self) -> tuple[int, bytes] | None: ...
    async def write(self, data: bytes) -> None: ...
    def close_stdin(self) -> None: ...
    def resize(self, width: int, height: int) -> None: ...
    async def wait(self) -> int: ...
    def kill(self) -> None: ...


class ExecBackend(Protocol):
    async def check(self, pod: Mapping[str, Any], container: str | None) -> str:
        """The container meant, running and reachable; an ApiError otherwise."""
        ...

    async def open(
        self,
        pod: Mapping[str, Any],
        container: str,
        command: list[str],
        *,
        tty: bool,
        stdin: bool,
    ) -> ExecSession: ...


@dataclass
class ExecOptions:
    """The query of an exec request (PodExecOptions)."""

    command: list[str]
    container: str | None
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool

    @classmethod
    def from_query(cls, raw_query: str) -> ExecOptions:
        q = parse_qs(raw_query, keep_blank_values=True)

        def flag(name: str) -> bool:
            return (q.get(name) or [""])[-1].lower() in ("true", "1")

        opts = cls(
            command=q.get("command", []),
            container=(q.get("container") or [""])[-1] or None,
            stdin=flag("stdin"),
            stdout=flag("stdout"),
            stderr=flag("stderr"),
            tty=flag("tty"),
        )
        if not opts.command:
            raise BadRequest("you must specify at least one command for the container")
        if not (opts.stdin or opts.stdout or opts.stderr):
            raise BadRequest("you must specify at least 1 of stdin, stdout, stderr")
        if opts.tty and opts.stderr:
            # A terminal has one output; kubectl never asks for both.
            opts.stderr = False
        return opts


def choose_protocol(offered: list[str]) -> str | None:
    for p in PROTOCOLS:
        if p in offered:
            return p
    return None


def exit_status(code: int, command: list[str]) -> dict[str, Any]:
    """The Status written on channel 3 when the command has ended."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": (
            f"command terminated with non-zero exit code: error executing command "
            f"{command}, exit code {code}"
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


async def deny(scope: Mapping[str, Any], send: Send, err: ApiError) -> None:
    """Refuse the upgrade with the error's Status (a bare 403 where the server cannot)."""
    if "websocket.http.response" in (scope.get("extensions") or {}):
        body = orjson.dumps(err.status())
        await send(
            {
                "type": "websocket.http.response.start",
                "status": err.code,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008})


async def relay(session: ExecSession, opts: ExecOptions, receive: Receive, send: Send) -> None:
    """Carry one exec between the socket and the command, then report how it ended.

    Stdin is fed by a task of its own so the socket keeps being read (disconnects, pings)
    while the command is slow to take its input; up to STDIN_BUFFER bytes wait for it, and
    past that reading pauses until the command catches up.
    """
    await _Relay(session, opts, receive, send).run()


class _Relay:
    """The three tasks of one exec: outputs to the socket, socket to stdin queue, queue to stdin."""

    def __init__(
        self, session: ExecSession, opts: ExecOptions, receive: Receive, send: Send
    ) -> None:
        self.session = session
        self.opts = opts
        self.receive = receive
        self.send = send
        self.stdin_q: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.stdin_open = opts.stdin
        self.pending = 0
        self.room = asyncio.Event()
        self.room.set()

    async def frame(self, channel: int, data: bytes) -> None:
        await self.send({"type": "websocket.send", "bytes": bytes([channel]) + data})

    async def outputs(self) -> None:
        while (item := await self.session.read()) is not None:
            channel, data = item
            if (channel == STDOUT and self.opts.stdout) or (channel == STDERR and self.opts.stderr):
                await self.frame(channel, data)

    async def feed(self) -> None:
        while (chunk := await self.stdin_q.get()) is not None:
            try:
                await self.session.write(chunk)
            finally:
                self.pending -= len(chunk)
                if self.pending <= STDIN_BUFFER:
                    self.room.set()
        self.session.close_stdin()

    async def inputs(self) -> bool:
        """True when the client disconnected."""
        while True:
            if not await self.wait_for_room():
                return True
            msg = await self.receive()
            if msg["type"] == "websocket.disconnect":
                return True
            data = msg.get("bytes")
            if data is None:
                data = (msg.get("text") or "").encode()
            if data:
                self.handle(data[0], data[1:])

    async def wait_for_room(self) -> bool:
        """Wait while stdin's buffer is full; False when the client went away meanwhile."""
        probe = STDOUT if self.opts.stdout else STDERR if self.opts.stderr else None
        while not self.room.is_set():
            # Reading is paused until the command takes its input. An empty output frame
            # each second tells whether the client is still there (a send to a gone
            # client fails) without reading more of its input.
            if probe is not None:
                try:
                    await self.frame(probe, b"")
                except OSError:
                    return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.room.wait(), 1.0)
        return True

    def handle(self, channel: int, payload: bytes) -> None:
        """One client frame: stdin data, a terminal resize, or stdin's close."""
        if channel == STDIN and self.stdin_open:
            self.pending += len(payload)
            self.stdin_q.put_nowait(payload)
            if self.pending > STDIN_BUFFER:
                self.room.clear()
        elif channel == RESIZE:
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                size = orjson.loads(payload)
                self.session.resize(int(size.get("Width", 0)), int(size.get("Height", 0)))
        elif channel == CLOSE and payload[:1] == bytes([STDIN]) and self.stdin_open:
            self.stdin_open = False
            self.stdin_q.put_nowait(None)

    async def run(self) -> None:
        session = self.session
        out_task = asyncio.create_task(self.outputs())
        in_task = asyncio.create_task(self.inputs())
        feed_task = asyncio.create_task(self.feed())
        try:
            done, _ = await asyncio.wait({out_task, in_task}, return_when=asyncio.FIRST_COMPLETED)
            if in_task in done and not out_task.done():
                if in_task.exception() is None:
                    # The client went away first: the command goes with it.
                    session.kill()
                    return
                log.error("exec input failed", exc_info=in_task.exception())
            await out_task
            code = await session.wait()
            await self.frame(ERROR, orjson.dumps(exit_status(code, self.opts.command)))
            await self.send({"type": "websocket.close", "code": 1000})
        except OSError:  # the socket broke under us
            session.kill()
        except asyncio.CancelledError:  # the server is stopping: the command must not outlive it
            session.kill()
            raise
        finally:
            tasks = (out_task, in_task, feed_task)
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
