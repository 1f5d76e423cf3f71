"""Container probes: exec, tcpSocket and httpGet, each answering (success, message)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def _port(value: Any, container: Mapping[str, Any]) -> int:
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return int(value)
    for p in container.get("ports") or []:
        if p.get("name") == value:
            return int(p["containerPort"])
    raise ValueError(f"port {value!r} is not a container port")


async def _exec(
    cmd: list[str], env: Mapping[str, str], cwd: Path, timeout: float
) -> tuple[bool, str]:
    try:
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            env=dict(env),
            cwd=str(cwd),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        return False, str(exc)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        return False, f"command {cmd!r} timed out"
    text = out.decode(errors="replace").strip()
    if proc.returncode == 0:
        return True, text
    return False, text or f"command {cmd!r} exited with {proc.returncode}"


async def _tcp(host: str, port: int, timeout: float) -> tuple[bool, str]:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError) as exc:
        return False, f"dial tcp {host}:{port}: connect: {exc.__class__.__name__}: {exc}"
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True, ""


async def _http(
    host: str, port: int, path: str, scheme: str, headers: list[dict[str, str]], timeout: float
) -> tuple[bool, str]:
    url = f"{scheme.lower()}://{host}:{port}{path}"
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=scheme.upper() == "HTTPS" or None), timeout
        )
    except (OSError, TimeoutError) as exc:
        return False, f'Get "{url}": dial tcp {host}:{port}: connect: {exc}'
    try:
        extra = "".join(f"{h['name']}: {h['value']}\r\n" for h in headers)
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: kube-probe/1.32\r\n"
            f"{extra}Connection: close\r\n\r\n".encode()
        )
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout)
    except (OSError, TimeoutError) as exc:
        return False, f'Get "{url}": {exc}'
    finally:
        writer.close()
    parts = line.decode(errors="replace").split()
    code = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    if 200 <= code < 400:
        return True, ""
    return False, f"HTTP probe failed with statuscode: {code}"


async def run_probe(
    probe: Mapping[str, Any],
    container: Mapping[str, Any],
    env: Mapping[str, str],
    cwd: Path,
    wrap: Sequence[str] = (),
    host: str = "127.0.0.1",
) -> tuple[bool, str]:
    """Run one probe once; the message is what the Unhealthy event reports.

    ``wrap`` prefixes an exec probe's command (``runc exec ID`` for an OCI container);
    ``host`` is where tcpSocket and httpGet probes connect without their own ``host`` (the pod
    IP, as in Kubernetes).
    """
    timeout = float(probe.get("timeoutSeconds") or 1)
    try:
        if "exec" in probe:
            cmd = [str(a) for a in (probe["exec"] or {}).get("command") or []]
            return await _exec([*wrap, *cmd] if cmd else cmd, env, cwd, timeout)
        if "tcpSocket" in probe:
            spec = probe["tcpSocket"] or {}
            return await _tcp(spec.get("host") or host, _port(spec.get("port"), container), timeout)
        if "httpGet" in probe:
            spec = probe["httpGet"] or {}
            return await _http(
                spec.get("host") or host,
                _port(spec.get("port"), container),
                spec.get("path") or "/",
                spec.get("scheme") or "HTTP",
                list(spec.get("httpHeaders") or []),
                timeout,
            )
    except ValueError as exc:
        return False, str(exc)
    return False, "probe has no handler (exec, tcpSocket or httpGet)"
