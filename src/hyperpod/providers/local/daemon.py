"""The local control-plane daemon: start it detached, wait until ready, stop it gracefully.

Everything lives under the data directory: ``controlplane.pid``, ``controlplane.log``,
``daemon.json`` (how it was started) and what the control plane itself writes
(``kubeconfig``, ``token``, ``state.db``). A pid file whose process is gone, or is no longer
our control plane, is stale and is cleared on the next start.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PID_FILE = "controlplane.pid"
LOG_FILE = "controlplane.log"
CONFIG_FILE = "controlplane.yaml"
INFO_FILE = "daemon.json"
KUBECONFIG_FILE = "kubeconfig"


class LocalClusterError(Exception):
    """Something about the local cluster the user can fix; ``hint`` says how (the CLI prints both)."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class DaemonError(LocalClusterError):
    """The control plane could not be started or stopped; the message says why."""


@dataclass
class DaemonState:
    pid: int | None
    running: bool
    stale_pid: int | None = None


def port_in_use(port: int) -> bool:
    """True when something listens on 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc.errno in (errno.EADDRINUSE, errno.EACCES)
    return False


def port_owner(port: int) -> str:
    """A description of who listens on ``port`` (best effort, may be empty)."""
    try:
        import psutil

        for conn in psutil.net_connections(kind="tcp"):
            if (
                conn.laddr
                and conn.laddr.port == port
                and conn.status == psutil.CONN_LISTEN
                and conn.pid
            ):
                proc = psutil.Process(conn.pid)
                return f"pid {conn.pid} ({proc.name()})"
    except Exception:
        return ""
    return ""


class Daemon:
    """One control-plane process serving the cluster whose state is in ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.pid_file = data_dir / PID_FILE
        self.log_file = data_dir / LOG_FILE
        self.config_file = data_dir / CONFIG_FILE
        self.info_file = data_dir / INFO_FILE
        self.kubeconfig_file = data_dir / KUBECONFIG_FILE

    # --- state -----------------------------------------------------------------------

    def _recorded_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def _is_ours(self, pid: int) -> bool:
        try:
            import psutil

            proc = psutil.Process(pid)
            if proc.status() == psutil.STATUS_ZOMBIE:
                return False
            cmdline = " ".join(proc.cmdline())
        except Exception:
            return False
        return "controlplane" in cmdline and str(self.data_dir) in cmdline

    def state(self) -> DaemonState:
        pid = self._recorded_pid()
        if pid is None:
            return DaemonState(pid=None, running=False)
        if self._is_ours(pid):
            return DaemonState(pid=pid, running=True)
        return DaemonState(pid=None, running=False, stale_pid=pid)

    def info(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.info_file.read_text())
            return data
        except (OSError, ValueError):
            return {}

    def server_url(self) -> str | None:
        try:
            cfg = yaml.safe_load(self.kubeconfig_file.read_text()) or {}
            return str(cfg["clusters"][0]["cluster"]["server"])
        except Exception:
            return None

    def ready(self, url: str | None = None, timeout: float = 2.0) -> bool:
        """True when ``/readyz`` answers 200."""
        import ssl
        import urllib.error
        import urllib.request

        url = url or self.server_url()
        if not url:
            return False
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        try:
            with urllib.request.urlopen(
                url.rstrip("/") + "/readyz", timeout=timeout, context=ctx
            ) as resp:
                return int(resp.status) == 200
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])

    # --- start / stop ------------------------------------------------------------------

    def start(
        self,
        port: int,
        config: dict[str, Any],
        *,
        timeout: float = 60.0,
        progress: Callable[[str], None] | None = None,
    ) -> int:
        """Spawn the control plane detached and wait for ``/readyz``; returns its pid.

        On failure the process is killed and the pid file removed before raising.
        """
        say = progress or (lambda _msg: None)
        self.config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        cmd = [
            sys.executable,
            "-m",
            "hyperpod.controlplane",
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--port",
            str(port),
            "--config",
            str(self.config_file),
        ]
        started = time.time()
        with open(self.log_file, "ab") as log:
            log.write(
                f"\n--- hyp create: starting control plane at {time.ctime(started)} ---\n".encode()
            )
            log.flush()
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=str(self.data_dir),
                close_fds=True,
            )
        self.pid_file.write_text(f"{proc.pid}\n")
        self.info_file.write_text(
            json.dumps(
                {
                    "pid": proc.pid,
                    "port": port,
                    "started": started,
                    "python": sys.executable,
                    "virtual_env": os.environ.get("VIRTUAL_ENV", ""),
                    "cwd": os.getcwd(),
                    "command": cmd,
                },
                indent=2,
            )
        )
        say(f"control plane started (pid {proc.pid}), waiting for the API")
        try:
            self._wait_ready(proc, started, started + timeout, port)
        except BaseException:
            # Not ready, or interrupted (Ctrl-C): leave nothing running behind.
            if proc.poll() is None:
                self._kill(proc.pid)
                proc.wait()
            self._forget()
            raise
        say("API ready")
        return proc.pid

    def _wait_ready(
        self, proc: subprocess.Popen[bytes], started: float, deadline: float, port: int
    ) -> None:
        url = f"https://127.0.0.1:{port}"
        while True:
            code = proc.poll()
            if code is not None:
                raise DaemonError(
                    f"the control plane exited with code {code} before it was ready:\n{self.log_tail()}",
                    f"full log: {self.log_file}",
                )
            fresh = (
                self.kubeconfig_file.exists()
                and self.kubeconfig_file.stat().st_mtime >= started - 1
            )
            if fresh and self.ready(self.server_url() or url, timeout=1.0):
                return
            if time.time() > deadline:
                raise DaemonError(
                    f"the control plane was not ready after {deadline - started:g} s:\n{self.log_tail()}",
                    f"full log: {self.log_file}",
                )
            time.sleep(0.05)

    def _forget(self) -> None:
        self.pid_file.unlink(missing_ok=True)

    def _kill(self, pid: int) -> None:
        for target in (
            lambda: os.killpg(pid, signal.SIGKILL),
            lambda: os.kill(pid, signal.SIGKILL),
        ):
            try:
                target()
                return
            except (ProcessLookupError, PermissionError):
                continue

    def stop(self, *, timeout: float = 90.0, progress: Callable[[str], None] | None = None) -> bool:
        """SIGTERM the daemon (it stops pods with their grace) and wait; SIGKILL after ``timeout``.

        Returns False when nothing was running. Idempotent.
        """
        say = progress or (lambda _msg: None)
        st = self.state()
        if not st.running or st.pid is None:
            self._forget()
            return False
        pid = st.pid
        say(f"stopping the control plane (pid {pid}); pods get their termination grace")
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            self._forget()
            return True
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not self._alive(pid):
                break
            time.sleep(0.1)
        else:
            say(f"still running after {timeout:g} s; killing it")
            self._kill(pid)
            while self._alive(pid) and time.time() < deadline + 10:
                time.sleep(0.1)
        self._forget()
        return True

    def _alive(self, pid: int) -> bool:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        return self._is_ours(pid)
