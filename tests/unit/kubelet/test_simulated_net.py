"""Addresses of pods on simulated nodes: distinct, kept across restarts, checked config."""

from __future__ import annotations

import ipaddress

import pytest

from hyperpod.runtime.simulated_net import SimulatedAddresses, is_simulated, simulated_range


def test_each_pod_gets_its_own_address_and_keeps_it() -> None:
    ips = SimulatedAddresses(ipaddress.IPv4Network("127.64.0.0/30"))
    a, b = ips.take("a"), ips.take("b")
    assert {a, b} == {"127.64.0.1", "127.64.0.2"}
    assert ips.take("a") == a
    with pytest.raises(RuntimeError, match="exhausted"):
        ips.take("c")
    ips.release("a")
    assert ips.take("c") == a


def test_addresses_pods_already_have_are_not_handed_out_again() -> None:
    ips = SimulatedAddresses(ipaddress.IPv4Network("127.64.0.0/29"))
    ips.keep("old", "127.64.0.1")
    ips.keep("other", "127.0.0.1")  # not from the range: ignored
    assert ips.take("new") == "127.64.0.2"
    assert ips.take("old") == "127.64.0.1"


def test_the_range_setting_is_checked() -> None:
    assert str(simulated_range(None)) == "127.64.0.0/11"
    assert is_simulated("127.70.1.2", simulated_range(None))
    assert not is_simulated("127.112.0.5", simulated_range(None))
    for bad, why in (
        ("nope", "not a CIDR"),
        ("10.0.0.0/8", "inside 127"),
        ("127.0.0.0/24", "127.0.0.1"),
    ):
        with pytest.raises(ValueError, match=f"kubelet.simulatedPodIPRange .*{why}"):
            simulated_range(bad)
