"""Exec into a running container: its environment and directory, pipes or a terminal, errors."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvloop

from hyperpod.apiserver.errors import BadRequest
from hyperpod.kubelet.exec_session import ExecProcess, LocalExec
from hyperpod.kubelet.processes import Attempt, start


def pod(uid: str = "u1", containers: tuple[str, ...] = ("main",), phase: str = "Running") -> dict:
    return {
        "metadata": {"name": "p", "namespace": "default", "uid": uid},
        "spec": {"nodeName": "n1", "containers": [{"name": c} for c in containers]},
        "status": {"phase": phase},
    }


@pytest.fixture
def container(tmp_path: Path) -> Iterator[Attempt]:
    workdir = tmp_path / "work"
    workdir.mkdir()
    env = {**os.environ, "TEAM": "vision", "RANK": "3"}
    a = start(tmp_path / "pods" / "u1" / "main", 0, ["sleep", "60"], env, workdir)
    while a.pgid() is None:
        time.sleep(0.02)
    yield a
    asyncio.run(a.stop(grace_seconds=1))


async def collect(proc: ExecProcess) -> tuple[dict[int, bytes], int]:
    out: dict[int, bytes] = {1: b"", 2: b""}
    while (item := await proc.read()) is not None:
        out[item[0]] += item[1]
    return out, await proc.wait()


def run(coro: Any) -> Any:
    # The control plane runs on uvloop; so do these tests (its subprocess handling differs).
    return uvloop.run(asyncio.wait_for(coro, timeout=20))


def test_a_command_sees_the_containers_environment_and_directory(
    tmp_path: Path, container: Attempt
) -> None:
    backend = LocalExec(tmp_path)

    async def go() -> tuple[dict[int, bytes], int]:
        proc = await backend.open(
            pod(),
            "main",
            ["sh", "-c", "echo $TEAM $RANK; pwd; echo oops >&2; exit 5"],
            tty=False,
            stdin=False,
        )
        return await collect(proc)

    out, code = run(go())
    assert out[1].decode().split() == ["vision", "3", str(tmp_path / "work")]
    assert out[2] == b"oops\n" and code == 5


def test_stdin_reaches_the_command_and_closing_it_ends_the_input(
    tmp_path: Path, container: Attempt
) -> None:
    async def go() -> tuple[dict[int, bytes], int]:
        proc = await LocalExec(tmp_path).open(pod(), "main", ["wc", "-c"], tty=False, stdin=True)
        await proc.write(b"12345")
        proc.close_stdin()
        return await collect(proc)

    out, code = run(go())
    assert out[1].strip() == b"5" and code == 0


def test_a_terminal_joins_the_outputs_and_takes_the_window_size(
    tmp_path: Path, container: Attempt
) -> None:
    async def go() -> tuple[dict[int, bytes], int]:
        proc = await LocalExec(tmp_path).open(pod(), "main", ["sh"], tty=True, stdin=True)
        proc.resize(120, 40)
        await proc.write(b"stty size; echo to-stderr >&2; exit 2\n")
        return await collect(proc)

    out, code = run(go())
    text = out[1].decode()
    assert "40 120" in text and "to-stderr" in text and out[2] == b"" and code == 2


def test_the_command_ends_when_the_container_ends(tmp_path: Path, container: Attempt) -> None:
    async def go() -> int:
        proc = await LocalExec(tmp_path).open(
            pod(), "main", ["sleep", "60"], tty=False, stdin=False
        )
        await container.stop(grace_seconds=1)
        _, code = await collect(proc)
        return code

    assert run(go()) == 137


def test_an_unknown_executable_is_refused_before_anything_runs(
    tmp_path: Path, container: Attempt
) -> None:
    with pytest.raises(BadRequest, match=r'exec: "no-such-tool": executable file not found'):
        run(LocalExec(tmp_path).open(pod(), "main", ["no-such-tool"], tty=False, stdin=False))


def test_check_names_the_reason_a_container_cannot_be_entered(
    tmp_path: Path, container: Attempt
) -> None:
    backend = LocalExec(tmp_path)
    assert run(backend.check(pod(), None)) == "main"
    with pytest.raises(BadRequest, match="container nope is not valid"):
        run(backend.check(pod(), "nope"))
    with pytest.raises(BadRequest, match="completed pod; current phase is Succeeded"):
        run(backend.check(pod(phase="Succeeded"), None))
    with pytest.raises(BadRequest, match="node n1 is simulated"):
        run(backend.check(pod(uid="elsewhere"), None))
    with pytest.raises(BadRequest, match='"side" in pod "p" is not running'):
        run(backend.check(pod(containers=("main", "side")), "side"))
    asyncio.run(container.stop(grace_seconds=1))
    with pytest.raises(BadRequest, match='"main" in pod "p" is not running'):
        run(backend.check(pod(), None))


def test_killing_a_terminal_session_ends_the_command_and_frees_the_terminal(
    tmp_path: Path, container: Attempt
) -> None:
    async def go() -> tuple[int | None, int]:
        proc = await LocalExec(tmp_path).open(pod(), "main", ["sleep", "60"], tty=True, stdin=True)
        master = proc.master
        assert master is not None
        proc.kill()
        return proc.master, await proc.wait()

    master, code = run(go())
    assert master is None and code == 137


def test_killing_a_session_nobody_reads_closes_its_pipes(
    tmp_path: Path, container: Attempt
) -> None:
    async def go() -> tuple[int, set[int]]:
        proc = await LocalExec(tmp_path).open(pod(), "main", ["yes"], tty=False, stdin=True)
        await asyncio.sleep(0.3)  # the output queue fills up; nobody reads it
        proc.kill()
        return await proc.wait(), proc._fds

    code, fds = run(go())
    assert code == 137 and fds == set()


def test_a_background_process_does_not_hold_the_exec_open(
    tmp_path: Path, container: Attempt
) -> None:
    async def go() -> tuple[dict[int, bytes], int, int]:
        proc = await LocalExec(tmp_path).open(
            pod(),
            "main",
            ["sh", "-c", "sleep 30 >/dev/null 2>&1 & echo started"],
            tty=False,
            stdin=False,
        )
        out, code = await asyncio.wait_for(collect(proc), timeout=10)
        return out, code, proc.pid

    out, code, group = run(go())
    os.killpg(group, signal.SIGKILL)
    assert out[1] == b"started\n" and code == 0


def test_a_huge_window_size_is_clamped_not_fatal(tmp_path: Path, container: Attempt) -> None:
    async def go() -> tuple[dict[int, bytes], int]:
        proc = await LocalExec(tmp_path).open(pod(), "main", ["sh"], tty=True, stdin=True)
        proc.resize(70000, 10)
        await proc.write(b"stty size; exit 0\n")
        return await collect(proc)

    out, code = run(go())
    assert "10 65535" in out[1].decode() and code == 0
