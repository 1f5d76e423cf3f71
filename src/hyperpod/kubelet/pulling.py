"""Image pull policy and pull secrets, as the kubelet applies them before an OCI container.

``imagePullPolicy`` defaults like Kubernetes: ``Always`` for ``:latest`` or an untagged
image, else ``IfNotPresent``. ``Never`` uses only what is on the node. Credentials come from
the pod's ``imagePullSecrets`` (``kubernetes.io/dockerconfigjson`` or ``dockercfg``), matched
on the registry host.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any

from hyperpod.kubelet.images import normalize

Lookup = Callable[[str, str, str], dict[str, Any] | None]  # (resource, namespace, name)


def pull_policy(container: Mapping[str, Any]) -> str:
    policy = container.get("imagePullPolicy")
    if policy in ("Always", "IfNotPresent", "Never"):
        return str(policy)
    image = str(container.get("image") or "")
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.partition(":")[2]
    return "Always" if not tag or tag == "latest" else "IfNotPresent"


def registry_of(ref: str) -> str:
    return normalize(ref).split("/", 1)[0]


def _auths(secret: Mapping[str, Any]) -> dict[str, Any]:
    data = secret.get("data") or {}
    for key in (".dockerconfigjson", ".dockercfg"):
        if key in data:
            try:
                doc = json.loads(base64.b64decode(data[key]))
            except (ValueError, TypeError):
                return {}
            if not isinstance(doc, dict):
                return {}
            auths = doc.get("auths", doc) if key == ".dockerconfigjson" else doc
            return auths if isinstance(auths, dict) else {}
    return {}


def _host(key: str) -> str:
    key = key.removeprefix("https://").removeprefix("http://")
    host = key.split("/", 1)[0]
    return "docker.io" if host in ("index.docker.io", "registry-1.docker.io") else host


def credentials(pod: Mapping[str, Any], ref: str, lookup: Lookup) -> tuple[str, str] | None:
    """(user, password) for the image's registry from the pod's pull secrets, if any."""
    ns = (pod.get("metadata") or {}).get("namespace", "default")
    want = registry_of(ref)
    for item in (pod.get("spec") or {}).get("imagePullSecrets") or []:
        name = (item or {}).get("name") if isinstance(item, dict) else None
        secret = lookup("secrets", ns, str(name)) if name else None
        if not secret:
            continue
        for key, entry in _auths(secret).items():
            if _host(str(key)) != want or not isinstance(entry, dict):
                continue
            if entry.get("username") is not None:
                return str(entry["username"]), str(entry.get("password") or "")
            if entry.get("auth"):
                try:
                    user, _, pw = base64.b64decode(entry["auth"]).decode().partition(":")
                except (ValueError, UnicodeDecodeError):
                    continue
                return user, pw
    return None
