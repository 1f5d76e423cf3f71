"""Pod Security admission, for what means something on one machine.

A namespace labelled ``pod-security.kubernetes.io/enforce: baseline`` or ``restricted`` refuses
(403, worded like kube-apiserver) new pods that ask for host access: ``hostPath`` volumes,
``privileged`` containers, ``hostNetwork``/``hostPID``/``hostIPC``, ``hostPort``s and added
Linux capabilities beyond the baseline list. ``privileged`` (or no label) allows everything.
The rest of ``restricted`` (runAsNonRoot, seccomp, dropping capabilities) describes container
runtime settings that local processes do not have, so it is not checked. The check runs for
every pod create, from kubectl or from a controller (a PyTorchJob's pods are refused too).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hyperpod.apiserver.errors import Forbidden
from hyperpod.apiserver.registry import Registry

ENFORCE = "pod-security.kubernetes.io/enforce"
VERSION = "pod-security.kubernetes.io/enforce-version"
LEVELS = ("privileged", "baseline", "restricted")
BASELINE_CAPS = {
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
}


def violations(pod: dict[str, Any]) -> list[str]:
    """What in ``pod`` the baseline level forbids, as kube words it."""
    spec = pod.get("spec") if isinstance(pod.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    out: list[str] = []
    hosts = [k for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k) is True]
    if hosts:
        out.append(f"host namespaces ({', '.join(f'{k}=true' for k in hosts)})")
    paths = [
        str(v.get("name", ""))
        for v in spec.get("volumes") or []
        if isinstance(v, dict) and "hostPath" in v
    ]
    if paths:
        vols = ", ".join(f'"{n}"' for n in paths)
        out.append(f"hostPath volumes (volumes {vols})")
    containers = [
        c
        for key in ("initContainers", "containers", "ephemeralContainers")
        for c in spec.get(key) or []
        if isinstance(c, dict)
    ]
    privileged = [c.get("name", "") for c in containers if _sc(c).get("privileged") is True]
    if privileged:
        names = ", ".join(f'"{n}"' for n in privileged)
        out.append(f"privileged (containers {names} must not set securityContext.privileged=true)")
    ports = [
        str(p.get("hostPort"))
        for c in containers
        for p in c.get("ports") or []
        if isinstance(p, dict) and p.get("hostPort")
    ]
    if ports:
        out.append(f"hostPort (hostPorts {', '.join(ports)})")
    caps = sorted(
        {
            str(cap)
            for c in containers
            for cap in ((_sc(c).get("capabilities") or {}).get("add") or [])
            if str(cap) not in BASELINE_CAPS
        }
    )
    if caps:
        out.append(f"non-default capabilities (capabilities {', '.join(caps)} must not be added)")
    return out


def _sc(container: dict[str, Any]) -> dict[str, Any]:
    sc = container.get("securityContext")
    return sc if isinstance(sc, dict) else {}


def validator(reg: Registry) -> Callable[[dict[str, Any], dict[str, Any] | None], list[Any]]:
    """The pods admission hook: raises Forbidden for a refused create, else no causes."""

    def validate(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Any]:
        if old is not None:
            return []  # a pod's host access cannot change after creation
        md = obj.get("metadata") or {}
        ns = reg.try_get("namespaces", str(md.get("namespace") or ""))
        labels = ((ns or {}).get("metadata") or {}).get("labels") or {}
        level = labels.get(ENFORCE)
        if level in (None, "privileged"):
            return []
        if level not in LEVELS:
            level = "restricted"  # an unknown level is read as the strictest
        found = violations(obj)
        if found:
            version = labels.get(VERSION) or "latest"
            name = md.get("name") or md.get("generateName") or ""
            raise Forbidden(
                f'pods "{name}" is forbidden: violates PodSecurity "{level}:{version}": '
                + ", ".join(found),
                name=name or None,
                kind="pods",
            )
        return []

    return validate
