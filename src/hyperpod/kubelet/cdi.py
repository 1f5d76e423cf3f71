"""GPUs in OCI containers through the Container Device Interface (CDI).

The NVIDIA Container Toolkit describes a node's GPUs in a CDI spec (``nvidia-ctk cdi generate
--output=/etc/cdi/nvidia.yaml``): for each device (named by index and by UUID) the device
nodes, mounts, environment and hooks a container needs, plus edits common to every device.
When the device plugin has allocated GPUs to a container, :func:`edits_for` finds them in the
specs under ``/etc/cdi`` and ``/var/run/cdi`` (``HYPERPOD_CDI_SPEC_DIRS``, colon-separated,
replaces that list) and :func:`apply` writes their edits into the container's OCI spec, as
containerd and CRI-O do. Without a spec for ``nvidia.com/gpu`` a GPU container cannot start
in a container here, and :class:`CdiError` says why.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

GPU_KIND = "nvidia.com/gpu"
DEFAULT_DIRS = ("/etc/cdi", "/var/run/cdi")
ENV_DIRS = "HYPERPOD_CDI_SPEC_DIRS"
HINT = (
    "install the NVIDIA Container Toolkit and run "
    "'nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml', or run the pod as processes "
    "(annotation hyperpod.local/runtime: process)"
)


class CdiError(Exception):
    """The allocated devices cannot be passed into the container; the message says why."""


@dataclass
class Edits:
    """What the container's OCI spec gains: device nodes, mounts, env and hooks."""

    device_nodes: list[dict[str, Any]] = field(default_factory=list)
    mounts: list[dict[str, Any]] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    hooks: list[dict[str, Any]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # the spec files used

    def add(self, edits: Mapping[str, Any]) -> None:
        self.device_nodes.extend(d for d in edits.get("deviceNodes") or [] if isinstance(d, dict))
        self.mounts.extend(m for m in edits.get("mounts") or [] if isinstance(m, dict))
        self.env.extend(str(e) for e in edits.get("env") or [])
        self.hooks.extend(h for h in edits.get("hooks") or [] if isinstance(h, dict))


def spec_dirs(env: Mapping[str, str] | None = None) -> list[Path]:
    value = (os.environ if env is None else env).get(ENV_DIRS)
    return [Path(p) for p in (value.split(":") if value else DEFAULT_DIRS) if p]


def load_specs(kind: str, dirs: Sequence[Path]) -> list[tuple[Path, dict[str, Any]]]:
    """Every CDI spec (YAML or JSON) of ``kind`` in ``dirs``; unreadable files are errors."""
    out: list[tuple[Path, dict[str, Any]]] = []
    for d in dirs:
        if not d.is_dir():
            continue
        for path in sorted(d.iterdir()):
            if path.suffix not in (".yaml", ".yml", ".json") or not path.is_file():
                continue
            try:
                text = path.read_text()
                doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
            except (OSError, ValueError, yaml.YAMLError) as exc:
                raise CdiError(f"CDI spec {path} cannot be read: {exc}") from exc
            if isinstance(doc, dict) and doc.get("kind") == kind:
                out.append((path, doc))
    return out


def edits_for(
    ids: Sequence[str], indices: Mapping[str, int], dirs: Sequence[Path] | None = None
) -> Edits:
    """The CDI edits for the GPUs ``ids`` (UUIDs; ``indices`` maps each to its index)."""
    specs = load_specs(GPU_KIND, spec_dirs() if dirs is None else dirs)
    if not specs:
        where = ", ".join(str(d) for d in (spec_dirs() if dirs is None else dirs))
        raise CdiError(
            f"this node's OCI runtime cannot pass GPUs into containers: no CDI spec for "
            f"{GPU_KIND} in {where}; {HINT}"
        )
    edits = Edits()
    for gpu in ids:
        names = {gpu, str(indices.get(gpu, ""))} - {""}
        for path, doc in specs:
            device = next(
                (
                    d
                    for d in doc.get("devices") or []
                    if isinstance(d, dict) and str(d.get("name")) in names
                ),
                None,
            )
            if device is None:
                continue
            if str(path) not in edits.sources:
                edits.sources.append(str(path))
                edits.add(doc.get("containerEdits") or {})  # once per spec: common edits
            edits.add(device.get("containerEdits") or {})
            break
        else:
            raise CdiError(
                f"GPU {gpu} (index {indices.get(gpu, '?')}) is not in the CDI spec for "
                f"{GPU_KIND} ({', '.join(str(p) for p, _ in specs)}); regenerate it: {HINT}"
            )
    return edits


def _device(node: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The OCI ``linux.devices`` entry and its cgroup allow rule for one CDI device node."""
    path = str(node.get("path") or "")
    host = str(node.get("hostPath") or path)
    if not path:
        raise CdiError("a CDI device node has no path")
    try:
        st = os.stat(host)
    except OSError as exc:
        raise CdiError(f"CDI device node {host} is missing on this node: {exc}") from exc
    if stat.S_ISCHR(st.st_mode):
        kind = "c"
    elif stat.S_ISBLK(st.st_mode):
        kind = "b"
    else:
        raise CdiError(f"CDI device node {host} is not a device")
    major = int(node.get("major", os.major(st.st_rdev)))
    minor = int(node.get("minor", os.minor(st.st_rdev)))
    entry = {
        "path": path,
        "type": str(node.get("type") or kind),
        "major": major,
        "minor": minor,
        "fileMode": int(node["fileMode"]) if "fileMode" in node else stat.S_IMODE(st.st_mode),
        "uid": int(node.get("uid", 0)),
        "gid": int(node.get("gid", 0)),
    }
    rule = {
        "allow": True,
        "type": entry["type"],
        "major": major,
        "minor": minor,
        "access": str(node.get("permissions") or "rwm"),
    }
    return entry, rule


def apply(spec: dict[str, Any], edits: Edits) -> None:
    """Write ``edits`` into an OCI runtime spec (env entries of the edits win)."""
    linux = spec.setdefault("linux", {})
    for node in edits.device_nodes:
        entry, rule = _device(node)
        linux.setdefault("devices", []).append(entry)
        linux.setdefault("resources", {}).setdefault("devices", []).append(rule)
    for m in edits.mounts:
        spec["mounts"].append(
            {
                "destination": str(m.get("containerPath")),
                "source": str(m.get("hostPath")),
                "type": str(m.get("type") or "bind"),
                "options": list(m.get("options") or ["rbind", "ro"]),
            }
        )
    if edits.env:
        env = {e.partition("=")[0]: e for e in spec["process"]["env"]}
        for item in edits.env:
            env[item.partition("=")[0]] = item
        spec["process"]["env"] = list(env.values())
    for hook in edits.hooks:
        name = str(hook.get("hookName") or "")
        if not name:
            continue
        oci_hook = {k: hook[k] for k in ("path", "args", "env", "timeout") if k in hook}
        spec.setdefault("hooks", {}).setdefault(name, []).append(oci_hook)
