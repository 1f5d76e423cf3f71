"""IP address planning for the nodes' subnet: how many nodes a CIDR holds, and what CIDR a plan needs.

On EKS every node takes the IPs its VPC CNI keeps warm plus one per extra EFA card
(``InstanceType.ips_per_node_eks``, about 81 for a p5); AWS reserves 5 addresses per subnet.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from hyperpod.api import instance_types

AWS_RESERVED_PER_SUBNET = 5
SMALLEST_PREFIX = 16  # the largest block a VPC or subnet may have
LARGEST_PREFIX = 28  # the smallest one


def usable_ips(cidr: str) -> int:
    """Addresses a subnet can hand out: its size less the 5 AWS keeps."""
    net = ipaddress.IPv4Network(cidr, strict=False)
    return max(net.num_addresses - AWS_RESERVED_PER_SUBNET, 0)


def ips_per_node(instance_type: str) -> int:
    """IPs one node of ``instance_type`` takes on EKS; KeyError for an unknown type."""
    it = instance_types.get(instance_type)
    if it is None or not it.ips_per_node_eks:
        raise KeyError(instance_type)
    return it.ips_per_node_eks


def max_nodes(cidr: str, instance_type: str) -> int:
    """The largest number of ``instance_type`` nodes a subnet of ``cidr`` can hold."""
    return usable_ips(cidr) // ips_per_node(instance_type)


def prefix_for(ips_needed: int) -> int | None:
    """The longest prefix (smallest block) with at least ``ips_needed`` usable IPs, or None."""
    for prefix in range(LARGEST_PREFIX, SMALLEST_PREFIX - 1, -1):
        if 2 ** (32 - prefix) - AWS_RESERVED_PER_SUBNET >= ips_needed:
            return prefix
    return None


@dataclass(frozen=True)
class GroupNeed:
    group: str
    instance_type: str
    count: int
    ips_per_node: int

    @property
    def ips(self) -> int:
        return self.count * self.ips_per_node


@dataclass(frozen=True)
class SubnetPlan:
    """What a subnet holds against what the instance groups placed in it need."""

    cidr: str
    usable: int
    needs: tuple[GroupNeed, ...]

    @property
    def needed(self) -> int:
        return sum(n.ips for n in self.needs)

    @property
    def fits(self) -> bool:
        return self.needed <= self.usable

    def max_nodes_of(self, need: GroupNeed) -> int:
        """How many nodes of ``need``'s type fit when the other groups keep their counts."""
        others = self.needed - need.ips
        return max(self.usable - others, 0) // need.ips_per_node

    def suggested_cidr(self) -> str | None:
        """A block on the same base address large enough for the plan, or None past /16."""
        prefix = prefix_for(self.needed)
        if prefix is None:
            return None
        net = ipaddress.IPv4Network(self.cidr, strict=False)
        return str(ipaddress.IPv4Network(f"{net.network_address}/{prefix}", strict=False))


def plan(cidr: str, needs: list[GroupNeed], usable: int | None = None) -> SubnetPlan:
    """A subnet plan; ``usable`` overrides the computed figure (an existing subnet's free IPs)."""
    return SubnetPlan(cidr, usable_ips(cidr) if usable is None else usable, tuple(needs))


def capacity_table(cidr: str) -> dict[str, int]:
    """Largest node count of every known instance type a subnet of ``cidr`` holds."""
    return {
        name: usable_ips(cidr) // t.ips_per_node_eks
        for name, t in sorted(instance_types.INSTANCE_TYPES.items())
        if t.ips_per_node_eks
    }
