"""core/v1 Namespace: the name label, and deletion that waits for the namespace's finalizers.

Kubernetes labels every namespace ``kubernetes.io/metadata.name=<name>`` (selectors rely on it).
Deleting a namespace whose ``spec.finalizers`` is not empty marks it ``Terminating`` and keeps
it until the namespace controller has emptied it and called ``namespaces/finalize``.
Defaults and validation of namespaces are still in ``validation.py``.
"""

from __future__ import annotations

from hyperpod.api.wellknown import NAMESPACE_NAME_LABEL as NAME_LABEL
from hyperpod.apiserver.kinds import Obj, Strategy


def _label(obj: Obj) -> None:
    md = obj.setdefault("metadata", {})
    md["labels"] = {**(md.get("labels") or {}), NAME_LABEL: str(md.get("name", ""))}


class NamespaceStrategy(Strategy):
    kind = "Namespace"

    def prepare_for_create(self, obj: Obj) -> None:
        _label(obj)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        _label(new)

    def lingers(self, obj: Obj) -> bool:
        return bool((obj.get("spec") or {}).get("finalizers"))

    def delete_pending(self, obj: Obj) -> bool:
        pending = self.lingers(obj)
        if pending and not obj["metadata"].get("deletionTimestamp"):
            obj.setdefault("status", {})["phase"] = "Terminating"
        return pending


STRATEGY = NamespaceStrategy()
