"""Kueue topology-aware scheduling end to end: ``hyp create hyp-pytorch-job --required-topology``.

Six simulated p5 nodes: the first four hang off one layer-3 switch, the last two off another
(``runtime.nodes.topology_labels``). The team's ResourceFlavor names a Topology of the three
network layers. A 2-node job requiring layer 3 lands on the switch it fits best (the two-node
one); a 3-node job requiring layer 3 lands on the other switch, whole; a 5-node job requiring
layer 3 fits no switch and stays pending with Kueue's message; a queued batch Job asking for
layer 3 has its pods kept inside one switch too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from hyperpod.api.topology import LAYER_PREFIX
from hyperpod.cli.main import cli
from support import RunningControlPlane, start_control_plane

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
Obj = dict[str, Any]
L3 = f"{LAYER_PREFIX}3"
TEAM_NS = "hyperpod-ns-net"
TOPOLOGY = {
    "apiVersion": "kueue.x-k8s.io/v1beta1",
    "kind": "Topology",
    "metadata": {"name": "aws-network"},
    "spec": {"levels": [{"nodeLabel": f"{LAYER_PREFIX}{i}"} for i in (1, 2, 3)]},
}


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    simulated = [{"group": "p5", "instanceType": "ml.p5.48xlarge", "count": 6}]
    control = start_control_plane(
        tmp_path_factory.mktemp("kueuetas"), {"nodes": {"simulated": simulated}}
    )
    yield control
    control.stop()


def hyp(cp: RunningControlPlane, *args: str) -> str:
    res = CliRunner().invoke(cli, ["--kubeconfig", str(cp.kubeconfig), *args])
    assert res.exit_code == 0, res.output
    return res.output


def submit(cp: RunningControlPlane, name: str, nodes: int) -> None:
    hyp(
        cp, "create", "hyp-pytorch-job", "--job-name", name, "--image", "my/train:1",
        "--command", "[python, train.py]", "--instance-type", "ml.p5.48xlarge",
        "--node-count", str(nodes), "--queue-name", f"{TEAM_NS}-localqueue", "-n", TEAM_NS,
        "--required-topology", L3,
    )  # fmt: skip


def switches_of(cp: RunningControlPlane, job: str, count: int) -> set[str]:
    """The layer-3 switches under the job's pods once all ``count`` are bound."""
    deadline = time.monotonic() + 90
    nodes: list[str] = []
    while time.monotonic() < deadline:
        out = cp.kubectl("get", "pods", "-n", TEAM_NS, "-l", f"HPJob={job}", "-o", "json").stdout
        nodes = [p["spec"].get("nodeName") for p in json.loads(out)["items"]]
        if len(nodes) == count and all(nodes):
            break
        time.sleep(0.5)
    assert len(nodes) == count and all(nodes), nodes
    labels = {
        n["metadata"]["name"]: n["metadata"]["labels"].get(L3)
        for n in json.loads(cp.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    }
    return {labels[n] for n in nodes}


def test_required_topology_places_each_job_inside_one_switch(cp: RunningControlPlane) -> None:
    cp.kubectl("apply", "-f", "-", input=json.dumps(TOPOLOGY))
    hyp(cp, "create", "compute-quota", "--team", "net", "--instance-type", "ml.p5.48xlarge",
        "--count", "6")  # fmt: skip
    cp.kubectl(
        "patch", "resourceflavor", "ml.p5.48xlarge", "--type", "merge",
        "-p", '{"spec": {"topologyName": "aws-network"}}',
    )  # fmt: skip
    nodes = json.loads(cp.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    sizes: dict[str, int] = {}
    for n in nodes:
        if L3 in n["metadata"]["labels"]:
            sizes[n["metadata"]["labels"][L3]] = sizes.get(n["metadata"]["labels"][L3], 0) + 1
    assert sorted(sizes.values()) == [2, 4]
    small = next(s for s, k in sizes.items() if k == 2)
    large = next(s for s, k in sizes.items() if k == 4)

    submit(cp, "pair", 2)
    assert switches_of(cp, "pair", 2) == {small}  # best fit: the two-node switch
    submit(cp, "trio", 3)
    assert switches_of(cp, "trio", 3) == {large}
    wl = cp.kubectl("get", "workloads", "-n", TEAM_NS, "-o", "json").stdout
    assigned = {
        w["metadata"]["ownerReferences"][0]["name"]: w["status"]["admission"]
        for w in json.loads(wl)["items"]
        if (w.get("status") or {}).get("admission")
    }
    psa = assigned["pair"]["podSetAssignments"][0]
    assert psa["topologyAssignment"]["domains"][0]["values"][-1] == small

    # Quota for 6 nodes, but no switch has 5: the job waits, saying why.
    hyp(cp, "delete", "hyp-pytorch-job", "--job-name", "pair", "-n", TEAM_NS)
    hyp(cp, "delete", "hyp-pytorch-job", "--job-name", "trio", "-n", TEAM_NS)
    submit(cp, "five", 5)
    deadline = time.monotonic() + 60
    message = ""
    while time.monotonic() < deadline and "domain has room" not in message:
        for w in json.loads(cp.kubectl("get", "workloads", "-n", TEAM_NS, "-o", "json").stdout)[
            "items"
        ]:
            for c in (w.get("status") or {}).get("conditions") or []:
                if c["type"] == "QuotaReserved" and c["status"] == "False":
                    message = c.get("message", "")
        time.sleep(0.5)
    assert f"no {L3} domain has room for 5 pods (the roomiest has room for 4)" in message


def test_a_queued_batch_job_is_kept_inside_one_switch(cp: RunningControlPlane) -> None:
    # After the first test: the "five" job holds nothing; the flavor has the topology.
    pod = {
        "metadata": {"annotations": {"kueue.x-k8s.io/podset-required-topology": L3}},
        "spec": {
            "restartPolicy": "Never",
            "tolerations": [{"key": "hyperpod.local/simulated", "operator": "Exists"}],
            "containers": [
                {"name": "c", "image": "x", "command": ["true"],
                 "resources": {"requests": {"cpu": "100"}}}
            ],
        },
    }  # fmt: skip
    batch = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "sweep",
            "namespace": TEAM_NS,
            "labels": {"kueue.x-k8s.io/queue-name": f"{TEAM_NS}-localqueue"},
        },
        "spec": {"parallelism": 2, "completions": 2, "template": pod},
    }
    cp.kubectl("apply", "-f", "-", input=json.dumps(batch))
    deadline = time.monotonic() + 60
    selector: dict[str, str] = {}
    while time.monotonic() < deadline and L3 not in selector:
        got = json.loads(cp.kubectl("get", "job", "sweep", "-n", TEAM_NS, "-o", "json").stdout)
        selector = got["spec"]["template"]["spec"].get("nodeSelector") or {}
        time.sleep(0.5)
    assert selector.get(L3, "").startswith("nn-sim-l3-"), selector
