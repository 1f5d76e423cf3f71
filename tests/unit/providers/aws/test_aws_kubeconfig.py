"""Access-entry checks before writing a kubeconfig: a missing entry gives the exact fix."""

from __future__ import annotations

from typing import Any

import pytest

from hyperpod.providers.aws import kubeconfig
from hyperpod.providers.aws.errors import NoAccess


class FakeEks:
    def __init__(self, entries: list[str]) -> None:
        self.entries = entries

    def get_paginator(self, op: str) -> Any:
        entries = self.entries

        class P:
            def paginate(self, **_: Any) -> Any:
                yield {"accessEntries": entries}

        return P()


class FakeAws:
    region = "us-west-2"

    def __init__(self, caller: str, entries: list[str]) -> None:
        self._caller = caller
        self.eks = FakeEks(entries)

    def caller_arn(self) -> str:
        return self._caller

    def client(self, name: str) -> Any:
        return self.eks


ROLE = "arn:aws:iam::123456789012:role/Admin"
SESSION = "arn:aws:sts::123456789012:assumed-role/Admin/alice"


def test_an_assumed_role_session_maps_to_its_role() -> None:
    assert kubeconfig.principal_of(SESSION) == ROLE
    assert (
        kubeconfig.principal_of("arn:aws:iam::123456789012:user/bob")
        == "arn:aws:iam::123456789012:user/bob"
    )


def test_a_caller_with_an_access_entry_passes() -> None:
    note = kubeconfig.check_access(
        FakeAws(SESSION, [ROLE]), "e1", {"accessConfig": {"authenticationMode": "API"}}
    )  # type: ignore[arg-type]
    assert note is None


def test_a_caller_without_an_access_entry_gets_the_commands_to_fix_it() -> None:
    with pytest.raises(NoAccess) as info:
        kubeconfig.check_access(
            FakeAws(SESSION, ["arn:aws:iam::123456789012:role/Other"]), "e1", {}
        )  # type: ignore[arg-type]
    assert ROLE in info.value.message
    assert (
        f"aws eks create-access-entry --cluster-name e1 --principal-arn {ROLE}" in info.value.hint
    )
    assert "AmazonEKSClusterAdminPolicy" in info.value.hint


def test_config_map_clusters_are_not_checked_but_said_so() -> None:
    note = kubeconfig.check_access(
        FakeAws(SESSION, []), "e1", {"accessConfig": {"authenticationMode": "CONFIG_MAP"}}
    )  # type: ignore[arg-type]
    assert note and "not checked" in note


def test_a_role_with_a_path_matches_its_assumed_role_session() -> None:
    sso = "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0123/alice"
    entry = (
        "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123"
    )
    assert kubeconfig.check_access(FakeAws(sso, [entry]), "e1", {}) is None  # type: ignore[arg-type]
    other_account = (
        "arn:aws:iam::999999999999:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123"
    )
    with pytest.raises(NoAccess):
        kubeconfig.check_access(FakeAws(sso, [other_account]), "e1", {})  # type: ignore[arg-type]
