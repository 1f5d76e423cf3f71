"""Editing ``config.yaml`` for ``hyp configure``: one field at a time, keeping the comments.

A scalar value, or a list or mapping of scalars (written in flow style, ``[a, b]``), is replaced
in place on its own line (the trailing comment stays); nested values, block-style values or
fields not yet in the file fall back to re-rendering the whole document.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from hyperpod.api.cluster_config import yaml_scalar

_KEY = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z0-9_\-]+):(?P<rest>.*)$")


def _split_comment(rest: str) -> tuple[str, str]:
    """(value, comment) of what follows ``key:`` on a line (quotes respected)."""
    quote = ""
    for i, ch in enumerate(rest):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or rest[i - 1] in " \t"):
            return rest[:i], rest[i:]
    return rest, ""


def set_scalar(text: str, path: list[str], value: Any) -> str | None:
    """``text`` with the scalar at ``path`` set to ``value``, or None if it cannot be done in place."""
    if isinstance(value, list | dict):
        if not _flat(value):
            return None
        rendered = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    else:
        rendered = yaml_scalar(value)
    lines = text.splitlines(keepends=True)
    depth = 0
    parent_indent = -1
    for idx, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped.startswith("- "):
            continue
        m = _KEY.match(line.rstrip("\n"))
        if m is None:
            continue
        indent = len(m.group("indent"))
        if indent <= parent_indent:
            return None  # left the parent mapping without finding the key
        if m.group("key") != path[depth]:
            continue
        if depth < len(path) - 1:
            depth += 1
            parent_indent = indent
            continue
        old, comment = _split_comment(m.group("rest"))
        if old.strip() in ("", "|", ">"):
            return None  # a block value: not a scalar line
        spacing = " " * max(1, len(old) - len(old.rstrip()) if comment else 0)
        newline = "\n" if line.endswith("\n") else ""
        new = f"{m.group('indent')}{m.group('key')}: {rendered}"
        if comment:
            new += spacing + comment
        lines[idx] = new + newline
        return "".join(lines)
    return None


def _flat(value: list[Any] | dict[str, Any]) -> bool:
    """A list or mapping of scalars only (written in flow style on one line)."""
    items = value.values() if isinstance(value, dict) else value
    return all(not isinstance(v, list | dict) for v in items)


def set_path(data: dict[str, Any], path: list[str], value: Any) -> None:
    node = data
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[path[-1]] = value


def header(text: str) -> str:
    """The leading comment block of a config file."""
    out = []
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            out.append(line)
        else:
            break
    return "\n".join(out).rstrip() + "\n" if out else ""


def dump_with_header(text: str, data: dict[str, Any]) -> str:
    return header(text) + yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
