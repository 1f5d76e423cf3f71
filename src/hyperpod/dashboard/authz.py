"""Who may see what on the dashboard: the authorizer hook RBAC plugs into.

Every read the dashboard makes goes through :class:`hyperpod.dashboard.reader.Reader`, which
asks ``can_list(identity, resource, namespace)`` first (``namespace`` None = cluster-wide;
``resource`` is the registry's name, e.g. ``"pods"``, ``"pods/log"``,
``"workloads.kueue.x-k8s.io"``). Without the API server's request gate the default lets the
admin identity (the holder of the cluster's bearer token) list everything and everyone else
nothing. With the gate, :class:`RbacCanList` asks its RBAC authorizer the SubjectAccessReview
question for verb ``list`` (``get`` for ``pods/log``) as the user who minted the login link,
so a team member's dashboard shows what ``kubectl`` would let that user list, nothing more.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hyperpod.apiserver.rbac import Attributes, UserInfo

ADMIN = "admin"

CanList = Callable[[str, str, str | None], bool]


def admin_only(identity: str, resource: str, namespace: str | None) -> bool:
    """The default: the admin identity may list everything, any other identity nothing."""
    return identity == ADMIN


class RbacCanList:
    """``can_list`` from an RBAC authorizer, for the users who logged in (by identity)."""

    def __init__(self, authorizer: Any) -> None:
        self.authorizer = authorizer  # apiserver.authz.Authorizer: .authorize(user, attrs)
        self.users: dict[str, UserInfo] = {}

    def identity_of(self, user: UserInfo, admin: UserInfo) -> str:
        """The session identity of ``user``; the cluster admin is :data:`ADMIN`."""
        name = ADMIN if user == admin else user.name
        if name == ADMIN and user != admin:
            name = f"{user.name} ({', '.join(user.groups)})"  # not the admin, whatever its name
        self.users[name] = user
        return name

    def __call__(self, identity: str, resource: str, namespace: str | None) -> bool:
        user = self.users.get(identity)
        if user is None:
            return False
        base, _, sub = resource.partition("/")
        plural, _, group = base.partition(".")
        attrs = Attributes(
            verb="get" if sub == "log" else "list",
            group=group,
            resource=plural,
            subresource=sub,
            namespace=namespace or "",
        )
        return bool(self.authorizer.authorize(user, attrs)[0])
