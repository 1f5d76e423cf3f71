"""Wire authentication, RBAC, ServiceAccount tokens and the audit log into a control plane.

``install`` seeds the default ClusterRoles/ClusterRoleBindings (rbac_defaults.py; roles marked
``rbac.authorization.kubernetes.io/autoupdate: "true"`` are brought back to the defaults at
each start), registers Pod Security admission for pods (podsecurity.py), creates the token
signing key (``<data_dir>/pki/sa.key``) and the audit log (``<data_dir>/audit/audit.log``),
and puts the request gate at ``services["gate"]``, where the HTTP layer and the kubelet find
it. ``component`` runs the ServiceAccount and ClusterRole aggregation controllers.
"""

from __future__ import annotations

import atexit
from pathlib import Path
from typing import Any

from hyperpod.apiserver import flowcontrol, podsecurity, rbac_defaults
from hyperpod.apiserver.audit import AuditLog
from hyperpod.apiserver.errors import AlreadyExists
from hyperpod.apiserver.gate import Gate
from hyperpod.apiserver.rbac import RBAC
from hyperpod.apiserver.registry import Registry
from hyperpod.apiserver.tokens import TokenIssuer
from hyperpod.runtime.context import Component, ControlPlaneContext


def seed_rbac(reg: Registry) -> None:
    """Create the default roles and bindings, restoring auto-updated ones."""
    for resource, objs in (
        (f"clusterroles.{RBAC}", rbac_defaults.cluster_roles()),
        (f"clusterrolebindings.{RBAC}", rbac_defaults.cluster_role_bindings()),
    ):
        for obj in objs:
            try:
                reg.create(resource, obj)
            except AlreadyExists:
                current = reg.get(resource, obj["metadata"]["name"])
                md = current.get("metadata") or {}
                auto = (md.get("annotations") or {}).get(
                    "rbac.authorization.kubernetes.io/autoupdate"
                )
                if auto == "false":
                    continue
                keys: tuple[str, ...] = ("rules", "roleRef", "subjects", "aggregationRule")
                if "aggregationRule" in obj:
                    keys = ("aggregationRule",)  # the aggregation controller owns its rules
                if all(current.get(k) == obj.get(k) for k in keys):
                    continue
                for k in keys:
                    if k in obj:
                        current[k] = obj[k]
                reg.update(resource, current)


def install(
    reg: Registry, data_dir: Path, admin_token: str | None, services: dict[str, Any]
) -> Gate:
    seed_rbac(reg)
    reg.add_admission("pods", None, podsecurity.validator(reg))
    issuer = TokenIssuer(data_dir / "pki" / "sa.key")
    audit_log = AuditLog(data_dir / "audit" / "audit.log")
    atexit.register(audit_log.close)  # the last batch, at a graceful stop
    gate = Gate(reg, admin_token, issuer, audit_log)
    services["gate"] = gate
    flowcontrol.seed(reg)  # API Priority and Fairness (apiserver/flowcontrol.py)
    services["flowcontrol"] = flowcontrol.FlowControl(reg)
    return gate


async def _run(ctx: ControlPlaneContext) -> None:
    from hyperpod.controllers.serviceaccounts import ServiceAccountsController

    await ServiceAccountsController(ctx.reg).run(ctx.stopping)


def component() -> Component:
    return Component(name="serviceaccounts", start=_run)
