"""Starting one container attempt as a process of this machine (the ``process`` runtime).

The container's command, environment, working directory and mounts are resolved from its spec
(``resolve``, also used by the probes); the command is checked to exist, wrapped to run as
the namespace's user (``podusers.py``), with its ServiceAccount token (``serviceaccount.py``)
and its own ``/etc/hosts`` (``podnet.py``), and started through the shim (``processes.py``).
``oci_start.py`` is the counterpart for pods that run in real containers.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from hyperpod.apiserver.quantity import bytes_of
from hyperpod.kubelet import devices as devmod
from hyperpod.kubelet import podnet, podusers, processes, progress_reader
from hyperpod.kubelet import serviceaccount as sa_mod
from hyperpod.kubelet.env import EnvError, container_env
from hyperpod.kubelet.volumes import Mount, VolumeError, mounts_for, substitute

if TYPE_CHECKING:
    from hyperpod.kubelet.container import Container
    from hyperpod.kubelet.host import WorkerView


def resolve(w: WorkerView, c: Container) -> tuple[list[str], dict[str, str], Path, list[Mount]]:
    """The container's argv, environment, working directory and mounts."""
    w.ip = w.kl.pod_address(w)  # refreshes the hosts file too
    mounts = mounts_for(c.spec, w.volumes)
    if w.sa_dir is not None:
        mounts = sorted([*mounts, sa_mod.mount(w.sa_dir)], key=lambda m: -len(m.mount_path))
    ns = w.pod["metadata"]["namespace"]
    env, argv = container_env(
        w.downward_pod(),
        c.spec,
        base=w.kl.base_env,
        lookup=w.kl.lookup,
        services={ns: w.kl.service_addresses(ns)},
        mounts=mounts,
        devices=devmod.device_env(w.allocation.get(c.name, {}), w.kl.devices),
        node_allocatable=w.kl.allocatable,
    )
    # Where hyperpod.progress.report() writes (kubelet/progress_reader.py reads it).
    if not any(e.get("name") == progress_reader.ENV for e in c.spec.get("env") or []):
        env[progress_reader.ENV] = str(progress_reader.progress_path(w.sandbox, c.name))
    if w.sa_dir is not None:
        for k, v in sa_mod.incluster_env(w.kl.data_dir, w.sa_dir).items():
            env.setdefault(k, v)  # what the pod sets itself wins
    # Written by the health agent before an eviction (controllers/health_eviction.py).
    env["HYPERPOD_EVICTION_FILE"] = str(w.sandbox / "eviction.json")
    wd = c.spec.get("workingDir")
    cwd = Path(substitute(wd, mounts)) if wd else w.sandbox
    return argv, env, cwd, mounts


def _config_error(w: WorkerView, c: Container, exc: Exception) -> None:
    """CreateContainerConfigError, retried in 5 s."""
    c.state = {"waiting": {"reason": "CreateContainerConfigError", "message": str(exc)}}
    w.event("Warning", "Failed", f"Error: {exc}")
    c.next_start = time.monotonic() + 5.0


def _cannot_run(argv: list[str], env: dict[str, str], cwd: Path) -> str | None:
    """Why the command cannot start (as runc would say it), or None."""
    if not argv:
        return "no command specified: the local cluster needs command or args"
    if not cwd.is_dir():
        return f'chdir to cwd ("{cwd}") set in config.json failed: no such file or directory'
    exe = argv[0]
    found = (
        exe
        if os.sep in exe and os.access(cwd / exe, os.X_OK)
        else shutil.which(exe, path=env.get("PATH"))
    )
    if not found:
        return f'exec: "{exe}": executable file not found in $PATH'
    return None


async def start(w: WorkerView, c: Container) -> None:
    """Start attempt ``c.restart_count`` of ``c`` as a process group of this machine."""
    try:
        argv, env, cwd, _ = resolve(w, c)
    except (EnvError, VolumeError) as exc:
        _config_error(w, c, exc)
        return
    image = c.spec.get("image") or ""
    if not c.pulled:
        c.pulled = True
        w.event(
            "Normal",
            "Pulled",
            f'Container image "{image}" is recorded, not pulled: on the local cluster '
            "containers run as processes of this machine",
        )
    problem = _cannot_run(argv, env, cwd)
    if problem is not None:
        w.start_error(c, problem)
        return
    limits = (c.spec.get("resources") or {}).get("limits") or {}
    memory = bytes_of(limits["memory"]) if "memory" in limits else None
    w.event("Normal", "Created", f"Created container: {c.name}")
    if w.kl.pod_users.enabled:
        try:
            argv, env, cwd = as_pod_user(w, c, argv, env, cwd)
        except podusers.PodUserError as exc:
            _config_error(w, c, exc)
            return
    argv = sa_mod.wrap(argv, w.sa_dir)  # own mount namespace with the token (root)
    if w.kl.unshare and not podnet.host_network(w.pod):
        argv = podnet.with_hosts(w.sandbox / podnet.HOSTS_FILE, argv, w.kl.unshare)
    attempt = processes.start(w.sandbox / c.name, c.restart_count, argv, env, cwd, memory)
    w.container_started(c, attempt, env, cwd)


def as_pod_user(
    w: WorkerView, c: Container, argv: list[str], env: dict[str, str], cwd: Path
) -> tuple[list[str], dict[str, str], Path]:
    """The command run as the namespace's user (innermost, after the root-only wrappers)."""
    users = w.kl.pod_users
    problem = users.reachable()
    if problem is not None:
        raise podusers.PodUserError(problem)
    ident = users.identity(w.pod, c.spec)
    (w.sandbox / c.name).mkdir(parents=True, exist_ok=True)
    w.own_files()  # container directories made since the sandbox was prepared
    own = {e.get("name") for e in c.spec.get("env") or []}
    work = w.sandbox / "work"
    env = dict(env)
    if "HOME" not in own:
        env["HOME"] = str(work)  # the host user's HOME is not theirs
    if progress_reader.ENV not in own:
        env[progress_reader.ENV] = str(progress_reader.pod_user_progress_path(w.sandbox, c.name))
    if not c.spec.get("workingDir"):
        cwd = work  # the sandbox itself is root's: the pod may not write where root does
    return users.wrap(argv, ident), env, cwd
