"""The JSONPath subset of CRD ``additionalPrinterColumns``.

``.a.b``, ``[0]``, ``[*]``, ``['key']``, ``[?(@.field=="value")]`` with ``==``/``!=``.
"""

from __future__ import annotations

import json
import re
from typing import Any

Obj = dict[str, Any]


# --- JSONPath subset -----------------------------------------------------------------------

_FILTER = re.compile(r"""^\?\(@((?:\.[A-Za-z0-9_\-/\\.]+)+)\s*(==|!=)\s*(.+)\)$""")


def _split_path(path: str) -> list[str]:
    """Tokens of ``.a.b[0]['c'][?(@.x=="y")]``: names, bracket contents."""
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    if text.startswith("$"):
        text = text[1:]
    tokens: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == ".":
            i += 1
            start = i
            name = ""
            while i < len(text) and text[i] not in ".[":
                if text[i] == "\\" and i + 1 < len(text):
                    name += text[i + 1]
                    i += 2
                    continue
                name += text[i]
                i += 1
            if name or i > start:
                tokens.append("." + name)
        elif ch == "[":
            depth = 0
            j = i
            quote: str | None = None
            while j < len(text):
                c = text[j]
                if quote:
                    if c == quote:
                        quote = None
                elif c in "'\"":
                    quote = c
                elif c == "[":
                    depth += 1
                elif c == "]":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            tokens.append("[" + text[i + 1 : j])
            i = j + 1
        else:
            start = i
            while i < len(text) and text[i] not in ".[":
                i += 1
            tokens.append("." + text[start:i])
    return tokens


def _literal(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    try:
        return json.loads(text)
    except ValueError:
        return text


def jsonpath(obj: Any, path: str) -> list[Any]:
    """Values selected by a simple JSONPath (empty when nothing matches)."""
    current = [obj]
    for token in _split_path(path):
        nxt: list[Any] = []
        if token.startswith("."):
            name = token[1:]
            for v in current:
                if name == "" or name == "*":
                    if isinstance(v, dict):
                        nxt.extend(v.values())
                    elif isinstance(v, list):
                        nxt.extend(v)
                    elif name == "":
                        nxt.append(v)
                elif isinstance(v, dict) and name in v:
                    nxt.append(v[name])
        else:
            inner = token[1:].strip()
            flt = _FILTER.match(inner)
            for v in current:
                if flt:
                    if not isinstance(v, list):
                        continue
                    sub, op, lit = flt.group(1), flt.group(2), _literal(flt.group(3))
                    for item in v:
                        got = jsonpath(item, sub)
                        hit = bool(got) and got[0] == lit
                        if (op == "==" and hit) or (op == "!=" and got and not hit):
                            nxt.append(item)
                elif inner == "*":
                    if isinstance(v, list):
                        nxt.extend(v)
                    elif isinstance(v, dict):
                        nxt.extend(v.values())
                elif inner[:1] in "'\"":
                    key = _literal(inner)
                    if isinstance(v, dict) and key in v:
                        nxt.append(v[key])
                elif re.fullmatch(r"-?\d+", inner):
                    idx = int(inner)
                    if isinstance(v, list) and -len(v) <= idx < len(v):
                        nxt.append(v[idx])
                elif re.fullmatch(r"-?\d*:-?\d*", inner):
                    lo, hi = inner.split(":")
                    if isinstance(v, list):
                        nxt.extend(v[int(lo) if lo else None : int(hi) if hi else None])
        current = nxt
    return current
