"""Deleting a stack stuck in DELETE_FAILED: refused with the fix, or retried keeping what failed."""

from __future__ import annotations

from typing import Any

import pytest

from hyperpod.providers.aws.errors import StackFailed
from hyperpod.providers.aws.provider import AwsProvider
from hyperpod.providers.base import StackInfo


class FakeCfn:
    def __init__(self) -> None:
        self.deleted: list[dict[str, Any]] = []

    def delete_stack(self, **kwargs: Any) -> None:
        self.deleted.append(kwargs)


class FakeAws:
    region = "us-west-2"

    def __init__(self) -> None:
        self.cfn = FakeCfn()

    def client(self, name: str) -> Any:
        return self.cfn


def _provider(monkeypatch: pytest.MonkeyPatch) -> tuple[AwsProvider, FakeCfn]:
    provider = AwsProvider(out=lambda line: None)
    fake = FakeAws()
    provider._aws = fake  # type: ignore[assignment]
    info = StackInfo(
        "s",
        "aws",
        "DELETE_FAILED",
        None,
        {
            "stack_id": "arn:s",
            "outputs": {},
            "resources": [
                {
                    "logical_id": "PrivateSubnet",
                    "status": "DELETE_FAILED",
                    "reason": "has dependencies",
                },
                {"logical_id": "Vpc", "status": "DELETE_FAILED", "reason": "has dependencies"},
                {"logical_id": "LifecycleBucket", "status": "DELETE_COMPLETE", "reason": ""},
            ],
        },
    )
    monkeypatch.setattr(provider, "describe", lambda name: info)
    return provider, fake.cfn


def test_a_delete_failed_stack_is_refused_with_the_resources_and_the_retain_option(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    provider, cfn = _provider(monkeypatch)
    with pytest.raises(StackFailed) as info:
        provider.delete("s", wait=False)
    assert info.value.failures == [
        ("PrivateSubnet", "has dependencies"),
        ("Vpc", "has dependencies"),
    ]
    assert "--retain-resources" in info.value.hint
    assert cfn.deleted == []


def test_retain_failed_deletes_again_keeping_the_failed_resources(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    provider, cfn = _provider(monkeypatch)
    provider.delete("s", retain_failed=True, wait=False)
    assert cfn.deleted == [{"StackName": "s", "RetainResources": ["PrivateSubnet", "Vpc"]}]
