"""Container logs: current and previous attempts, tail, limit, timestamps, follow."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from hyperpod.apiserver.errors import BadRequest
from hyperpod.kubelet.logs import open_log
from hyperpod.kubelet.processes import start


def pod(*containers: str) -> dict:
    return {
        "metadata": {"name": "p", "namespace": "default", "uid": "u1"},
        "spec": {"containers": [{"name": c} for c in containers]},
    }


def read(data_dir: Path, p: dict, **kw: object) -> bytes:
    async def go() -> bytes:
        return b"".join([c async for c in open_log(data_dir, p, **kw)])  # type: ignore[arg-type]

    return asyncio.run(go())


def run_attempt(data_dir: Path, n: int, script: str) -> None:
    a = start(
        data_dir / "pods" / "u1" / "main", n, ["sh", "-c", script], dict(os.environ), data_dir
    )
    while a.finished() is None:
        time.sleep(0.05)


def test_logs_of_the_current_and_previous_attempts(tmp_path: Path) -> None:
    run_attempt(tmp_path, 0, "echo first")
    run_attempt(tmp_path, 1, "printf 'a\\nb\\nc\\n'")
    p = pod("main")
    assert read(tmp_path, p) == b"a\nb\nc\n"
    assert read(tmp_path, p, previous=True) == b"first\n"
    assert read(tmp_path, p, tail_lines=2) == b"b\nc\n"
    assert read(tmp_path, p, limit_bytes=3) == b"a\nb"
    stamped = read(tmp_path, p, timestamps=True).splitlines()
    assert stamped[0].endswith(b"Z a") and stamped[0][:2] == b"20"
    assert read(tmp_path, p, since_seconds=3600) == b"a\nb\nc\n"


def test_bad_log_requests_get_kubernetes_messages(tmp_path: Path) -> None:
    with pytest.raises(
        BadRequest, match='previous terminated container "main" in pod "p" not found'
    ):
        read(tmp_path, pod("main"), previous=True)
    with pytest.raises(BadRequest, match="is waiting to start: ContainerCreating"):
        read(tmp_path, pod("main"))
    with pytest.raises(BadRequest, match="container nope is not valid for pod p"):
        read(tmp_path, pod("main"), container="nope")
    with pytest.raises(BadRequest, match="choose one of: \\[a b\\]"):
        read(tmp_path, pod("a", "b"))


def test_follow_streams_new_lines_and_ends_when_the_container_ends(tmp_path: Path) -> None:
    a = start(
        tmp_path / "pods" / "u1" / "main",
        0,
        ["sh", "-c", "echo one; sleep 0.5; echo two"],
        dict(os.environ),
        tmp_path,
    )
    assert read(tmp_path, pod("main"), follow=True) == b"one\ntwo\n"
    assert a.finished() is not None


def test_long_logs_are_streamed_in_chunks_without_losing_or_splitting_lines(tmp_path: Path) -> None:
    cdir = tmp_path / "pods" / "u1" / "main"
    cdir.mkdir(parents=True)
    lines = [f"line {i} " + "x" * (i % 97) for i in range(20000)]
    with open(cdir / "0.log", "wb") as f:
        for text in lines:
            f.write(b"2026-01-01T00:00:00.000000000Z stdout F " + text.encode() + b"\n")
    (cdir / "0.json").write_text('{"exitCode": 0, "startedAt": 1, "finishedAt": 2}')
    out = read(tmp_path, pod("main")).decode().splitlines()
    assert out == lines
    assert read(tmp_path, pod("main"), tail_lines=2).decode().splitlines() == lines[-2:]
    assert read(tmp_path, pod("main"), follow=True).decode().splitlines() == lines
