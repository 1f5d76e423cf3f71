"""Pod addresses on one machine: each pod gets its own loopback address as its pod IP.

Pods run as processes of this machine and share its network namespace, so a pod's address is
one of 127.0.0.0/8 (every address there reaches the loopback interface on Linux with no
configuration): ``kubelet.podIPRange``, default ``127.112.0.0/12``, clear of the service range
(127.96.0.0/16) and of 127.0.0.1. An app that binds ``$(POD_IP)`` (the downward API's
``status.podIP``) can run as several replicas on the same containerPort; an app that binds
0.0.0.0 on a fixed port still collides with its other replicas, as on a host-network pod.
``hostNetwork: true`` pods keep 127.0.0.1.

The address is written to the pod's sandbox (``<data_dir>/pods/<uid>/pod-ip``), so a control
plane restart keeps it, and is free again when the sandbox goes with the pod. The kubelet also
writes ``<sandbox>/hosts``: the machine's own ``/etc/hosts`` lines, then the pod's name and the
Services' names with their clusterIPs. Where the kubelet may make mount namespaces (root with
``unshare``; probed once, ``kubelet.podHostsFile: auto|off``), a process container starts as
``unshare --mount sh -c 'mount --bind <sandbox>/hosts /etc/hosts; exec "$@"' ...``: the
process (same pid, its process group unchanged) sees that file as ``/etc/hosts`` in a mount
namespace of its own, so ``getaddrinfo("svc.ns.svc.cluster.local")`` answers the clusterIP. The
host's ``/etc/hosts`` is never touched.
"""

from __future__ import annotations

import contextlib
import ipaddress
import shlex
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

DEFAULT_RANGE = "127.112.0.0/12"
IP_FILE = "pod-ip"
HOSTS_FILE = "hosts"
LOOPBACK = "127.0.0.1"


class PodAddresses:
    """Allocates pod IPs from a range inside 127.0.0.0/8; the sandboxes are the record."""

    def __init__(self, pods_dir: Path, cidr: str = DEFAULT_RANGE) -> None:
        net = ipaddress.ip_network(cidr, strict=False)
        loopback = ipaddress.IPv4Network("127.0.0.0/8")
        if not isinstance(net, ipaddress.IPv4Network) or not net.subnet_of(loopback):
            raise ValueError(f"kubelet.podIPRange {cidr!r} must lie inside 127.0.0.0/8")
        if ipaddress.ip_address(LOOPBACK) in net:
            raise ValueError(f"kubelet.podIPRange {cidr!r} must not contain 127.0.0.1")
        self.net = net
        self.pods_dir = pods_dir
        self.by_uid: dict[str, str] = {}
        self._loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if not self.pods_dir.is_dir():
            return
        for sandbox in self.pods_dir.iterdir():
            with contextlib.suppress(OSError):
                ip = (sandbox / IP_FILE).read_text().strip()
                if ip:
                    self.by_uid[sandbox.name] = ip

    def _candidates(self) -> Iterable[str]:
        for addr in self.net.hosts():
            last = int(addr) & 0xFF
            if last not in (0, 255):  # keep addresses that look like hosts
                yield str(addr)

    def ensure(self, uid: str, sandbox: Path) -> str:
        """The pod's address: the one it has, or the lowest free one (recorded in the sandbox)."""
        self._load()
        if uid in self.by_uid:
            return self.by_uid[uid]
        with contextlib.suppress(OSError):
            ip = (sandbox / IP_FILE).read_text().strip()
            if ip:
                self.by_uid[uid] = ip
                return ip
        used = set(self.by_uid.values())
        for ip in self._candidates():
            if ip not in used:
                sandbox.mkdir(parents=True, exist_ok=True)
                (sandbox / IP_FILE).write_text(ip + "\n")
                self.by_uid[uid] = ip
                return ip
        raise RuntimeError(f"pod IP range {self.net} is exhausted")

    def release(self, uid: str) -> None:
        self.by_uid.pop(uid, None)


def host_network(pod: Mapping[str, Any]) -> bool:
    return bool((pod.get("spec") or {}).get("hostNetwork"))


def with_hosts(hosts: Path, argv: list[str], wrapper: list[str]) -> list[str]:
    """``argv`` started in a mount namespace of its own, where ``hosts`` is ``/etc/hosts``.

    ``wrapper`` comes from :func:`probe_hosts_mount`.
    """
    return [*wrapper, str(hosts), *argv]


def _wrapper(unshare: str, mount: str) -> list[str]:
    script = f'{shlex.quote(mount)} --bind "$0" /etc/hosts 2>/dev/null; exec "$@"'
    return [unshare, "--mount", "--propagation", "private", "/bin/sh", "-c", script]


def probe_hosts_mount(work: Path) -> list[str] | None:
    """The command prefix that gives a process its own ``/etc/hosts``, if a probe saw it work."""
    unshare, mount = shutil.which("unshare"), shutil.which("mount")
    if unshare is None or mount is None or not Path("/bin/sh").exists():
        return None
    wrapper = _wrapper(unshare, mount)
    work.mkdir(parents=True, exist_ok=True)
    probe = work / "hosts-probe"
    probe.write_text("127.0.0.1\thyperpod-hosts-probe\n")
    check = ["/bin/sh", "-c", "grep -q hyperpod-hosts-probe /etc/hosts"]
    try:
        done = subprocess.run(with_hosts(probe, check, wrapper), capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return wrapper if done.returncode == 0 else None


def host_lines(path: Path = Path("/etc/hosts")) -> str:
    """The machine's own hosts file, kept at the top of every pod's (its host name included)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return text if text.endswith("\n") or not text else text + "\n"


def hosts_text(
    pod: Mapping[str, Any],
    pod_ip: str,
    services: Mapping[str, Mapping[str, str]],
    base: str = "",
) -> str:
    """``/etc/hosts`` lines for a pod: itself, then every Service with a clusterIP.

    ``services`` is namespace -> {name: clusterIP}; headless Services (``None``) are left out.
    Names of the pod's own namespace are listed short too, like the cluster DNS search path.
    """
    md = pod.get("metadata") or {}
    ns = str(md.get("namespace") or "default")
    spec = pod.get("spec") or {}
    own = [str(spec.get("hostname") or md.get("name") or "")]
    lines = [
        *base.splitlines(),
        "# Kubernetes-managed hosts file (written by the hyperpod kubelet).",
        f"{LOOPBACK}\tlocalhost",
        f"{pod_ip}\t{' '.join(n for n in own if n)}",
    ]
    for alias in spec.get("hostAliases") or []:
        names = " ".join(str(h) for h in alias.get("hostnames") or [])
        if alias.get("ip") and names:
            lines.append(f"{alias['ip']}\t{names}")
    for svc_ns in sorted(services):
        for name, ip in sorted(services[svc_ns].items()):
            if not ip or ip == "None":
                continue
            fq = f"{name}.{svc_ns}"
            aliases = [name] if svc_ns == ns else []
            aliases += [fq, f"{fq}.svc", f"{fq}.svc.cluster.local"]
            lines.append(f"{ip}\t{' '.join(aliases)}")
    return "\n".join(lines) + "\n"
