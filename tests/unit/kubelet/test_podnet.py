"""Pod addresses: one loopback address per pod, kept in the sandbox, freed with it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hyperpod.kubelet.podnet import (
    PodAddresses,
    host_lines,
    hosts_text,
    probe_hosts_mount,
    with_hosts,
)


def test_each_pod_gets_its_own_address_and_keeps_it(tmp_path: Path) -> None:
    pods = tmp_path / "pods"
    addrs = PodAddresses(pods, "127.200.0.0/24")
    a = addrs.ensure("uid-a", pods / "uid-a")
    b = addrs.ensure("uid-b", pods / "uid-b")
    assert (a, b) == ("127.200.0.1", "127.200.0.2")
    assert addrs.ensure("uid-a", pods / "uid-a") == a
    # A restarted kubelet reads the addresses back from the sandboxes.
    again = PodAddresses(pods, "127.200.0.0/24")
    assert again.ensure("uid-c", pods / "uid-c") == "127.200.0.3"
    assert again.ensure("uid-b", pods / "uid-b") == b


def test_a_released_address_is_reused(tmp_path: Path) -> None:
    pods = tmp_path / "pods"
    addrs = PodAddresses(pods, "127.200.0.0/24")
    addrs.ensure("uid-a", pods / "uid-a")
    addrs.release("uid-a")
    assert addrs.ensure("uid-b", pods / "uid-b") == "127.200.0.1"


@pytest.mark.parametrize("cidr", ["10.0.0.0/24", "127.0.0.0/24"])
def test_ranges_outside_loopback_or_holding_127_0_0_1_are_refused(
    tmp_path: Path, cidr: str
) -> None:
    with pytest.raises(ValueError, match="podIPRange"):
        PodAddresses(tmp_path, cidr)


def test_the_hosts_file_names_the_pod_and_the_services_with_their_cluster_ips() -> None:
    pod = {
        "metadata": {"name": "web-0", "namespace": "team"},
        "spec": {"hostAliases": [{"ip": "127.0.0.9", "hostnames": ["db"]}]},
    }
    text = hosts_text(pod, "127.112.0.4", {"team": {"web": "127.96.0.7", "job": "None"}})
    lines = text.splitlines()
    assert "127.112.0.4\tweb-0" in lines
    assert "127.0.0.9\tdb" in lines
    assert "127.96.0.7\tweb web.team web.team.svc web.team.svc.cluster.local" in lines
    assert "job" not in text  # headless: no single address


def test_a_process_started_with_the_pod_hosts_file_resolves_service_names(
    tmp_path: Path,
) -> None:
    wrapper = probe_hosts_mount(tmp_path / "probe")
    if wrapper is None:
        pytest.skip("this machine cannot give a process its own mount namespace")
    hosts = tmp_path / "hosts"
    pod = {"metadata": {"name": "web-0", "namespace": "team"}, "spec": {}}
    hosts.write_text(hosts_text(pod, "127.112.0.4", {"team": {"web": "127.96.0.7"}}, host_lines()))
    code = "import socket; print(socket.gethostbyname('web.team.svc.cluster.local'))"
    out = subprocess.run(
        with_hosts(hosts, [sys.executable, "-c", code], wrapper),
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "127.96.0.7"
    assert "web.team.svc" not in Path("/etc/hosts").read_text()  # the host's file is untouched


def test_the_machines_own_hosts_lines_come_first(tmp_path: Path) -> None:
    own = tmp_path / "etc-hosts"
    own.write_text("127.0.1.1 buildbox")
    text = hosts_text({"metadata": {"name": "p"}}, "127.112.0.9", {}, host_lines(own))
    assert text.splitlines()[0] == "127.0.1.1 buildbox"
    assert "127.112.0.9\tp" in text.splitlines()
