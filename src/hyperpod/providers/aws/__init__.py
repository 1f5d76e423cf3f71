"""The AWS provider: HyperPod on EKS through one CloudFormation stack.

Entry point: ``AwsProvider`` (implements ``hyperpod.providers.base.Provider``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hyperpod.providers.aws.provider import AwsProvider

__all__ = ["AwsProvider"]


def __getattr__(name: str) -> Any:
    if name == "AwsProvider":  # imported lazily: boto3 is slow to import
        from hyperpod.providers.aws.provider import AwsProvider

        return AwsProvider
    raise AttributeError(name)
