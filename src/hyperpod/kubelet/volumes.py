"""Pod volumes on the host filesystem, and how a ``mountPath`` becomes visible to a process.

Processes share the host filesystem, so nothing is mounted. Each volume is a real directory:

- ``emptyDir``: ``<data_dir>/pods/<uid>/volumes/<name>/`` (removed with the pod sandbox);
- ``hostPath``: the path itself (created for types ``""``, ``DirectoryOrCreate`` and
  ``FileOrCreate``; checked for ``Directory``, ``File`` and the others);
- ``configMap`` / ``secret`` / ``downwardAPI``: files written into
  ``<data_dir>/pods/<uid>/volumes/<name>/`` (keys or ``items[].path``, ``defaultMode``);
- ``persistentVolumeClaim``: the ``hostPath``/``local`` directory of the PersistentVolume
  bound to the claim (provisioned under ``<data_dir>/storage/``; a pre-PVC data directory
  ``<data_dir>/volumes/<namespace>/<claimName>/`` is adopted by the provisioner), which outlives
  the pod, so checkpoints survive a job restart. An unbound or missing claim keeps the pod
  waiting (``ContainerCreating``) with the reason in the message.

A container sees a volume through **path substitution**: every ``volumeMounts[].mountPath``
(plus ``subPath``) that appears in ``command``, ``args``, ``workingDir`` or an env value — at the
start of the string or after ``=``, ``:``, a space or a quote, and followed by the end, ``/`` or
a separator — is replaced by the directory above, longest mount first. So
``--checkpoint-dir=/checkpoints/run1`` and ``CONFIG=/etc/app/config.yaml`` work unchanged.
``HYPERPOD_MOUNTS`` lists the mapping (``mountPath=hostDir`` joined by ``:``) for programs that
build paths themselves. Paths hard-coded inside a program are not rewritten.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperpod.kubelet.downward import resource_field_value

Lookup = Callable[[str, str, str], dict[str, Any] | None]  # (resource, namespace, name)

SUPPORTED = ("emptyDir", "hostPath", "configMap", "secret", "downwardAPI", "persistentVolumeClaim")


class VolumeError(Exception):
    """A volume that cannot be prepared; ``reason`` is the container waiting reason."""

    def __init__(self, message: str, reason: str = "CreateContainerConfigError") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Mount:
    mount_path: str
    host_path: str
    read_only: bool = False


def _write_files(target: Path, files: Mapping[str, bytes], mode: int) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        path = target / rel
        if ".." in Path(rel).parts or Path(rel).is_absolute():
            raise VolumeError(f"invalid path {rel!r} in volume items")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)


def _select_items(
    data: Mapping[str, bytes], items: list[dict[str, Any]] | None, what: str
) -> dict[str, bytes]:
    if not items:
        return dict(data)
    out: dict[str, bytes] = {}
    for item in items:
        key = item.get("key", "")
        if key not in data:
            raise VolumeError(f"{what} has no key {key!r}")
        out[item.get("path") or key] = data[key]
    return out


def _field_value(pod: Mapping[str, Any], path: str) -> str:
    meta = pod.get("metadata") or {}
    if path in ("metadata.labels", "metadata.annotations"):
        entries = meta.get(path.split(".")[1]) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(entries.items()))
    m = re.fullmatch(r"metadata\.(labels|annotations)\['([^']*)'\]", path)
    if m:
        return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": (pod.get("spec") or {}).get("nodeName", ""),
        "spec.serviceAccountName": (pod.get("spec") or {}).get("serviceAccountName", ""),
        "status.podIP": (pod.get("status") or {}).get("podIP", "127.0.0.1"),
        "status.hostIP": (pod.get("status") or {}).get("hostIP", "127.0.0.1"),
    }
    if path not in simple:
        raise VolumeError(f"unsupported fieldRef fieldPath {path!r}")
    return str(simple[path])


def field_value(pod: Mapping[str, Any], path: str) -> str:
    """A downward-API field of a pod (``metadata.name``, ``metadata.labels['x']`` ...)."""
    return _field_value(pod, path)


def _resolve_one(
    pod: Mapping[str, Any], vol: Mapping[str, Any], sandbox: Path, data_dir: Path, lookup: Lookup
) -> str:
    name = vol.get("name", "")
    ns = (pod.get("metadata") or {}).get("namespace", "default")
    local = sandbox / "volumes" / name
    if "emptyDir" in vol:
        local.mkdir(parents=True, exist_ok=True)
        return str(local)
    if "hostPath" in vol:
        return _host_path(name, vol["hostPath"] or {})
    if "configMap" in vol or "secret" in vol:
        return _config_or_secret(vol, ns, local, lookup)
    if "downwardAPI" in vol:
        return _downward_api(pod, vol["downwardAPI"] or {}, local)
    if "persistentVolumeClaim" in vol:
        claim = (vol["persistentVolumeClaim"] or {}).get("claimName", "")
        return claim_directory(ns, claim, lookup)
    kinds = [k for k in vol if k != "name"]
    raise VolumeError(
        f"volume {name!r}: unsupported volume type {', '.join(kinds) or '(none)'} on the local "
        f"cluster (supported: {', '.join(SUPPORTED)})"
    )


def _host_path(name: str, hp: Mapping[str, Any]) -> str:
    """A ``hostPath`` volume: created or type-checked as its ``type`` says."""
    path = Path(hp.get("path") or "")
    kind = hp.get("type") or ""
    if not path.is_absolute():
        raise VolumeError(f"hostPath {str(path)!r} of volume {name!r} must be absolute")
    if kind in ("", "DirectoryOrCreate"):
        if not path.exists():
            path.mkdir(parents=True, exist_ok=True)
    elif kind == "FileOrCreate":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
    elif kind == "Directory" and not path.is_dir():
        raise VolumeError(
            f'MountVolume.SetUp failed for volume "{name}" : hostPath type check failed: {path} is not a directory',
            "ContainerCreating",
        )
    elif kind == "File" and not path.is_file():
        raise VolumeError(
            f'MountVolume.SetUp failed for volume "{name}" : hostPath type check failed: {path} is not a file',
            "ContainerCreating",
        )
    elif kind not in ("Directory", "File") and not path.exists():
        raise VolumeError(
            f'MountVolume.SetUp failed for volume "{name}" : hostPath type check failed: {path} does not exist',
            "ContainerCreating",
        )
    return str(path)


def _config_or_secret(vol: Mapping[str, Any], ns: str, local: Path, lookup: Lookup) -> str:
    """A ``configMap`` or ``secret`` volume: its keys (or chosen items) written as files."""
    name = vol.get("name", "")
    is_secret = "secret" in vol
    src = vol["secret" if is_secret else "configMap"] or {}
    ref = src.get("secretName" if is_secret else "name", "")
    res = "secrets" if is_secret else "configmaps"
    kind = "secret" if is_secret else "configmap"
    obj = lookup(res, ns, ref)
    if obj is None:
        if src.get("optional"):
            local.mkdir(parents=True, exist_ok=True)
            return str(local)
        raise VolumeError(
            f'MountVolume.SetUp failed for volume "{name}" : {kind} "{ref}" not found',
            "ContainerCreating",
        )
    data: dict[str, bytes] = {}
    if is_secret:
        for k, v in (obj.get("data") or {}).items():
            data[k] = base64.b64decode(v)
        for k, v in (obj.get("stringData") or {}).items():
            data[k] = str(v).encode()
    else:
        for k, v in (obj.get("data") or {}).items():
            data[k] = str(v).encode()
        for k, v in (obj.get("binaryData") or {}).items():
            data[k] = base64.b64decode(v)
    files = _select_items(data, src.get("items"), f'{kind} "{ref}"')
    _write_files(local, files, int(src.get("defaultMode") or 0o644))
    return str(local)


def _downward_api(pod: Mapping[str, Any], src: Mapping[str, Any], local: Path) -> str:
    """A ``downwardAPI`` volume: one file per item, from a field or a resource of the pod."""
    files = {}
    for item in src.get("items") or []:
        if "fieldRef" in item:
            value = _field_value(pod, item["fieldRef"].get("fieldPath", ""))
        elif "resourceFieldRef" in item:
            value = resource_field_value(pod, item["resourceFieldRef"], None)
        else:
            raise VolumeError(f"downwardAPI item {item.get('path')!r} needs fieldRef")
        files[item.get("path", "")] = value.encode()
    _write_files(local, files, int(src.get("defaultMode") or 0o644))
    return str(local)


def claim_directory(ns: str, claim: str, lookup: Lookup) -> str:
    """The directory of the PersistentVolume bound to claim ``ns/claim`` (hostPath or local)."""
    pvc = lookup("persistentvolumeclaims", ns, claim)
    if pvc is None:
        raise VolumeError(f'persistentvolumeclaim "{claim}" not found', "ContainerCreating")
    volume = str((pvc.get("spec") or {}).get("volumeName") or "")
    if (pvc.get("status") or {}).get("phase") != "Bound" or not volume:
        raise VolumeError(
            f'persistentvolumeclaim "{claim}" is not bound yet (phase '
            f"{(pvc.get('status') or {}).get('phase', 'Pending')}): waiting for a volume to be "
            "provisioned or bound",
            "ContainerCreating",
        )
    pv = lookup("persistentvolumes", "", volume)
    spec = (pv or {}).get("spec") or {}
    path = (spec.get("hostPath") or spec.get("local") or {}).get("path")
    if not path:
        raise VolumeError(
            f'persistentvolume "{volume}" of claim "{claim}" has no hostPath or local path '
            "(only those can be mounted on the local cluster)",
            "ContainerCreating",
        )
    Path(path).mkdir(parents=True, exist_ok=True)
    return str(path)


def prepare(
    pod: Mapping[str, Any], sandbox: Path, data_dir: Path, lookup: Lookup
) -> dict[str, str]:
    """Create every volume of ``pod``; returns volume name -> host directory."""
    return {
        v.get("name", ""): _resolve_one(pod, v, sandbox, data_dir, lookup)
        for v in (pod.get("spec") or {}).get("volumes") or []
    }


def mounts_for(container: Mapping[str, Any], volumes: Mapping[str, str]) -> list[Mount]:
    out = []
    for vm in container.get("volumeMounts") or []:
        name = vm.get("name", "")
        if name not in volumes:
            raise VolumeError(f'volumeMount "{name}" has no matching volume')
        host = volumes[name]
        if vm.get("subPath"):
            host = os.path.join(host, vm["subPath"])
            if not os.path.exists(host) and os.path.isdir(volumes[name]):
                os.makedirs(host, exist_ok=True)
        out.append(
            Mount(vm.get("mountPath", "").rstrip("/") or "/", host, bool(vm.get("readOnly")))
        )
    return sorted(out, key=lambda m: -len(m.mount_path))


_BEFORE = r"(?:(?<=^)|(?<=[=:\s'\",(]))"
_AFTER = r"(?=$|[/\s:;,'\"=)])"


def substitute(text: str, mounts: list[Mount]) -> str:
    """Replace mount paths in ``text`` by their host directories (longest mount first)."""
    for m in mounts:
        if m.mount_path == "/" or m.mount_path not in text:
            continue
        pattern = re.compile(_BEFORE + re.escape(m.mount_path) + _AFTER)
        text = pattern.sub(m.host_path.replace("\\", "\\\\"), text)
    return text


def mounts_env(mounts: list[Mount]) -> str:
    return ":".join(f"{m.mount_path}={m.host_path}" for m in mounts)
