"""Errors the SDK raises for the user to fix: one readable line plus a hint.

The CLI prints ``message`` and ``hint`` and exits non-zero; ``--debug`` shows the chained cause.
"""

from __future__ import annotations


class UserError(Exception):
    """Something the user can fix; ``hint`` says how."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ClusterUnreachable(UserError):
    """The kubeconfig names no cluster, or the cluster does not answer."""


class JobNotFound(UserError):
    """No training job of that name in the namespace."""


class JobExists(UserError):
    """A training job of that name already exists in the namespace."""


class JobFailed(UserError):
    """A job followed with ``--wait`` ended in Failed."""

    exit_code = 2


class InvalidJobSpec(UserError):
    """A job flag has a bad value; the message names the flag."""


class KindNotServed(UserError):
    """The cluster does not serve a job kind (its CRD or operator is not installed)."""
