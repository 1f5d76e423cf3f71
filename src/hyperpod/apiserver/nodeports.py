"""NodePort allocation like kube-apiserver: 30000-32767, unique across Services.

Services of type NodePort or LoadBalancer get a ``nodePort`` on every TCP/UDP port that has
none; a requested one must be in the range and free. Other types must not carry one. The
service proxy (``hyperpod.proxy``) listens on ``127.0.0.1:<nodePort>``.
"""

from __future__ import annotations

from typing import Any

from hyperpod.apiserver.errors import cause
from hyperpod.apiserver.registry import Registry

Obj = dict[str, Any]
FIRST, LAST = 30000, 32767
WITH_NODE_PORTS = ("NodePort", "LoadBalancer")


class NodePorts:
    def __init__(self, reg: Registry) -> None:
        self.reg = reg

    def _used(self, skip: tuple[str, str]) -> set[int]:
        used: set[int] = set()
        for svc in self.reg.list("services"):
            md = svc.get("metadata") or {}
            if (md.get("namespace"), md.get("name")) == skip:
                continue
            for p in (svc.get("spec") or {}).get("ports") or []:
                if isinstance(p, dict) and isinstance(p.get("nodePort"), int):
                    used.add(p["nodePort"])
        return used

    @staticmethod
    def _key(obj: Obj) -> tuple[str, str]:
        md = obj.get("metadata") or {}
        return str(md.get("namespace") or "default"), str(md.get("name") or "")

    def default(self, obj: Obj) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict) or spec.get("type") not in WITH_NODE_PORTS:
            return
        ports = [p for p in spec.get("ports") or [] if isinstance(p, dict)]
        if not any(not p.get("nodePort") for p in ports):
            return
        ns, name = self._key(obj)
        current = self.reg.try_get("services", name, ns) if name else None
        kept = {
            (p.get("port"), p.get("protocol") or "TCP"): p.get("nodePort")
            for p in ((current or {}).get("spec") or {}).get("ports") or []
            if isinstance(p, dict)
        }
        used = self._used((ns, name)) | {p["nodePort"] for p in ports if p.get("nodePort")}
        free = (n for n in range(FIRST, LAST + 1) if n not in used)
        for p in ports:
            if p.get("nodePort"):
                continue
            old = kept.get((p.get("port"), p.get("protocol") or "TCP"))
            if isinstance(old, int) and old not in used:
                p["nodePort"] = old
            else:
                p["nodePort"] = next(free, 0)
            used.add(p["nodePort"])

    def validate(self, obj: Obj, old: Obj | None) -> list[dict[str, str]]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return []
        errors: list[dict[str, str]] = []
        used = self._used(self._key(obj))
        kind = spec.get("type", "ClusterIP")
        for i, p in enumerate(spec.get("ports") or []):
            if not isinstance(p, dict) or not p.get("nodePort"):
                continue
            field = f"spec.ports[{i}].nodePort"
            n = p["nodePort"]
            if kind not in WITH_NODE_PORTS:
                continue  # refused by validation.py
            if n == 0:
                errors.append(cause(field, "Invalid value: 0: range is full", "FieldValueInvalid"))
            elif not isinstance(n, int) or not FIRST <= n <= LAST:
                errors.append(
                    cause(
                        field,
                        f"Invalid value: {n}: provided port is not in the valid range. "
                        f"The range of valid ports is {FIRST}-{LAST}",
                        "FieldValueInvalid",
                    )
                )
            elif n in used:
                errors.append(
                    cause(
                        field,
                        f"Invalid value: {n}: provided port is already allocated",
                        "FieldValueInvalid",
                    )
                )
        return errors
