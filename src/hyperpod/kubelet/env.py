"""A container's environment and command line, as the kubelet computes them.

Order of layers (later wins): the control plane's own environment (pods inherit the shell that
started the cluster: PATH, virtualenv), ``HOSTNAME`` = pod name, ``envFrom``, ``env`` (with
``$(VAR)`` expansion and ``valueFrom``), then the device plugin's variables. Afterwards values
and arguments are rewritten for the local machine: Service names of the pod's namespace
(``svc``, ``svc.ns``, ``svc.ns.svc``, ``svc.ns.svc.cluster.local``, optionally ``:port``) become
the Service's clusterIP (where ``services`` maps names to addresses and the Service has one;
the control plane's service proxy forwards it) or ``127.0.0.1`` (headless Services such as a
PyTorchJob's, whose pods listen on every address), and volume mount paths become host
directories (see ``kubelet.volumes``).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

from hyperpod.kubelet.downward import EnvError as EnvError
from hyperpod.kubelet.downward import resource_field_value
from hyperpod.kubelet.volumes import Lookup, Mount, VolumeError, field_value, mounts_env, substitute

_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: known names replaced, ``$$`` escapes, others kept."""

    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return env[name] if name in env else m.group(0)

    return _REF.sub(repl, text)


def _from_source(
    kind: str, ns: str, name: str, lookup: Lookup, optional: bool
) -> dict[str, str] | None:
    obj = lookup("secrets" if kind == "secret" else "configmaps", ns, name)
    if obj is None:
        if optional:
            return None
        raise EnvError(f'{kind} "{name}" not found')
    data: dict[str, str] = {}
    if kind == "secret":
        for k, v in (obj.get("data") or {}).items():
            data[k] = base64.b64decode(v).decode(errors="replace")
        data.update({k: str(v) for k, v in (obj.get("stringData") or {}).items()})
    else:
        data.update({k: str(v) for k, v in (obj.get("data") or {}).items()})
    return data


def _value_from(
    pod: Mapping[str, Any],
    container: str,
    src: Mapping[str, Any],
    lookup: Lookup,
    node_allocatable: Mapping[str, str] | None,
) -> str | None:
    ns = (pod.get("metadata") or {}).get("namespace", "default")
    if "fieldRef" in src:
        try:
            return field_value(pod, (src["fieldRef"] or {}).get("fieldPath", ""))
        except VolumeError as exc:
            raise EnvError(str(exc)) from exc
    if "resourceFieldRef" in src:
        return resource_field_value(pod, src["resourceFieldRef"] or {}, container, node_allocatable)
    for key, kind in (("configMapKeyRef", "configmap"), ("secretKeyRef", "secret")):
        if key in src:
            ref = src[key] or {}
            optional = bool(ref.get("optional"))
            data = _from_source(kind, ns, ref.get("name", ""), lookup, optional)
            if data is None:
                return None
            k = ref.get("key", "")
            if k not in data:
                if optional:
                    return None
                raise EnvError(
                    f"couldn't find key {k} in {kind.capitalize()} {ns}/{ref.get('name')}"
                )
            return data[k]
    raise EnvError("valueFrom needs fieldRef, resourceFieldRef, configMapKeyRef or secretKeyRef")


def _service_pattern(
    services: Mapping[str, Collection[str]], namespace: str
) -> re.Pattern[str] | None:
    alts = []
    for ns, names in services.items():
        for svc in names:
            qualified = rf"{re.escape(svc)}\.{re.escape(ns)}(?:\.svc(?:\.cluster\.local)?)?"
            alts.append(
                rf"{re.escape(svc)}(?:\.{re.escape(ns)}(?:\.svc(?:\.cluster\.local)?)?)?"
                if ns == namespace
                else qualified
            )
    if not alts:
        return None
    alts.sort(key=len, reverse=True)
    return re.compile(r"(?:(?<=^)|(?<=[=/@\s,]))(?:" + "|".join(alts) + r")(?=$|[:/\s,])")


def _target(
    services: Mapping[str, Collection[str]], namespace: str
) -> Callable[[re.Match[str]], str]:
    """The address a matched Service name becomes: its clusterIP where known, else loopback."""

    def repl(m: re.Match[str]) -> str:
        name, _, rest = m.group(0).partition(".")
        ns = rest.split(".", 1)[0] if rest else namespace
        names = services.get(ns)
        ip = names.get(name) if isinstance(names, Mapping) else None
        return str(ip) if ip and ip != "None" else "127.0.0.1"

    return repl


def rewrite_services(
    text: str,
    pattern: re.Pattern[str] | None,
    target: Callable[[re.Match[str]], str] | None = None,
) -> str:
    if pattern is None:
        return text
    return pattern.sub(target or "127.0.0.1", text)


def container_env(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    *,
    base: Mapping[str, str],
    lookup: Lookup,
    services: Mapping[str, Collection[str]] | None = None,
    mounts: list[Mount] | None = None,
    devices: Mapping[str, str] | None = None,
    node_allocatable: Mapping[str, str] | None = None,
) -> tuple[dict[str, str], list[str]]:
    """(environment, argv) for one container; raises EnvError for a missing ConfigMap/Secret."""
    meta = pod.get("metadata") or {}
    ns = meta.get("namespace", "default")
    name = container.get("name", "")
    defined: dict[str, str] = {}
    for src in container.get("envFrom") or []:
        prefix = src.get("prefix") or ""
        for key, kind in (("configMapRef", "configmap"), ("secretRef", "secret")):
            if key in src:
                ref = src[key] or {}
                data = _from_source(
                    kind, ns, ref.get("name", ""), lookup, bool(ref.get("optional"))
                )
                for k, v in (data or {}).items():
                    defined[prefix + k] = v
    for item in container.get("env") or []:
        key = item.get("name", "")
        if "valueFrom" in item:
            value = _value_from(pod, name, item["valueFrom"] or {}, lookup, node_allocatable)
            if value is None:
                continue
            defined[key] = value
        else:
            defined[key] = expand(str(item.get("value") or ""), defined)
    mounts = mounts or []
    pattern = _service_pattern(services or {}, ns)
    target = _target(services or {}, ns)
    env = dict(base)
    env["HOSTNAME"] = meta.get("name", "")
    for k, v in defined.items():
        env[k] = substitute(rewrite_services(v, pattern, target), mounts)
    if mounts:
        env["HYPERPOD_MOUNTS"] = mounts_env(mounts)
    env.update(devices or {})
    argv = [*(container.get("command") or []), *(container.get("args") or [])]
    argv = [
        substitute(rewrite_services(expand(str(a), defined), pattern, target), mounts) for a in argv
    ]
    return env, argv
