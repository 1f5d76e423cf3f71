"""Errors the AWS provider raises: one readable line plus the fix, with the AWS error chained."""

from __future__ import annotations


class AwsError(Exception):
    """Something the user can act on; ``hint`` says how."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class NoCredentials(AwsError):
    """No credentials in the standard chain."""


class NoRegion(AwsError):
    """No region in the config, the environment or the profile."""


class StackFailed(AwsError):
    """A stack operation ended in a failed state; ``failures`` lists (resource, reason)."""

    def __init__(self, message: str, failures: list[tuple[str, str]], hint: str = "") -> None:
        super().__init__(message, hint)
        self.failures = failures


class NoAccess(AwsError):
    """The caller has no EKS access entry on the cluster."""


class ClusterNotFound(AwsError):
    """No HyperPod (or EKS) cluster of that name."""
