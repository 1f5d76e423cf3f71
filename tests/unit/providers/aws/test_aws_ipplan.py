"""IP planning: capacities computed by hand from the reference's rule (size - 5) // IPs per node."""

from __future__ import annotations

import pytest

from hyperpod.providers.aws import ipplan
from hyperpod.providers.aws.ipplan import GroupNeed


@pytest.mark.parametrize(
    ("cidr", "usable", "p5_nodes"),
    [
        ("10.1.0.0/24", 251, 3),
        ("10.1.0.0/23", 507, 6),
        ("10.1.0.0/22", 1019, 12),
        ("10.1.0.0/21", 2043, 25),
        ("10.1.0.0/20", 4091, 50),
        ("10.1.0.0/19", 8187, 101),
        ("10.1.0.0/16", 65531, 809),
    ],
)
def test_a_subnet_holds_the_p5_nodes_the_reference_lists(
    cidr: str, usable: int, p5_nodes: int
) -> None:
    assert ipplan.usable_ips(cidr) == usable
    assert ipplan.max_nodes(cidr, "ml.p5.48xlarge") == p5_nodes


def test_other_types_follow_the_same_rule() -> None:
    # /22: 1019 usable; p4d 51 -> 19; trn1 57 -> 17; g5.48xlarge 15 -> 67
    assert ipplan.max_nodes("10.1.0.0/22", "ml.p4d.24xlarge") == 19
    assert ipplan.max_nodes("10.1.0.0/22", "ml.trn1.32xlarge") == 17
    assert ipplan.max_nodes("10.1.0.0/22", "ml.g5.48xlarge") == 67


def test_an_unknown_type_has_no_estimate() -> None:
    with pytest.raises(KeyError):
        ipplan.ips_per_node("ml.zz9.huge")


def test_a_plan_too_big_for_its_subnet_suggests_a_block_that_fits() -> None:
    # 8 p5 (648) + 4 g5.8xlarge (60) = 708 IPs; a /24 has 251; a /22 (1019) is the smallest fit
    needs = [GroupNeed("p5", "ml.p5.48xlarge", 8, 81), GroupNeed("g5", "ml.g5.8xlarge", 4, 15)]
    p = ipplan.plan("10.1.0.0/24", needs)
    assert p.needed == 708
    assert not p.fits
    assert p.suggested_cidr() == "10.1.0.0/22"
    # with 4 g5 nodes (60 IPs) kept, 191 IPs remain for p5: 2 nodes
    assert p.max_nodes_of(needs[0]) == 2


def test_more_than_a_slash_16_holds_has_no_suggestion() -> None:
    p = ipplan.plan("10.1.0.0/16", [GroupNeed("p5", "ml.p5.48xlarge", 810, 81)])
    assert not p.fits
    assert p.suggested_cidr() is None


def test_prefix_for_picks_the_smallest_block() -> None:
    assert ipplan.prefix_for(11) == 28  # 16 - 5 = 11
    assert ipplan.prefix_for(12) == 27
    assert ipplan.prefix_for(65531) == 16
    assert ipplan.prefix_for(65532) is None
