"""Container attempts as real processes through the shim: exit codes, signals, memory, adoption."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from hyperpod.kubelet.processes import Attempt, latest, start


def wait_finished(a: Attempt, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rec = a.finished()
        if rec is not None:
            return rec
        time.sleep(0.05)
    raise AssertionError("attempt did not finish")


def env() -> dict[str, str]:
    return dict(os.environ)


def test_a_successful_container_records_exit_zero_and_its_output(tmp_path: Path) -> None:
    a = start(tmp_path / "main", 0, ["sh", "-c", "echo hello; echo oops >&2"], env(), tmp_path)
    rec = wait_finished(a)
    assert rec["exitCode"] == 0 and rec["reason"] == "Completed"
    assert rec["finishedAt"] >= rec["startedAt"]
    lines = a.log_path.read_bytes().splitlines()
    # stdout and stderr are separate pipes (as in CRI), so their relative order is not defined.
    assert sorted(ln.split(b" ", 1)[1] for ln in lines) == [b"stderr F oops", b"stdout F hello"]


def test_a_failing_container_records_its_exit_code(tmp_path: Path) -> None:
    rec = wait_finished(start(tmp_path / "c", 0, ["sh", "-c", "exit 3"], env(), tmp_path))
    assert (rec["exitCode"], rec["reason"]) == (3, "Error")


def test_a_missing_executable_is_a_start_error(tmp_path: Path) -> None:
    rec = wait_finished(start(tmp_path / "c", 0, ["no-such-binary-xyz"], env(), tmp_path))
    assert rec["exitCode"] == 128 and rec["reason"] == "StartError"
    assert "no-such-binary-xyz" in rec["message"]


def test_stop_sends_sigterm_to_the_group_and_records_128_plus_the_signal(tmp_path: Path) -> None:
    a = start(tmp_path / "c", 0, ["sleep", "60"], env(), tmp_path)
    rec = asyncio.run(a.stop(grace_seconds=5))
    assert rec["exitCode"] == 143


def test_stop_escalates_to_sigkill_after_the_grace_period(tmp_path: Path) -> None:
    script = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
    a = start(tmp_path / "c", 0, [sys.executable, "-c", script], env(), tmp_path)
    while b"up" not in a.log_path.read_bytes():
        time.sleep(0.05)
    rec = asyncio.run(a.stop(grace_seconds=0.5))
    assert rec["exitCode"] == 137


def test_a_container_over_its_memory_limit_is_oom_killed(tmp_path: Path) -> None:
    script = "x = bytearray(200 * 1024 * 1024); import time; time.sleep(30)"
    a = start(tmp_path / "c", 0, [sys.executable, "-c", script], env(), tmp_path, 50 * 2**20)
    rec = wait_finished(a)
    assert (rec["exitCode"], rec["reason"]) == (137, "OOMKilled")


def test_a_running_attempt_is_found_again_from_its_files(tmp_path: Path) -> None:
    a = start(tmp_path / "c", 2, ["sleep", "60"], env(), tmp_path)
    while a.pgid() is None:
        time.sleep(0.05)
    adopted = latest(tmp_path / "c")
    assert adopted is not None and adopted.number == 2 and adopted.shim is None
    assert adopted.finished() is None
    rec = asyncio.run(adopted.stop(grace_seconds=5))
    assert rec["exitCode"] == 143
    a.shim.wait()  # type: ignore[union-attr]


def test_stop_all_ends_every_container_of_a_cluster(tmp_path: Path) -> None:
    from hyperpod.kubelet.processes import running_attempts, stop_all

    a = start(tmp_path / "pods" / "u1" / "main", 0, ["sleep", "60"], env(), tmp_path)
    b = start(tmp_path / "pods" / "u2" / "side", 1, ["sleep", "60"], env(), tmp_path)
    while a.pgid() is None or b.pgid() is None:
        time.sleep(0.05)
    assert len(running_attempts(tmp_path)) == 2
    assert stop_all(tmp_path, grace_seconds=5) == 2
    assert wait_finished(a)["exitCode"] == 143 and wait_finished(b)["exitCode"] == 143
    assert stop_all(tmp_path) == 0
