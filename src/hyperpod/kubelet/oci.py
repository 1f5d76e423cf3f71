"""The OCI container runtime: a container from its image, run by ``runc`` with our own spec.

Like containerd and CRI-O, the kubelet writes the OCI runtime spec itself (``config.json`` in
a bundle per attempt) and asks ``runc run`` to start it in the foreground under the usual
container shim, so logs, exit codes, restarts and re-adoption after a control-plane restart
work exactly as for process containers. The spec sets no rlimits (machines without
CAP_SYS_RESOURCE refuse them) and no network namespace: pods share the node's network as
process pods do, so Services and ``MASTER_ADDR`` behave the same for both.

The root filesystem is an overlay of the image's unpacked rootfs (read-only, shared) and a
writable upper directory in the attempt's bundle, mounted before the attempt starts and
unmounted when it ends (:func:`release`).

Which runtime a pod gets: the annotation ``hyperpod.local/runtime: process|oci`` on the pod,
else the node's ``kubelet.runtime`` (``process`` | ``oci`` | ``auto``; auto = oci when
:func:`probe` can start a container here).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperpod.kubelet import oci_cgroups
from hyperpod.kubelet.images import Image

RUNTIME_ANNOTATION = "hyperpod.local/runtime"
RUNTIMES = ("process", "oci", "auto")
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_MARKER = "oci"  # <attempt>.oci: the runc root and container id of an attempt


class OciError(Exception):
    """A container the OCI runtime cannot start; the message names the cause."""


@dataclass(frozen=True)
class Probe:
    """What this machine allows: whether an OCI container can start, and why not."""

    ok: bool
    runtime: str  # e.g. "runc 1.1.5"
    reason: str


def runc_binary() -> str | None:
    return shutil.which("runc")


def runc_version(runc: str) -> str:
    try:
        out = subprocess.run([runc, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "runc"
    first = (out.stdout.splitlines() or ["runc"])[0]
    return first.replace(" version ", " ").strip()


def probe(work_dir: Path) -> Probe:
    """Start a throw-away container (a static busybox when there is one) to see if runc works."""
    runc = runc_binary()
    if runc is None:
        return Probe(False, "", "runc is not installed (apt-get install runc)")
    version = runc_version(runc)
    if os.geteuid() != 0:
        return Probe(False, version, "the OCI runtime needs root here (rootless is not set up)")
    busybox = next(
        (p for p in ("/usr/bin/busybox", "/bin/busybox") if Path(p).is_file()),
        None,
    )
    if busybox is None:
        return Probe(True, version, "runc found; not probed (no static busybox to run)")
    bundle = work_dir / "probe"
    shutil.rmtree(bundle, ignore_errors=True)
    (bundle / "rootfs" / "bin").mkdir(parents=True)
    shutil.copy2(busybox, bundle / "rootfs" / "bin" / "busybox")
    spec = runtime_spec(["/bin/busybox", "true"], [f"PATH={_PATH}"], "/", [], hostname="probe")
    spec["root"] = {"path": "rootfs", "readonly": True}
    (bundle / "config.json").write_text(json.dumps(spec))
    cid = f"hyperpod-probe-{os.getpid()}"
    try:
        done = subprocess.run(
            [runc, "--root", str(work_dir / "runc"), "run", "--bundle", str(bundle), cid],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Probe(False, version, f"runc could not start a container: {exc}")
    finally:
        shutil.rmtree(bundle, ignore_errors=True)
    if done.returncode != 0:
        why = (done.stderr or done.stdout).strip().splitlines()
        return Probe(
            False, version, "runc could not start a container: " + (why[-1] if why else "?")
        )
    return Probe(True, version, "runc started a probe container")


# ---------------------------------------------------------------------- the spec
def _mount(dest: str, source: str, type_: str, options: Sequence[str]) -> dict[str, Any]:
    return {"destination": dest, "type": type_, "source": source, "options": list(options)}


def _base_mounts() -> list[dict[str, Any]]:
    return [
        _mount("/proc", "proc", "proc", []),
        _mount("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
        _mount(
            "/dev/pts",
            "devpts",
            "devpts",
            ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
        ),
        _mount(
            "/dev/shm", "shm", "tmpfs", ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]
        ),
        _mount("/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
        _mount("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", "ro"]),
    ]


def runtime_spec(
    args: list[str],
    env: list[str],
    cwd: str,
    binds: list[tuple[str, str, bool]],
    *,
    hostname: str,
    uid: int = 0,
    gid: int = 0,
    resources: dict[str, Any] | None = None,
    cgroups_path: str = "",
) -> dict[str, Any]:
    """An OCI runtime spec (1.0) for one container; ``binds`` are (container, host, read-only)."""
    mounts = _base_mounts()
    for dest, source, read_only in binds:
        mounts.append(_mount(dest, source, "bind", ["rbind", "ro" if read_only else "rw"]))
    linux: dict[str, Any] = {
        "namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount")],
        "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
        "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    }
    if resources:
        linux["resources"] = dict(resources)
    if cgroups_path:
        linux["cgroupsPath"] = cgroups_path
    caps = [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETPCAP",
        "CAP_SYS_CHROOT",
        "CAP_AUDIT_WRITE",
    ]
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": uid, "gid": gid},
            "args": args,
            "env": env,
            "cwd": cwd or "/",
            "capabilities": {k: caps for k in ("bounding", "effective", "permitted")},
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": False},
        "hostname": hostname,
        "mounts": mounts,
        "linux": linux,
    }


def command_line(image: Image, spec: dict[str, Any], argv: list[str]) -> list[str]:
    """Kubernetes' rule: ``command`` replaces the Entrypoint, ``args`` replaces the Cmd.

    ``argv`` is the container's command and args after ``$(VAR)`` expansion.
    """
    command, args = spec.get("command"), spec.get("args")
    if command:
        return argv
    if args:
        return [*image.entrypoint, *argv]
    return [*image.entrypoint, *image.cmd]


def merged_env(image: Image, env: dict[str, str]) -> list[str]:
    """The image's Env, then the pod's (the pod wins), as ``KEY=value``."""
    out: dict[str, str] = {}
    for item in image.env:
        key, sep, value = item.partition("=")
        if sep:
            out[key] = value
    out.setdefault("PATH", _PATH)
    out.update(env)
    return [f"{k}={v}" for k, v in out.items()]


def user_of(image: Image, container: dict[str, Any], pod_spec: dict[str, Any]) -> tuple[int, int]:
    """runAsUser/runAsGroup (container, then pod), else the image's numeric ``User``."""
    ctx = {**(pod_spec.get("securityContext") or {}), **(container.get("securityContext") or {})}
    uid, gid = ctx.get("runAsUser"), ctx.get("runAsGroup")
    if uid is None and image.user:
        name, _, group = image.user.partition(":")
        if not name.isdigit() or (group and not group.isdigit()):
            raise OciError(
                f"image user {image.user!r} is not numeric: set securityContext.runAsUser"
            )
        uid = int(name)
        gid = int(group) if group else gid
    return int(uid or 0), int(gid if gid is not None else (uid or 0))


# ---------------------------------------------------------------------- bundles
@dataclass(frozen=True)
class Bundle:
    path: Path
    container_id: str
    root: Path  # runc's state directory

    def argv(self, runc: str) -> list[str]:
        return [
            runc,
            "--root",
            str(self.root),
            "run",
            "--bundle",
            str(self.path),
            self.container_id,
        ]


def prepare(
    bundle_dir: Path,
    container_id: str,
    runc_root: Path,
    image: Image,
    spec: dict[str, Any],
) -> Bundle:
    """Mount the overlay root filesystem and write ``config.json`` for one attempt."""
    release(bundle_dir)
    shutil.rmtree(bundle_dir, ignore_errors=True)
    for sub in ("upper", "work", "rootfs"):
        (bundle_dir / sub).mkdir(parents=True, exist_ok=True)
    options = (
        f"lowerdir={image.rootfs},upperdir={bundle_dir / 'upper'},workdir={bundle_dir / 'work'}"
    )
    done = subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", options, str(bundle_dir / "rootfs")],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise OciError(f"cannot mount the container's root filesystem: {done.stderr.strip()}")
    (bundle_dir / "config.json").write_text(json.dumps(spec, indent=1))
    return Bundle(bundle_dir, container_id, runc_root)


def release(bundle_dir: Path) -> None:
    """Unmount an attempt's root filesystem (idempotent)."""
    rootfs = bundle_dir / "rootfs"
    if os.path.ismount(rootfs):
        subprocess.run(["umount", "-l", str(rootfs)], capture_output=True)


def release_all(sandbox: Path) -> None:
    """Unmount every attempt root filesystem under a pod sandbox (before removing it)."""
    if not sandbox.is_dir():
        return
    for found in sandbox.glob(f"*/*.{_MARKER}"):
        with contextlib.suppress(ValueError):
            release_attempt(found.parent, int(found.stem))


def write_marker(container_dir: Path, number: int, bundle: Bundle, memory_dir: str = "") -> None:
    data = {"root": str(bundle.root), "id": bundle.container_id, "bundle": str(bundle.path)}
    if memory_dir:
        data["memory"] = memory_dir  # the cgroup holding its memory limit (oci_cgroups.py)
    (container_dir / f"{number}.{_MARKER}").write_text(json.dumps(data))


def marker(container_dir: Path, number: int) -> dict[str, str] | None:
    """The runc root and container id of an attempt run by the OCI runtime, else None."""
    try:
        data = json.loads((container_dir / f"{number}.{_MARKER}").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def kill(info: dict[str, str], sig: int) -> bool:
    """Signal the container's init (runc forwards SIGTERM itself; SIGKILL needs this)."""
    runc = runc_binary()
    if runc is None:
        return False
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        done = subprocess.run(
            [runc, "--root", info["root"], "kill", "--all", info["id"], str(sig)],
            capture_output=True,
            timeout=10,
        )
        return done.returncode == 0
    return False


def exec_argv(info: dict[str, str], command: list[str], *, tty: bool) -> list[str]:
    """``runc exec`` of a command in a running container, with its spec's env and cwd."""
    runc = runc_binary() or "runc"
    del tty  # the exec's terminal is ours (a pty as its stdio), not runc's console socket
    return [runc, "--root", info["root"], "exec", info["id"], *command]


def release_attempt(container_dir: Path, number: int) -> bool:
    """After an OCI attempt ends: unmount its root filesystem, drop runc's state and cgroups.

    Returns whether the container ran into its memory limit (see oci_cgroups.py).
    """
    info = marker(container_dir, number)
    if info is None:
        return False
    hit = oci_cgroups.hit_memory_limit(info.get("memory", ""))
    release(Path(info.get("bundle") or container_dir / f"{number}.bundle"))
    runc = runc_binary()
    if runc is not None:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run(
                [runc, "--root", info["root"], "delete", "--force", info["id"]],
                capture_output=True,
                timeout=10,
            )
    oci_cgroups.cleanup(info["id"])
    return hit


def is_running(info: dict[str, str]) -> bool:
    """Whether runc has the container started (it lags the shim's record by a moment)."""
    runc = runc_binary()
    if runc is None:
        return False
    try:
        done = subprocess.run(
            [runc, "--root", info["root"], "state", info["id"]],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return done.returncode == 0 and json.loads(done.stdout).get("status") == "running"
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return False
