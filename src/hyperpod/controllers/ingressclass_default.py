"""DefaultIngressClass admission: an Ingress created without ``ingressClassName`` gets the
IngressClass annotated ``ingressclass.kubernetes.io/is-default-class: "true"`` (the newest
when several are), as upstream's admission plugin does. No controller acts on Ingresses.
"""

from __future__ import annotations

import weakref
from typing import Any

from hyperpod.apiserver.registry import Registry
from hyperpod.runtime.context import Component, ControlPlaneContext

Obj = dict[str, Any]
COMPONENT = "default-ingress-class"
DEFAULT_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
INGRESSES = "ingresses.networking.k8s.io"
CLASSES = "ingressclasses.networking.k8s.io"


def default_class(reg: Registry) -> str | None:
    defaults = [
        c
        for c in reg.list(CLASSES)
        if ((c.get("metadata") or {}).get("annotations") or {}).get(DEFAULT_ANNOTATION) == "true"
    ]
    if not defaults:
        return None
    newest = max(defaults, key=lambda c: str(c["metadata"].get("creationTimestamp")))
    return str(newest["metadata"]["name"])


_INSTALLED: weakref.WeakSet[Registry] = weakref.WeakSet()


def install(reg: Registry) -> None:
    if reg in _INSTALLED:
        return
    _INSTALLED.add(reg)

    def default(obj: Obj) -> None:
        md = obj.get("metadata")
        spec = obj.get("spec")
        if not isinstance(md, dict) or md.get("resourceVersion") or not isinstance(spec, dict):
            return  # updates keep what they have
        if spec.get("ingressClassName") is None:
            name = default_class(reg)
            if name is not None:
                spec["ingressClassName"] = name

    reg.add_admission(INGRESSES, default, None)


async def _start(ctx: ControlPlaneContext) -> None:
    install(ctx.reg)


def component() -> Component:
    return Component(name=COMPONENT, start=_start)
