"""Starting one container attempt with the OCI runtime: image, spec, bundle, shim.

The process path lives in ``process_start.py``; this is its counterpart for pods that run in real
containers (see ``oci.py`` for the runtime and ``images.py`` for the image store). Pull
failures become the waiting reasons a kubelet reports (``ErrImagePull``, ``ImagePullBackOff``,
``ErrImageNeverPull``) with the puller's message, retried with the container back-off.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hyperpod.kubelet import cdi, oci, oci_cgroups, podnet, processes, progress_reader, pulling
from hyperpod.kubelet import devices as devmod
from hyperpod.kubelet import serviceaccount as sa_mod
from hyperpod.kubelet.env import EnvError, container_env
from hyperpod.kubelet.images import Image, ImageError
from hyperpod.kubelet.volumes import Mount, VolumeError, mounts_for

if TYPE_CHECKING:
    from hyperpod.kubelet.container import Container
    from hyperpod.kubelet.host import WorkerView as PodWorker

PROGRESS_DIR = "/run/hyperpod"  # where a container finds its progress file (bind-mounted)
PULL_BACKOFF_S = (5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0)
# The shim needs nothing of the node's environment to run runc.
_RUNC_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}


def _wait(c: Container, reason: str, message: str) -> None:
    c.state = {"waiting": {"reason": reason, "message": message}}


async def _image(w: PodWorker, c: Container) -> Image | None:
    """The container's image, pulled per its policy; None (with a waiting reason) if absent."""
    ref = str(c.spec.get("image") or "")
    if not ref:
        _wait(c, "InvalidImageName", "the container has no image")
        return None
    store = w.kl.images
    try:
        present = store.get(ref)
    except ImageError as exc:
        _wait(c, "InvalidImageName", str(exc))
        return None
    policy = pulling.pull_policy(c.spec)
    if policy == "Never" or (policy == "IfNotPresent" and present is not None):
        if present is None:
            message = f'Container image "{ref}" is not present with pull policy of Never'
            _wait(c, "ErrImageNeverPull", message)
            w.event("Warning", "ErrImageNeverPull", message)
            c.next_start = time.monotonic() + PULL_BACKOFF_S[0]
            return None
        if not c.pulled:
            c.pulled = True
            w.event("Normal", "Pulled", f'Container image "{ref}" already present on machine')
        return present
    w.event("Normal", "Pulling", f'Pulling image "{ref}"')
    started = time.monotonic()
    creds = pulling.credentials(w.pod, ref, w.kl.lookup)
    try:
        image = await asyncio.to_thread(store.pull, ref, creds)
    except ImageError as exc:
        message = str(exc)
        if present is not None:
            message += " (the image is on this node: imagePullPolicy IfNotPresent would use it)"
        step = min(c.backoff_step, len(PULL_BACKOFF_S) - 1)
        reason = "ErrImagePull" if c.backoff_step == 0 else "ImagePullBackOff"
        c.backoff_step += 1
        _wait(c, reason, message)
        w.event("Warning", "Failed", f'Failed to pull image "{ref}": {message}')
        w.event("Warning", "Failed", f"Error: {reason}")
        c.next_start = time.monotonic() + PULL_BACKOFF_S[step]
        return None
    c.pulled = True
    took = time.monotonic() - started
    w.event("Normal", "Pulled", f'Successfully pulled image "{ref}" in {took:.3f}s')
    return image


def _runtime_missing(w: PodWorker, c: Container) -> bool:
    """True (with a waiting reason) when this node cannot run OCI containers."""
    if w.kl.default_runtime == "oci" or w.kl.oci_probe.ok:
        return False
    message = f"the OCI runtime is not available on this node: {w.kl.oci_probe.reason}"
    if w.kl.runtime_setting == "process":
        message = (
            "the OCI runtime is not enabled on this node (cluster config runtime: process); "
            "set runtime: oci or auto, or drop the hyperpod.local/runtime annotation"
        )
    _wait(c, "CreateContainerError", message)
    w.event("Warning", "Failed", f"Error: {message}")
    c.next_start = time.monotonic() + 30.0
    return True


def _config_error(w: PodWorker, c: Container, exc: Exception) -> None:
    """CreateContainerConfigError, retried in 5 s."""
    _wait(c, "CreateContainerConfigError", str(exc))
    w.event("Warning", "Failed", f"Error: {exc}")
    c.next_start = time.monotonic() + 5.0


def _command(
    w: PodWorker, c: Container, image: Image
) -> tuple[list[Mount], dict[str, str], list[str], int, int] | None:
    """Mounts, environment, command line, uid and gid; None (and waiting) if they cannot be."""
    pod_spec = w.pod.get("spec") or {}
    ns = w.pod["metadata"]["namespace"]
    try:
        w.ip = w.kl.pod_address(w)  # the pod IP and its hosts file (kubelet/podnet.py)
        mounts = mounts_for(c.spec, w.volumes)
        env, argv = container_env(
            w.downward_pod(),
            c.spec,
            base={},
            lookup=w.kl.lookup,
            services={ns: w.kl.service_addresses(ns)},
            devices=devmod.device_env(w.allocation.get(c.name, {}), w.kl.devices),
            node_allocatable=w.kl.allocatable,
        )
        args = oci.command_line(image, c.spec, argv)
        uid, gid = oci.user_of(image, c.spec, pod_spec)
    except (EnvError, VolumeError, oci.OciError) as exc:
        _config_error(w, c, exc)
        return None
    return mounts, env, args, uid, gid


def _limits(
    w: PodWorker, c: Container, env: dict[str, str]
) -> tuple[oci_cgroups.Limits, cdi.Edits | None] | None:
    """The cgroup limits and the CDI edits for the container's GPUs (numbered from 0 in
    ``env``); None (and waiting) when they cannot be had."""
    gpus = w.allocation.get(c.name, {}).get(cdi.GPU_KIND, [])
    try:
        limits = oci_cgroups.limits_for(c.spec, w.pod)
        edits = None
        if gpus:
            index = {d.id: d.index for d in w.kl.devices.get(cdi.GPU_KIND, [])}
            edits = cdi.edits_for(gpus, index)
            # The container sees only its GPUs, numbered from 0 as CUDA enumerates them.
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in range(len(gpus)))
    except cdi.CdiError as exc:
        _wait(c, "CreateContainerError", str(exc))
        w.event("Warning", "GPUsUnavailable", str(exc))
        c.next_start = time.monotonic() + 30.0
        return None
    except oci_cgroups.LimitError as exc:
        _config_error(w, c, exc)
        return None
    return limits, edits


def _binds(
    w: PodWorker, c: Container, cdir: Path, mounts: list[Mount], env: dict[str, str]
) -> list[tuple[str, str, bool]]:
    """Bind mounts: volumes, the progress directory, /etc/hosts and the ServiceAccount token
    (with the in-cluster variables added to ``env``)."""
    binds = [(m.mount_path, m.host_path, m.read_only) for m in mounts]
    if not any(e.get("name") == progress_reader.ENV for e in c.spec.get("env") or []):
        # hyperpod.progress.report() writes PROGRESS_DIR/progress.json (atomically, by a
        # rename in that directory); the kubelet reads <cdir>/progress.d/progress.json.
        shared = progress_reader.container_progress_dir(w.sandbox, c.name)
        shared.mkdir(exist_ok=True)
        binds.append((PROGRESS_DIR, str(shared), False))
        env[progress_reader.ENV] = f"{PROGRESS_DIR}/{progress_reader.FILE_NAME}"
    hosts = w.sandbox / podnet.HOSTS_FILE
    if hosts.is_file() and not podnet.host_network(w.pod):
        binds.append(("/etc/hosts", str(hosts), True))  # Service names resolve in the container
    if w.sa_dir is not None:
        # The ServiceAccount's token, ca.crt and namespace where in-cluster clients look.
        token = sa_mod.mount(w.sa_dir)
        binds.append((token.mount_path, token.host_path, True))
        for key, value in sa_mod.incluster_env(w.kl.data_dir, w.sa_dir).items():
            if key.startswith("KUBERNETES_"):  # the others name host paths
                env.setdefault(key, value)
    return binds


def _bundle(
    w: PodWorker,
    c: Container,
    spec: dict[str, Any],
    edits: cdi.Edits | None,
    limits: oci_cgroups.Limits,
    number: int,
    image: Image,
) -> tuple[oci.Bundle, oci_cgroups.Setup] | None:
    """The runc bundle in its cgroup; None (the start failed) when it cannot be made."""
    cdir = w.sandbox / c.name
    container_id = f"{w.uid}-{c.name}-{number}"
    try:
        if edits is not None:
            cdi.apply(spec, edits)
        cgroups = oci_cgroups.setup(container_id, limits)
        spec["linux"]["cgroupsPath"] = cgroups.cgroups_path
        if cgroups.resources:
            resources = spec["linux"].setdefault("resources", {})
            resources.update(cgroups.resources)
        bundle = oci.prepare(
            cdir / f"{number}.bundle", container_id, w.kl.data_dir / "runc", image, spec
        )
    except (oci.OciError, cdi.CdiError, oci_cgroups.LimitError) as exc:
        oci_cgroups.cleanup(container_id)
        w.start_error(c, str(exc))
        return None
    return bundle, cgroups


async def start(w: PodWorker, c: Container) -> None:
    """Start attempt ``c.restart_count`` of ``c`` in a container of its image."""
    if _runtime_missing(w, c):
        return
    image = await _image(w, c)
    if image is None:
        return
    command = _command(w, c, image)
    if command is None:
        return
    mounts, env, args, uid, gid = command
    if not args:
        w.start_error(c, "no command specified: the image has no Entrypoint or Cmd")
        return
    cdir = w.sandbox / c.name
    cdir.mkdir(parents=True, exist_ok=True)
    number = c.restart_count
    limited = _limits(w, c, env)
    if limited is None:
        return
    limits, edits = limited
    binds = _binds(w, c, cdir, mounts, env)
    cwd = str(c.spec.get("workingDir") or image.working_dir or "/")
    spec = oci.runtime_spec(
        args,
        oci.merged_env(image, env),
        cwd,
        binds,
        hostname=str(w.pod["metadata"]["name"])[:63],
        uid=uid,
        gid=gid,
    )
    runc = oci.runc_binary()
    if runc is None:
        w.start_error(c, "runc is not installed on this node")
        return
    made = _bundle(w, c, spec, edits, limits, number, image)
    if made is None:
        return
    bundle, cgroups = made
    w.event("Normal", "Created", f"Created container: {c.name}")
    # The marker first: a kubelet restarted in the next instant must know runc owns it.
    oci.write_marker(cdir, number, bundle, cgroups.memory_dir)
    attempt = processes.start(cdir, number, bundle.argv(runc), dict(_RUNC_ENV), cdir)
    w.container_started(
        c, attempt, dict(item.split("=", 1) for item in spec["process"]["env"]), cdir
    )
