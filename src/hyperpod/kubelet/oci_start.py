"""Starting one container attempt with the OCI runtime: image, spec, bundle, shim.

The process path lives in ``pods.py``; this is its counterpart for pods that run in real
containers (see ``oci.py`` for the runtime and ``images.py`` for the image store). Pull
failures become the waiting reasons a kubelet reports (``ErrImagePull``, ``ImagePullBackOff``,
``ErrImageNeverPull``) with the puller's message, retried with the container back-off.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from hyperpod.kubelet import cdi, oci, oci_cgroups, podnet, processes, progress_reader, pulling
from hyperpod.kubelet import devices as devmod
from hyperpod.kubelet import serviceaccount as sa_mod
from hyperpod.kubelet.env import EnvError, container_env
from hyperpod.kubelet.images import Image, ImageError
from hyperpod.kubelet.volumes import VolumeError, mounts_for

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


async def start(w: PodWorker, c: Container) -> None:
    """Start attempt ``c.restart_count`` of ``c`` in a container of its image."""
    if w.kl.default_runtime != "oci" and not w.kl.oci_probe.ok:
        message = f"the OCI runtime is not available on this node: {w.kl.oci_probe.reason}"
        if w.kl.runtime_setting == "process":
            message = (
                "the OCI runtime is not enabled on this node (cluster config runtime: process); "
                "set runtime: oci or auto, or drop the hyperpod.local/runtime annotation"
            )
        _wait(c, "CreateContainerError", message)
        w.event("Warning", "Failed", f"Error: {message}")
        c.next_start = time.monotonic() + 30.0
        return
    image = await _image(w, c)
    if image is None:
        return
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
        _wait(c, "CreateContainerConfigError", str(exc))
        w.event("Warning", "Failed", f"Error: {exc}")
        c.next_start = time.monotonic() + 5.0
        return
    if not args:
        w._start_error(c, "no command specified: the image has no Entrypoint or Cmd")
        return
    cdir = w.sandbox / c.name
    cdir.mkdir(parents=True, exist_ok=True)
    number = c.restart_count
    container_id = f"{w.uid}-{c.name}-{number}"
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
        return
    except oci_cgroups.LimitError as exc:
        _wait(c, "CreateContainerConfigError", str(exc))
        w.event("Warning", "Failed", f"Error: {exc}")
        c.next_start = time.monotonic() + 5.0
        return
    binds = [(m.mount_path, m.host_path, m.read_only) for m in mounts]
    if not any(e.get("name") == progress_reader.ENV for e in c.spec.get("env") or []):
        # hyperpod.progress.report() writes PROGRESS_DIR/progress.json (atomically, by a
        # rename in that directory); the kubelet reads it through <cdir>/progress.json.
        shared = cdir / "progress.d"
        shared.mkdir(exist_ok=True)
        link = progress_reader.progress_path(w.sandbox, c.name)
        if not link.is_symlink():
            link.unlink(missing_ok=True)
            link.symlink_to(f"progress.d/{progress_reader.FILE_NAME}")
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
        w._start_error(c, "runc is not installed on this node")
        return
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
        w._start_error(c, str(exc))
        return
    w.event("Normal", "Created", f"Created container: {c.name}")
    # The marker first: a kubelet restarted in the next instant must know runc owns it.
    oci.write_marker(cdir, number, bundle, cgroups.memory_dir)
    attempt = processes.start(cdir, number, bundle.argv(runc), dict(_RUNC_ENV), cdir)
    w._started(c, attempt, dict(item.split("=", 1) for item in spec["process"]["env"]), cdir)
