"""Service defaulting like kube-apiserver, and the ``default/kubernetes`` Service.

Every Service of type ClusterIP, NodePort or LoadBalancer gets a ``clusterIP`` allocated from
the service CIDR (``services.clusterIPRange`` in the control-plane config, default
``127.96.0.0/16``: inside 127.0.0.0/8, so addresses stay on this machine, and clear of
127.0.0.1), plus ``clusterIPs``, ``ipFamilies: [IPv4]``, ``ipFamilyPolicy: SingleStack`` and
``status: {loadBalancer: {}}``. A requested ``clusterIP`` must lie in the range and be free. The first address of the range belongs to ``default/kubernetes``, whose
Endpoints point at this API server (127.0.0.1 and its port). NodePort and LoadBalancer
Services get node ports (``apiserver/nodeports.py``); ``hyperpod.proxy`` forwards the traffic.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from hyperpod.apiserver.errors import cause
from hyperpod.apiserver.nodeports import NodePorts
from hyperpod.apiserver.registry import Registry

Obj = dict[str, Any]
DEFAULT_RANGE = "127.96.0.0/16"


def _invalid(field: str, value: Any, message: str) -> dict[str, str]:
    if isinstance(value, list):  # Go's %#v of a []string, as kube-apiserver prints it
        shown = "[]string{" + ", ".join(f'"{v}"' for v in value) + "}"
    else:
        shown = f'"{value}"'
    return cause(field, f"Invalid value: {shown}: {message}")


class ClusterIPs:
    """Allocates cluster IPs from the service CIDR; registered as the Services admission hooks."""

    def __init__(self, reg: Registry, cidr: str = DEFAULT_RANGE) -> None:
        self.reg = reg
        try:
            net = ipaddress.ip_network(cidr, strict=False)
        except ValueError as exc:
            raise ValueError(
                f"services.clusterIPRange {cidr!r} is not a CIDR (for example {DEFAULT_RANGE})"
            ) from exc
        if not isinstance(net, ipaddress.IPv4Network) or net.num_addresses < 4:
            raise ValueError(
                f"services.clusterIPRange {cidr!r} must be an IPv4 range of 4+ addresses"
            )
        if ipaddress.ip_address("127.0.0.1") in net:
            raise ValueError(f"services.clusterIPRange {cidr!r} must not contain 127.0.0.1")
        self.net = net

    @property
    def kubernetes_ip(self) -> str:
        return str(self.net.network_address + 1)

    def _used(self, skip: tuple[str, str] | None = None) -> set[str]:
        used: set[str] = set()
        for svc in self.reg.list("services"):
            md = svc.get("metadata") or {}
            if skip is not None and (md.get("namespace"), md.get("name")) == skip:
                continue
            for ip in (svc.get("spec") or {}).get("clusterIPs") or []:
                used.add(ip)
        return used

    def _key(self, obj: Obj) -> tuple[str, str]:
        md = obj.get("metadata") or {}
        return str(md.get("namespace") or "default"), str(md.get("name") or "")

    def default(self, obj: Obj) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        status = obj.setdefault("status", {})
        if isinstance(status, dict):
            status.setdefault("loadBalancer", {})
        if spec.get("type", "ClusterIP") == "ExternalName":
            return
        ip = spec.get("clusterIP") or ""
        if not ip:
            ips = spec.get("clusterIPs")
            if isinstance(ips, list) and ips and isinstance(ips[0], str):
                ip = ips[0]
        if not ip:
            ns, name = self._key(obj)
            current = self.reg.try_get("services", name, ns) if name else None
            ip = ((current or {}).get("spec") or {}).get("clusterIP") or ""
        if not ip:
            ip = self._allocate()
        if not ip:
            return  # range exhausted: validate() says so
        spec["clusterIP"] = ip
        spec.setdefault("clusterIPs", [ip])
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")

    def _allocate(self) -> str:
        used = self._used()
        for addr in self.net.hosts():
            text = str(addr)
            if text != self.kubernetes_ip and text not in used:
                return text
        return ""

    def validate(self, obj: Obj, old: Obj | None) -> list[dict[str, str]]:
        spec = obj.get("spec")
        if not isinstance(spec, dict) or spec.get("type", "ClusterIP") == "ExternalName":
            return []
        ip = spec.get("clusterIP")
        if old is not None and ip == ((old.get("spec") or {}).get("clusterIP")):
            return []  # kept (a change is refused by validation as immutable)
        if not ip:
            return [
                _invalid(
                    "spec.clusterIPs",
                    [],
                    f"failed to allocate IP: the service IP range {self.net} is full",
                )
            ]
        if ip == "None":
            return []
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return [_invalid("spec.clusterIPs[0]", ip, "must be a valid IP address")]
        if addr not in self.net or addr in (self.net.network_address, self.net.broadcast_address):
            return [
                _invalid(
                    "spec.clusterIPs",
                    [ip],
                    f"failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid "
                    f"range. The range of valid IPs is {self.net}",
                )
            ]
        if ip in self._used(skip=self._key(obj)):
            return [
                _invalid(
                    "spec.clusterIPs",
                    [ip],
                    f"failed to allocate IP {ip}: provided IP is already allocated",
                )
            ]
        return []


def install(reg: Registry, cluster_ip_range: str | None, port: int) -> ClusterIPs:
    """Register Service defaulting and keep ``default/kubernetes`` pointing at ``port``."""
    cidr = cluster_ip_range or DEFAULT_RANGE
    ips = ClusterIPs(reg, cidr)
    reg.add_admission("services", ips.default, ips.validate)
    node_ports = NodePorts(reg)
    reg.add_admission("services", node_ports.default, node_ports.validate)
    labels = {"component": "apiserver", "provider": "kubernetes"}
    ports = [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]
    svc: Obj = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": labels},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": ips.kubernetes_ip,
            "ports": ports,
            "sessionAffinity": "None",
        },
    }
    current = reg.try_get("services", "kubernetes", "default")
    if current is None:
        reg.create("services", svc, "default")
    elif (current.get("spec") or {}).get("ports") != ports:
        current["spec"]["ports"] = ports
        reg.update("services", current, "default")
    subsets = [
        {
            "addresses": [{"ip": "127.0.0.1"}],
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
        }
    ]
    ep = reg.try_get("endpoints", "kubernetes", "default")
    if ep is None:
        reg.create(
            "endpoints",
            {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {
                    "name": "kubernetes",
                    "namespace": "default",
                    "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"},
                },
                "subsets": subsets,
            },
            "default",
        )
    elif ep.get("subsets") != subsets:
        ep["subsets"] = subsets
        reg.update("endpoints", ep, "default")
    return ips
