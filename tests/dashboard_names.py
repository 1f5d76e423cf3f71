"""The dashboards under ``dashboards/`` and the metric names their PromQL expressions use."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DASHBOARDS = Path(__file__).resolve().parents[1] / "dashboards"
_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
    "unless", "offset", "inf", "nan",
}  # fmt: skip
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def expressions(dash: dict[str, Any]) -> Iterator[str]:
    for panel in dash.get("panels") or []:
        for target in panel.get("targets") or []:
            yield str(target["expr"])
    for var in (dash.get("templating") or {}).get("list") or []:
        query = var.get("query")
        if isinstance(query, dict) and "query" in query:
            yield str(query["query"])


def metric_names(expr: str) -> set[str]:
    """Metric names in one PromQL expression (or a Grafana ``label_values(metric, label)``)."""
    m = re.fullmatch(r"\s*label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,.*\)\s*", expr)
    if m:
        return {m.group(1)}
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for m in _IDENT.finditer(text):
        after = text[m.end() :].lstrip()
        word = m.group(0)
        if after.startswith("(") or word.lower() in _KEYWORDS:
            continue
        if re.fullmatch(r"\d+[smhdwy]", word):
            continue
        names.add(word)
    return names


def exported_names(scrape: str) -> set[str]:
    """Every name a /metrics body exports: families (# TYPE) and sample names."""
    names = set()
    for line in scrape.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()[:4]
            names.add(name)
            if kind == "histogram":  # a family without observations yet still exports these
                names.update(f"{name}_{s}" for s in ("bucket", "count", "sum"))
        elif line and not line.startswith("#"):
            names.add(_IDENT.match(line).group(0))  # type: ignore[union-attr]
    return names
