"""The daemon's pid bookkeeping and port checks (no control plane needed)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from hyperpod.providers.local.daemon import Daemon, port_in_use


def test_a_pid_file_of_a_dead_process_is_stale(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    (tmp_path / "controlplane.pid").write_text(f"{proc.pid}\n")
    state = Daemon(tmp_path).state()
    assert not state.running
    assert state.stale_pid == proc.pid


def test_a_pid_reused_by_another_program_is_not_taken_for_the_daemon(tmp_path: Path) -> None:
    (tmp_path / "controlplane.pid").write_text(f"{os.getpid()}\n")
    state = Daemon(tmp_path).state()
    assert not state.running
    assert state.stale_pid == os.getpid()


def test_no_pid_file_means_not_running(tmp_path: Path) -> None:
    state = Daemon(tmp_path).state()
    assert (state.running, state.pid, state.stale_pid) == (False, None, None)


def test_stopping_a_daemon_that_is_not_running_is_a_no_op(tmp_path: Path) -> None:
    assert Daemon(tmp_path).stop() is False


def test_a_listening_port_is_in_use_and_a_closed_one_is_not() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        assert port_in_use(port)
    assert not port_in_use(port)
