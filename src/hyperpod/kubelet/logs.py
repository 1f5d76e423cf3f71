"""Container logs for ``pods/log``: read (tail, since, timestamps, limit) and follow.

Logs live in the pod sandbox, one file per attempt (``<data_dir>/pods/<uid>/<container>/<n>.log``)
in the CRI format the shim writes; ``previous=True`` reads attempt n-1. Errors are the API's
own (400 BadRequest with kube-apiserver's wording), so the HTTP layer only forwards them.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hyperpod.apiserver.errors import BadRequest
from hyperpod.kubelet.processes import Attempt, attempt_numbers

FOLLOW_POLL_S = 0.1


def pod_dir(data_dir: Path, pod: Mapping[str, Any]) -> Path:
    return Path(data_dir) / "pods" / str(pod["metadata"]["uid"])


def _container_names(pod: Mapping[str, Any]) -> list[str]:
    spec = pod.get("spec") or {}
    return [c["name"] for c in (spec.get("initContainers") or []) + (spec.get("containers") or [])]


def default_container(pod: Mapping[str, Any], container: str | None) -> str:
    """The container a log request means; kube-apiserver's errors when it cannot tell."""
    name = pod["metadata"]["name"]
    names = _container_names(pod)
    if container:
        if container not in names:
            raise BadRequest(f"container {container} is not valid for pod {name}")
        return container
    annotated = (pod["metadata"].get("annotations") or {}).get(
        "kubectl.kubernetes.io/default-container"
    )
    if annotated in names:
        return str(annotated)
    app = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
    if len(app) == 1:
        return app[0]
    raise BadRequest(
        f"a container name must be specified for pod {name}, choose one of: [{' '.join(app)}]"
    )


def _parse_line(line: bytes) -> tuple[bytes, bytes]:
    """(timestamp, text incl. newline if complete) of one CRI log line."""
    ts, _, rest = line.partition(b" ")
    _stream, _, rest = rest.partition(b" ")
    tag, _, text = rest.partition(b" ")
    if text.endswith(b"\n"):
        text = text[:-1]
    return ts, text + (b"\n" if tag == b"F" else b"")


def _ts_seconds(ts: bytes) -> float:
    text = ts.decode()
    main, _, frac = text.rstrip("Z").partition(".")
    base = datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    return base + (float("0." + frac) if frac else 0.0)


def select_attempt(
    data_dir: Path, pod: Mapping[str, Any], container: str, previous: bool
) -> Attempt:
    cdir = pod_dir(data_dir, pod) / container
    nums = attempt_numbers(cdir)
    name = pod["metadata"]["name"]
    if previous:
        if len(nums) < 2:
            raise BadRequest(
                f'previous terminated container "{container}" in pod "{name}" not found'
            )
        return Attempt(cdir, nums[-2])
    if not nums:
        raise BadRequest(
            f'container "{container}" in pod "{name}" is waiting to start: ContainerCreating'
        )
    return Attempt(cdir, nums[-1])


def _render(lines: list[bytes], timestamps: bool, since: float | None) -> list[bytes]:
    out = []
    for raw in lines:
        ts, text = _parse_line(raw)
        if since is not None and _ts_seconds(ts) < since:
            continue
        out.append(ts + b" " + text if timestamps else text)
    return out


def open_log(
    data_dir: Path,
    pod: Mapping[str, Any],
    container: str | None = None,
    *,
    previous: bool = False,
    follow: bool = False,
    tail_lines: int | None = None,
    since_seconds: int | None = None,
    timestamps: bool = False,
    limit_bytes: int | None = None,
) -> AsyncIterator[bytes]:
    """The log of one container as an async iterator of byte chunks.

    Raises BadRequest at once (before any byte) for an unknown container, a container that has
    not started, or a missing previous attempt. With ``follow`` it keeps yielding new lines and
    ends when that attempt has terminated (or its sandbox is removed).
    """
    name = default_container(pod, container)
    attempt = select_attempt(Path(data_dir), pod, name, previous)
    since = time.time() - since_seconds if since_seconds is not None else None
    return _stream(attempt, follow and not previous, tail_lines, since, timestamps, limit_bytes)


CHUNK = 1 << 16


async def _stream(
    attempt: Attempt,
    follow: bool,
    tail_lines: int | None,
    since: float | None,
    timestamps: bool,
    limit_bytes: int | None,
) -> AsyncIterator[bytes]:
    """Yield the log in chunks (never the whole file at once), then follow it if asked."""
    left = limit_bytes if limit_bytes is not None and limit_bytes > 0 else None
    try:
        f = open(attempt.log_path, "rb")  # noqa: SIM115 - closed in finally
    except OSError:
        return
    try:
        pending = b""
        if tail_lines is not None:
            # A bounded deque keeps memory to the tail however long the file is.
            tail = deque(f, maxlen=max(tail_lines, 0))
            if tail and not tail[-1].endswith(b"\n"):
                pending = tail.pop()  # a line the shim is still writing
            first: list[bytes] | None = list(tail)
        else:
            first = None
        done = False
        while True:
            if first is not None:
                lines, first = first, None
            else:
                data = f.read(CHUNK)
                if not data:
                    if not follow or done:
                        return
                    done = attempt.finished() is not None or not attempt.container_dir.exists()
                    if not done:
                        await asyncio.sleep(FOLLOW_POLL_S)
                    continue
                parts = (pending + data).split(b"\n")
                pending = parts.pop()
                lines = [p + b"\n" for p in parts]
            out = b"".join(_render(lines, timestamps, since))
            if out:
                if left is not None:
                    out = out[:left]
                    left -= len(out)
                yield out
                if left is not None and left <= 0:
                    return
    finally:
        f.close()
