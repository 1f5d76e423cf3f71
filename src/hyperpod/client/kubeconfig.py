"""Kubeconfig files: find the user's, merge a cluster's context in, take it out again.

Merging works like ``aws eks update-kubeconfig``: entries with the same name are replaced,
every other cluster, user and context is kept, and the new context becomes current.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from hyperpod.client.errors import UserError

SECTIONS = ("clusters", "users", "contexts")


def default_path() -> Path:
    """The file kubectl writes to: the first entry of ``$KUBECONFIG``, else ``~/.kube/config``."""
    env = os.environ.get("KUBECONFIG", "")
    for entry in env.split(os.pathsep):
        if entry:
            return Path(entry).expanduser()
    return Path.home() / ".kube" / "config"


def empty() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [],
        "users": [],
        "contexts": [],
        "current-context": "",
    }


def load(path: Path) -> dict[str, Any]:
    """The kubeconfig at ``path`` (an empty one if the file does not exist)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return empty()
    except OSError as exc:
        raise UserError(
            f"cannot read kubeconfig {path}: {exc.strerror}", "check the file's permissions"
        ) from exc
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise UserError(
            f"kubeconfig {path} is not valid YAML",
            "fix or move the file, then run the command again",
        ) from exc
    if not isinstance(data, dict):
        raise UserError(f"kubeconfig {path} is not a mapping", "fix or move the file")
    base = empty()
    base.update(data)
    for section in SECTIONS:
        base[section] = list(base.get(section) or [])
    return base


def write(path: Path, config: dict[str, Any]) -> None:
    """Write atomically with mode 0600 (the file holds credentials)."""
    import tempfile  # only writers need it; every hyp command reads a kubeconfig

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".kubeconfig-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            yaml.safe_dump(config, fh, sort_keys=False, default_flow_style=False)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def merged(
    existing: dict[str, Any], new: dict[str, Any], *, set_current: bool = True
) -> dict[str, Any]:
    """``existing`` with every entry of ``new`` added or replaced by name (pure)."""
    out = dict(existing)
    for section in SECTIONS:
        incoming = list(new.get(section) or [])
        names = {e.get("name") for e in incoming}
        out[section] = [
            e for e in existing.get(section) or [] if e.get("name") not in names
        ] + incoming
    if set_current and new.get("current-context"):
        out["current-context"] = new["current-context"]
    return out


def without_context(existing: dict[str, Any], context: str) -> dict[str, Any]:
    """``existing`` without ``context`` and the cluster and user only it used (pure)."""
    out = dict(existing)
    contexts = list(existing.get("contexts") or [])
    gone = [c for c in contexts if c.get("name") == context]
    kept = [c for c in contexts if c.get("name") != context]
    out["contexts"] = kept
    for entry in gone:
        ctx = entry.get("context") or {}
        for section, key in (("clusters", "cluster"), ("users", "user")):
            name = ctx.get(key)
            if name and not any((c.get("context") or {}).get(key) == name for c in kept):
                out[section] = [e for e in out.get(section) or [] if e.get("name") != name]
    if existing.get("current-context") == context:
        out["current-context"] = ""
    return out


def merge_into(new: dict[str, Any], path: Path | None = None) -> Path:
    """Merge ``new`` into the user's kubeconfig and make its context current; returns the file."""
    target = path or default_path()
    write(target, merged(load(target), new))
    return target


def remove_from(context: str, path: Path | None = None) -> bool:
    """Take ``context`` out of the user's kubeconfig; False if it was not there."""
    target = path or default_path()
    if not target.exists():
        return False
    current = load(target)
    if not any(c.get("name") == context for c in current["contexts"]):
        return False
    write(target, without_context(current, context))
    return True


def current_context(path: Path | None = None) -> str:
    return str(load(path or default_path()).get("current-context") or "")
