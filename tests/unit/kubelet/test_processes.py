"""Container attempts as real processes through the shim: exit codes, signals, memory, adoption."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest

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


def _escaped_pid(pidfile: Path) -> int:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        text = pidfile.read_text().strip() if pidfile.exists() else ""
        if text:
            return int(text)
        time.sleep(0.05)
    raise AssertionError("the setsid grandchild never started")


def _gone(pid: int, timeout: float = 10) -> bool:
    from hyperpod.kubelet.processes import pid_running

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_running(pid):
            return True
        time.sleep(0.05)
    return False


def _setsid_script(pidfile: Path) -> list[str]:
    # A grandchild in a session of its own, out of the container's process group.
    return ["sh", "-c", f"setsid sh -c 'echo $$ > {pidfile}; exec sleep 300' & sleep 300"]


def _shim_under_test_runs() -> bool:
    """Whether containers run this checkout's shim (``-E`` ignores PYTHONPATH, so a virtualenv
    installed from another checkout runs that checkout's shim)."""
    import subprocess

    import hyperpod.kubelet.shim as shim

    out = subprocess.run(
        [sys.executable, "-E", "-P", "-c", "import hyperpod.kubelet.shim as s; print(s.__file__)"],
        capture_output=True,
        text=True,
        cwd="/",
    ).stdout.strip()
    return out == shim.__file__


def test_a_setsid_grandchild_ends_with_its_container(tmp_path: Path) -> None:
    if not _shim_under_test_runs():
        pytest.skip("containers run the shim of another checkout (see _shim_under_test_runs)")
    pidfile = tmp_path / "escaped.pid"
    a = start(tmp_path / "pods" / "u1" / "main", 0, _setsid_script(pidfile), env(), tmp_path)
    escaped = _escaped_pid(pidfile)
    assert os.getpgid(escaped) != a.pgid()
    asyncio.run(a.stop(1.0))
    assert _gone(escaped)


def test_a_setsid_grandchild_is_found_by_its_marker_after_the_shim_was_killed(
    tmp_path: Path,
) -> None:
    import signal

    from hyperpod.kubelet.processes import stop_all

    pidfile = tmp_path / "escaped.pid"
    a = start(tmp_path / "pods" / "u1" / "main", 0, _setsid_script(pidfile), env(), tmp_path)
    escaped = _escaped_pid(pidfile)
    assert a.shim is not None
    a.shim.kill()  # the shim dies without cleaning up (kill -9 of the whole machinery)
    a.shim.wait()
    os.killpg(a.pgid() or 0, signal.SIGKILL)
    time.sleep(0.2)
    assert not _gone(escaped, timeout=0.5)
    stop_all(tmp_path, grace_seconds=1)
    assert _gone(escaped)
