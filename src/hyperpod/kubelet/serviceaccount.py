"""A pod's ServiceAccount credentials and the in-cluster variables, as the kubelet gives them.

For every pod whose ``automountServiceAccountToken`` (pod, else its ServiceAccount, default
true) allows it, the kubelet writes ``token`` (a TokenRequest JWT bound to the pod, one hour,
renewed at 80 % of its life), ``ca.crt``, ``namespace`` and a ``kubeconfig`` that reads that
token into ``<data_dir>/pods/<uid>/serviceaccount/`` and sets ``KUBERNETES_SERVICE_HOST``
(127.0.0.1), ``KUBERNETES_SERVICE_PORT`` and ``KUBECONFIG`` (unless the pod sets it) in every
container, so ``kubernetes.config.load_incluster_config()``, ``load_config()`` and kubectl act
with the account's rights, and only those (never with the admin's ``~/.kube/config``).

The official clients read the files from the fixed path ``/var/run/secrets/kubernetes.io/
serviceaccount/``. When the kubelet runs as root (and ``unshare`` works) each container gets a
mount namespace of its own with that directory bind-mounted there, read-only. Otherwise the
path exists only through path substitution (written in command, args or env values it is
rewritten to the directory, see volumes.py) and ``HYPERPOD_SERVICEACCOUNT_DIR`` names the
directory; ``load_config()``/``load_kube_config()`` and kubectl still work through
``KUBECONFIG``, while ``load_incluster_config()`` (whose paths are constants of the client)
needs ``InClusterConfigLoader(token_filename=..., cert_filename=...)``.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from hyperpod.kubelet.volumes import Lookup, Mount, VolumeError

MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
EXPIRY = 3600
DIR_ENV = "HYPERPOD_SERVICEACCOUNT_DIR"


def automount(pod: dict[str, Any], sa: dict[str, Any]) -> bool:
    spec = pod.get("spec") or {}
    if isinstance(spec.get("automountServiceAccountToken"), bool):
        return bool(spec["automountServiceAccountToken"])
    if isinstance(sa.get("automountServiceAccountToken"), bool):
        return bool(sa["automountServiceAccountToken"])
    return True


def account_name(pod: dict[str, Any]) -> str:
    spec = pod.get("spec") or {}
    return str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")


def project(
    pod: dict[str, Any], sandbox: Path, data_dir: Path, lookup: Lookup, issuer: Any
) -> tuple[Path | None, float]:
    """Write the pod's token files; (directory or None when not mounted, seconds to renewal)."""
    md = pod.get("metadata") or {}
    ns = str(md.get("namespace", "default"))
    name = account_name(pod)
    if any(
        m.get("mountPath", "").rstrip("/") == MOUNT_PATH
        for c in _containers(pod)
        for m in c.get("volumeMounts") or []
    ):
        return None, 0.0  # the pod mounts something of its own there
    sa = lookup("serviceaccounts", ns, name)
    if sa is None:
        raise VolumeError(
            f'MountVolume.SetUp failed for volume "kube-api-access": serviceaccount "{name}" '
            f'not found in namespace "{ns}"',
            "ContainerCreating",
        )
    if not automount(pod, sa):
        return None, 0.0
    token, _ = issuer.issue(
        sa,
        expiration_seconds=EXPIRY,
        bound={"kind": "Pod", "name": md.get("name", ""), "uid": md.get("uid", "")},
    )
    out = sandbox / "serviceaccount"
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca = data_dir / "pki" / "ca.crt"
    files = {
        "token": token.encode(),
        "ca.crt": ca.read_bytes() if ca.exists() else b"",
        "namespace": ns.encode(),
    }
    port = _port(data_dir)
    files["kubeconfig"] = _kubeconfig(out, port, ns).encode()
    for fname, data in files.items():
        tmp = out / f".{fname}.tmp"
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if fname == "token" else 0o644
        )
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, out / fname)
    return out, EXPIRY * 0.8


def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod.get("spec") or {}
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]


def mount(directory: Path) -> Mount:
    return Mount(MOUNT_PATH, str(directory), True)


def _port(data_dir: Path) -> str:
    try:
        return (data_dir / "port").read_text().strip() or "6443"
    except OSError:
        return "6443"


def _kubeconfig(directory: Path, port: str, namespace: str) -> str:
    """A kubeconfig that reads the pod's (renewed) token file: kubectl and load_config() in a
    container act as the pod's ServiceAccount, never as whoever owns ~/.kube/config."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "local",
                    "cluster": {
                        "server": f"https://127.0.0.1:{port}",
                        "certificate-authority": str(directory / "ca.crt"),
                    },
                }
            ],
            "users": [{"name": "serviceaccount", "user": {"tokenFile": str(directory / "token")}}],
            "contexts": [
                {
                    "name": "in-cluster",
                    "context": {
                        "cluster": "local",
                        "user": "serviceaccount",
                        "namespace": namespace,
                    },
                }
            ],
            "current-context": "in-cluster",
        },
        indent=2,
    )


def incluster_env(data_dir: Path, directory: Path) -> dict[str, str]:
    """The variables Kubernetes gives every container for the ``kubernetes`` Service, plus
    ``KUBECONFIG`` naming the pod's own kubeconfig (see :func:`_kubeconfig`)."""
    port = _port(data_dir)
    return {
        "KUBECONFIG": str(directory / "kubeconfig"),
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "KUBERNETES_SERVICE_PORT": port,
        "KUBERNETES_SERVICE_PORT_HTTPS": port,
        "KUBERNETES_PORT": f"tcp://127.0.0.1:{port}",
        "KUBERNETES_PORT_443_TCP": f"tcp://127.0.0.1:{port}",
        "KUBERNETES_PORT_443_TCP_ADDR": "127.0.0.1",
        "KUBERNETES_PORT_443_TCP_PORT": port,
        "KUBERNETES_PORT_443_TCP_PROTO": "tcp",
        DIR_ENV: str(directory),
    }


@functools.cache
def mount_namespaces() -> bool:
    """Whether containers can get a private mount namespace (root and a working unshare)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    try:
        res = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "true"],
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    if res.returncode != 0:
        return False
    try:
        os.makedirs(MOUNT_PATH, exist_ok=True)  # the (empty) mount point on the host
    except OSError:
        return False
    return True


_SCRIPT = (
    'mount --bind "$0" ' + MOUNT_PATH + " && "
    "(mount -o remount,bind,ro " + MOUNT_PATH + ' 2>/dev/null || true) && exec "$@"'
)


def wrap(argv: list[str], directory: Path | None) -> list[str]:
    """``argv`` run in a mount namespace of its own that shows ``directory`` at MOUNT_PATH."""
    if directory is None or not mount_namespaces():
        return argv
    unshare = shutil.which("unshare") or "unshare"
    return [
        unshare,
        "--mount",
        "--propagation",
        "private",
        "--",
        "/bin/sh",
        "-c",
        _SCRIPT,
        str(directory),
        *argv,
    ]


def renew_at(seconds: float) -> float:
    return time.monotonic() + seconds
