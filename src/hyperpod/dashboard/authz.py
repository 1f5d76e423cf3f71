"""Who may see what on the dashboard: the authorizer hook RBAC plugs into.

Every read the dashboard makes goes through :class:`hyperpod.dashboard.reader.Reader`, which
asks ``can_list(identity, resource, namespace)`` first (``namespace`` None = cluster-wide;
``resource`` is the registry's name, e.g. ``"pods"``, ``"pods/log"``,
``"workloads.kueue.x-k8s.io"``). Until RBAC exists the default lets the admin identity (the
holder of the cluster's bearer token) list everything and everyone else nothing. An RBAC
authorizer replaces it with one function answering a SubjectAccessReview-like question for
verb ``list`` (``get`` for ``pods/log``).
"""

from __future__ import annotations

from collections.abc import Callable

ADMIN = "admin"

CanList = Callable[[str, str, str | None], bool]


def admin_only(identity: str, resource: str, namespace: str | None) -> bool:
    """The default: the admin identity may list everything, any other identity nothing."""
    return identity == ADMIN
