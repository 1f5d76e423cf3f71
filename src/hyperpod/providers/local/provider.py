"""The local provider: a cluster stack that is one control-plane process on this machine.

``create`` checks the port and data directory, starts the daemon, waits until it is ready and
records what it did; ``delete`` stops it gracefully (and removes its data with ``purge``).
Known clusters are listed under ``$HYPERPOD_HOME/clusters/<name>.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from hyperpod.providers.base import Problem, StackInfo
from hyperpod.providers.local.daemon import Daemon, LocalClusterError, port_in_use, port_owner

if TYPE_CHECKING:
    from hyperpod.api.cluster_config import LocalClusterConfig

CLUSTER_FILE = "cluster.yaml"
SIMULATED_TAINT = "hyperpod.local/simulated"  # hyp create hyp-pytorch-job --instance-type tolerates it  # the user's config as last created, kept in the data dir


def hyperpod_home() -> Path:
    """Where hyp keeps per-user state: ``$HYPERPOD_HOME`` or ``~/.hyperpod``."""
    env = os.environ.get("HYPERPOD_HOME")
    return Path(env).expanduser() if env else Path.home() / ".hyperpod"


def _parse(config: dict[str, Any]) -> LocalClusterConfig:
    # Imported here: the schema costs ~0.15 s of pydantic start-up that listing does not need.
    from hyperpod.api.cluster_config import LocalClusterConfig

    return LocalClusterConfig.model_validate(config)


def controlplane_config(cfg: LocalClusterConfig) -> dict[str, Any]:
    """The control-plane config document derived from the user's config (pure).

    Checked against :class:`ControlPlaneConfig` here, so a key the control plane would refuse
    fails ``hyp create`` before any process starts.
    """
    from hyperpod.api.controlplane_config import ControlPlaneConfig

    local = next(g for g in cfg.instance_groups if g.kind == "local")
    doc = {
        "clusterName": cfg.cluster_name,
        "nodes": {
            "local": {
                "name": None,
                "instanceType": local.instance_type,
                "group": local.name,
            },
            "simulated": [
                {
                    "group": g.name,
                    "instanceType": g.instance_type,
                    "count": g.count,
                    "taints": [{"key": SIMULATED_TAINT, "value": "true", "effect": "NoSchedule"}]
                    if g.tainted
                    else [],
                }
                for g in cfg.instance_groups
                if g.kind == "simulated"
            ],
        },
        "kubelet": {"runtime": cfg.runtime, "podUsers": cfg.pod_users},
        "addons": {
            "trainingOperator": cfg.addons.training_operator,
            "kueue": cfg.addons.kueue,
            "devicePlugins": cfg.addons.device_plugins,
            "healthAgent": cfg.addons.health_agent,
        },
        "nodeRecovery": cfg.node_recovery,
        "health": cfg.health.model_dump(by_alias=True),
    }
    return ControlPlaneConfig.load(doc).model_dump(by_alias=True, exclude_unset=True, mode="json")


class LocalProvider:
    """:class:`hyperpod.providers.base.Provider` for clusters on this machine."""

    name = "local"

    def __init__(
        self,
        home: Path | None = None,
        progress: Callable[[str], None] | None = None,
        ready_timeout: float = 60.0,
        stop_timeout: float = 90.0,
        pod_grace: float = 30.0,
    ) -> None:
        self.home = home or hyperpod_home()
        self.progress = progress or (lambda _msg: None)
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self.pod_grace = pod_grace  # Kubernetes' default terminationGracePeriodSeconds

    # --- inventory ---------------------------------------------------------------------

    def _record_file(self, name: str) -> Path:
        return self.home / "clusters" / f"{name}.json"

    def _record(self, name: str) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(self._record_file(name).read_text())
            return data
        except (OSError, ValueError):
            return None

    def _save_record(self, cfg: LocalClusterConfig, data_dir: Path) -> None:
        path = self._record_file(cfg.cluster_name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(
                {"name": cfg.cluster_name, "data_dir": str(data_dir), "api_port": cfg.api_port},
                indent=2,
            )
        )

    def names(self) -> list[str]:
        folder = self.home / "clusters"
        return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []

    def data_dir(self, name: str) -> Path | None:
        rec = self._record(name)
        return Path(rec["data_dir"]) if rec else None

    def load_image(self, name: str, archive: Path, tag: str | None = None) -> list[str]:
        """Unpack an image archive into the local node's image store (like ``kind load``)."""
        from hyperpod.kubelet.images import ImageError, ImageStore

        data_dir = self.data_dir(name)
        if data_dir is None:
            raise LocalClusterError(
                f"no local cluster named {name!r}", "create it with `hyp create`"
            )
        try:
            return ImageStore(data_dir).load(archive, tag=tag)
        except ImageError as exc:
            raise LocalClusterError(
                str(exc), "save the image with `docker save`, `podman save` or `buildah push`"
            ) from exc

    # --- Provider ------------------------------------------------------------------------

    def validate(self, config: dict[str, Any], *, online: bool = True) -> list[Problem]:
        cfg = _parse(config)
        problems: list[Problem] = []
        data_dir = cfg.resolved_data_dir(self.home)
        existing = next((p for p in [data_dir, *data_dir.parents] if p.exists()), None)
        if existing is not None and (not existing.is_dir() or not os.access(existing, os.W_OK)):
            problems.append(
                Problem(
                    "data_dir",
                    f"{data_dir} cannot be created or written "
                    f"({existing} is not a writable directory)",
                    "choose another with `hyp configure --data-dir PATH`",
                )
            )
        if online:
            running = self.describe(cfg.cluster_name)
            ours = (
                running is not None
                and running.status == "Running"
                and running.details.get("api_port") == cfg.api_port
            )
            if not ours and port_in_use(cfg.api_port):
                owner = port_owner(cfg.api_port)
                problems.append(
                    Problem(
                        "api_port",
                        f"port {cfg.api_port} is already in use"
                        + (f" by {owner}" if owner else ""),
                        "choose a free one with `hyp configure --api-port N`",
                    )
                )
        return problems

    def _prepare_data_dir(self, data_dir: Path) -> list[Path]:
        """Create ``data_dir`` (returning the folders made) or raise naming the field."""
        made: list[Path] = []
        missing = [p for p in [data_dir, *data_dir.parents] if not p.exists()]
        try:
            for folder in reversed(missing):
                folder.mkdir()
                made.append(folder)
            probe = data_dir / ".hyp-write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            for folder in reversed(made):
                shutil.rmtree(folder, ignore_errors=True)
            raise LocalClusterError(
                f"data_dir: cannot write to {data_dir}: {exc.strerror or exc}",
                "choose a writable directory with `hyp configure --data-dir PATH`",
            ) from exc
        return made

    def create(self, config: dict[str, Any], run_dir: Path, *, dry_run: bool = False) -> StackInfo:
        cfg = _parse(config)
        data_dir = cfg.resolved_data_dir(self.home)
        cp_config = controlplane_config(cfg)
        if dry_run:
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "controlplane.yaml").write_text(yaml.safe_dump(cp_config, sort_keys=False))
            return StackInfo(
                cfg.cluster_name,
                self.name,
                "DryRun",
                None,
                {"data_dir": str(data_dir), "controlplane": cp_config, "created": False},
            )

        current = self.describe(cfg.cluster_name)
        if current is not None and current.status in ("Running", "NotReady"):
            if current.status == "NotReady":
                raise LocalClusterError(
                    f"cluster {cfg.cluster_name!r} is running (pid {current.details.get('pid')}) but its API "
                    "does not answer",
                    f"see {current.details.get('log')}; then `hyp delete cluster-stack {cfg.cluster_name}` "
                    "and `hyp create` again",
                )
            current.details["created"] = False
            try:
                started_with = yaml.safe_load((data_dir / CLUSTER_FILE).read_text())
            except (OSError, yaml.YAMLError):
                started_with = None
            current.details["config_changed"] = started_with != cfg.model_dump(mode="json")
            return current

        daemon = Daemon(data_dir)
        state = daemon.state()
        if state.stale_pid is not None:
            self.progress(
                f"recovering: the control plane (pid {state.stale_pid}) is gone; clearing its pid file"
            )
            daemon.pid_file.unlink(missing_ok=True)
        if port_in_use(cfg.api_port):
            owner = port_owner(cfg.api_port)
            raise LocalClusterError(
                f"api_port: port {cfg.api_port} is already in use"
                + (f" by {owner}" if owner else ""),
                "choose a free port with `hyp configure --api-port N` (or stop what uses it)",
            )
        made = self._prepare_data_dir(data_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "controlplane.yaml").write_text(yaml.safe_dump(cp_config, sort_keys=False))
        t0 = time.monotonic()
        try:
            daemon.start(
                cfg.api_port, cp_config, timeout=self.ready_timeout, progress=self.progress
            )
        except BaseException as exc:
            tail = daemon.log_tail(400)
            if tail:
                (run_dir / "controlplane.log").write_text(tail + "\n")
                if isinstance(exc, LocalClusterError):
                    exc.hint = f"full log: {run_dir / 'controlplane.log'}"
            if made:
                shutil.rmtree(made[0], ignore_errors=True)
            raise
        elapsed = time.monotonic() - t0
        (data_dir / CLUSTER_FILE).write_text(
            yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
        )
        self._save_record(cfg, data_dir)
        info = self.describe(cfg.cluster_name)
        assert info is not None
        info.details["created"] = True
        info.details["seconds_to_ready"] = round(elapsed, 3)
        info.details["recovered_stale_pid"] = state.stale_pid
        (run_dir / "create.json").write_text(
            json.dumps(
                {
                    "name": info.name,
                    "status": info.status,
                    "endpoint": info.endpoint,
                    **info.details,
                },
                indent=2,
                default=str,
            )
        )
        return info

    def delete(self, name: str, *, purge: bool = False) -> None:
        data_dir = self.data_dir(name)
        if data_dir is None:
            return
        Daemon(data_dir).stop(timeout=self.stop_timeout, progress=self.progress)
        # Containers outlive the control plane on purpose (a restart re-adopts them); deleting
        # the cluster ends them: SIGTERM, their grace, then SIGKILL.
        from hyperpod.kubelet.processes import running_attempts, stop_all

        if running_attempts(data_dir):
            self.progress("stopping the cluster's containers (SIGTERM, then their grace)")
            stop_all(data_dir, grace_seconds=self.pod_grace)
        if purge:
            shutil.rmtree(data_dir, ignore_errors=True)
            self._record_file(name).unlink(missing_ok=True)

    def describe(self, name: str) -> StackInfo | None:
        rec = self._record(name)
        if rec is None:
            return None
        data_dir = Path(rec["data_dir"])
        daemon = Daemon(data_dir)
        st = daemon.state()
        info = daemon.info()
        url = daemon.server_url() if st.running else None
        status = ("Running" if daemon.ready(url) else "NotReady") if st.running else "Stopped"
        details: dict[str, Any] = {
            "data_dir": str(data_dir),
            "api_port": rec.get("api_port"),
            "pid": st.pid,
            "log": str(daemon.log_file),
            "kubeconfig": str(daemon.kubeconfig_file),
            "context": name,
            "python": info.get("python"),
            "virtual_env": info.get("virtual_env") or None,
            "host": socket.gethostname(),
        }
        if st.stale_pid is not None:
            details["stale_pid"] = st.stale_pid
        runtime = data_dir / "node-runtime"
        if runtime.is_file():
            details["runtime"] = runtime.read_text().strip()
        return StackInfo(
            name=name, provider=self.name, status=status, endpoint=url, details=details
        )

    def list_stacks(self) -> list[StackInfo]:
        return [info for n in self.names() if (info := self.describe(n)) is not None]

    def kubeconfig(self, name: str) -> dict[str, Any]:
        data_dir = self.data_dir(name)
        if data_dir is None:
            raise LocalClusterError(
                f"no local cluster named {name!r}", "create it with `hyp create`"
            )
        path = data_dir / "kubeconfig"
        try:
            data: dict[str, Any] = yaml.safe_load(path.read_text()) or {}
        except FileNotFoundError:
            raise LocalClusterError(
                f"cluster {name!r} has no kubeconfig yet ({path})", "start it with `hyp create`"
            ) from None
        return data

    def close(self) -> None:
        return None
