"""Pod IPs for pods on simulated nodes: distinct addresses where nothing listens.

A simulated pod runs no process, yet a Service selecting it lists it in its EndpointSlices
like any pod (``kubectl get endpointslices`` counts simulated inference replicas next to real
ones). Each gets its own address from ``kubelet.simulatedPodIPRange`` (default
``127.64.0.0/11``: inside 127.0.0.0/8, clear of the service range 127.96.0.0/16, the real pod
range 127.112.0.0/12 and 127.0.0.1), so no two pods share an IP, as Kubernetes requires, and a
connection to one is refused at once (nothing listens there) instead of reaching whatever
this machine runs on 127.0.0.1. The service proxy never forwards to these addresses.
"""

from __future__ import annotations

import ipaddress

DEFAULT_RANGE = "127.64.0.0/11"
LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")


def simulated_range(configured: str | None) -> ipaddress.IPv4Network:
    """The configured range (``kubelet.simulatedPodIPRange``); raises ValueError naming the
    field when it is unusable."""
    text = configured or DEFAULT_RANGE
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(
            f"kubelet.simulatedPodIPRange {text!r} is not a CIDR (for example {DEFAULT_RANGE})"
        ) from None
    if not isinstance(net, ipaddress.IPv4Network) or not net.subnet_of(LOOPBACK):
        raise ValueError(f"kubelet.simulatedPodIPRange {text!r} must lie inside 127.0.0.0/8")
    if ipaddress.ip_address("127.0.0.1") in net:
        raise ValueError(f"kubelet.simulatedPodIPRange {text!r} must not contain 127.0.0.1")
    return net


def is_simulated(ip: str, net: ipaddress.IPv4Network) -> bool:
    try:
        return ipaddress.ip_address(ip) in net
    except ValueError:
        return False


class SimulatedAddresses:
    """Allocates one address per pod uid; the pods' own ``status.podIP`` is the record."""

    def __init__(self, net: ipaddress.IPv4Network) -> None:
        self.net = net
        self.by_uid: dict[str, int] = {}
        self.taken: set[int] = set()
        self.first = int(net.network_address) + 1
        self.last = int(net.broadcast_address) - 1
        self.cursor = self.first

    def keep(self, uid: str, ip: str | None) -> None:
        """Record an address a pod already has (after a control-plane restart)."""
        if not ip or uid in self.by_uid or not is_simulated(ip, self.net):
            return
        n = int(ipaddress.ip_address(ip))
        if n not in self.taken:
            self.by_uid[uid] = n
            self.taken.add(n)

    def take(self, uid: str) -> str:
        if uid in self.by_uid:
            return str(ipaddress.ip_address(self.by_uid[uid]))
        size = self.last - self.first + 1
        for _ in range(size):
            n, self.cursor = self.cursor, self.cursor + 1 if self.cursor < self.last else self.first
            if n not in self.taken:
                self.by_uid[uid] = n
                self.taken.add(n)
                return str(ipaddress.ip_address(n))
        raise RuntimeError(f"kubelet.simulatedPodIPRange {self.net} is exhausted")

    def release(self, uid: str) -> None:
        n = self.by_uid.pop(uid, None)
        if n is not None:
            self.taken.discard(n)
