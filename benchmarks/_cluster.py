"""Start a throwaway control plane for a benchmark (same launcher as the tests)."""

from __future__ import annotations

import asyncio
import ssl
import sys
from collections.abc import AsyncIterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support import RunningControlPlane, control_plane, start_control_plane

__all__ = ["RunningControlPlane", "compile_package", "control_plane", "start_control_plane"]


def compile_package() -> None:
    """Byte-compile ``src/hyperpod`` the way ``pip install`` does for a wheel.

    The reference machine sets PYTHONDONTWRITEBYTECODE=1, so an editable checkout recompiles
    every hyperpod module on every ``hyp`` run (~14 ms of a ~95 ms ``hyp list``); an installed
    package, or any checkout without that variable, runs from ``.pyc`` files.
    """
    import compileall

    compileall.compile_dir(
        str(Path(__file__).resolve().parent.parent / "src" / "hyperpod"), quiet=1
    )


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


def report(rows: list[tuple[str, str, str, str]]) -> None:
    """Print figure | measured | target | anchor side by side."""
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)))


class Conn:
    """One keep-alive HTTP/1.1 connection with the least client overhead asyncio allows.

    Load generators share the two cores with the server, so they must be lean: httpx costs
    several times more CPU per request than the server spends answering it.
    """

    def __init__(self, host: str, port: int, ctx: ssl.SSLContext, token: str) -> None:
        self.host, self.port, self.ctx = host, port, ctx
        self.auth = f"Authorization: Bearer {token}\r\n".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: bytes = b"", content_type: str = "application/json"
    ) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(
                self.host, self.port, ssl=self.ctx, server_hostname="127.0.0.1"
            )
        assert self.reader is not None
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        ).encode()
        self.writer.write(head + self.auth + b"\r\n" + body)
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        data = await self.reader.readexactly(length)
        return int(status_line.split()[1]), data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class Pool:
    """A fixed set of :class:`Conn`; a request takes a free one and reconnects once if the
    server had closed it (keep-alive timeout)."""

    def __init__(self, host: str, port: int, ctx: ssl.SSLContext, token: str, size: int) -> None:
        self._free: asyncio.Queue[Conn] = asyncio.Queue()
        for _ in range(size):
            self._free.put_nowait(Conn(host, port, ctx, token))

    async def request(
        self, method: str, path: str, body: bytes = b"", content_type: str = "application/json"
    ) -> tuple[int, bytes]:
        conn = await self._free.get()
        try:
            try:
                return await conn.request(method, path, body, content_type)
            except (OSError, asyncio.IncompleteReadError, IndexError, ValueError):
                conn.close()
                return await conn.request(method, path, body, content_type)
        finally:
            self._free.put_nowait(conn)


async def watch_lines(
    host: str,
    port: int,
    ctx: ssl.SSLContext,
    token: str,
    path: str,
    opened: asyncio.Event | None = None,
) -> AsyncIterator[bytes]:
    """The event lines of one watch request, read with asyncio streams over its own TLS
    connection: httpx spends more of the shared cores per event than the server does to send it.
    ``opened`` is set once the response headers are in. Ends when the server ends the stream;
    raises OSError or IncompleteReadError if it breaks."""
    reader, writer = await asyncio.open_connection(host, port, ssl=ctx, server_hostname=host)
    try:
        head = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\r\n"
        writer.write(head.encode())
        status = await reader.readline()
        if b" 200 " not in status:
            raise OSError(f"watch {path}: {status.decode(errors='replace').strip()}")
        chunked = False
        while (line := await reader.readline()) not in (b"\r\n", b""):
            chunked = chunked or line.lower().startswith(b"transfer-encoding: chunked")
        if opened is not None:
            opened.set()
        buf = b""
        while True:
            if chunked:
                size = int((await reader.readline()).strip() or b"0", 16)
                if size == 0:
                    return
                buf += (await reader.readexactly(size + 2))[:-2]
            else:
                data = await reader.read(65536)
                if not data:
                    return
                buf += data
            *lines, buf = buf.split(b"\n")
            for line in lines:
                if line.strip():
                    yield line
    finally:
        writer.close()
