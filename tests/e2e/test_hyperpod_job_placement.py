"""HyperPod placement flags and the template flow against a real control plane.

Simulated p5 nodes split into MIG partitions answer ``hyp list-accelerator-partition-type``; a
job asking for partitions (and deep-health-checked nodes only) is scheduled onto them; a job
made with ``hyp init hyp-pytorch-job`` / ``configure`` / ``create`` is submitted from
``run/<timestamp>/k8s.yaml`` and its pods run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from hyperpod.cli.main import cli
from support import RunningControlPlane, start_control_plane

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
Obj = dict[str, Any]
SIMULATED = [
    {"group": "mig", "instanceType": "ml.p5.48xlarge", "count": 2, "migProfile": "mig-1g.10gb"},
    {"group": "whole", "instanceType": "ml.p5.48xlarge", "count": 1},
]


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    control = start_control_plane(
        tmp_path_factory.mktemp("hpplacement"), {"nodes": {"simulated": SIMULATED}}
    )
    yield control
    control.stop()


def hyp(cp: RunningControlPlane, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--kubeconfig", str(cp.kubeconfig), *args])


def pods(cp: RunningControlPlane, job: str) -> list[Obj]:
    out = cp.kubectl("get", "pods", "-l", f"HPJob={job}", "-o", "json").stdout
    return list(json.loads(out)["items"])


def wait_running(cp: RunningControlPlane, job: str, count: int) -> list[Obj]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = pods(cp, job)
        if len(found) == count and all(p["status"].get("phase") == "Running" for p in found):
            return found
        time.sleep(0.5)
    raise AssertionError(json.dumps(pods(cp, job))[:2000])


def test_partition_types_are_listed_from_the_nodes_that_offer_them(
    cp: RunningControlPlane,
) -> None:
    res = hyp(cp, "list-accelerator-partition-type", "--instance-type", "ml.p5.48xlarge")
    assert res.exit_code == 0, res.output
    assert res.output.split() == ["mig-1g.10gb"]
    res = hyp(cp, "list-accelerator-partition-type", "--instance-type", "ml.g5.xlarge")
    assert res.exit_code == 1 and "does not support accelerator partitions" in res.output


def test_a_partition_job_lands_on_partitioned_deep_health_checked_nodes(
    cp: RunningControlPlane,
) -> None:
    res = hyp(
        cp, "create", "hyp-pytorch-job", "--job-name", "slices", "--image", "local/python",
        "--kind", "hyperpodpytorchjob", "--node-count", "2",
        "--instance-type", "ml.p5.48xlarge", "--accelerator-partition-type", "mig-1g.10gb",
        "--accelerator-partition-count", "4", "--deep-health-check-passed-nodes-only",
        "--required-topology", "topology.k8s.aws/network-node-layer-3",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    running = wait_running(cp, "slices", 2)
    nodes = {p["spec"]["nodeName"] for p in running}
    assert nodes <= {"mig-0", "mig-1"}, nodes
    node = json.loads(cp.kubectl("get", "node", "mig-0", "-o", "json").stdout)
    assert node["metadata"]["labels"]["topology.k8s.aws/network-node-layer-3"]
    pod = running[0]
    assert pod["spec"]["containers"][0]["resources"]["limits"] == {"nvidia.com/mig-1g.10gb": "4"}


def test_a_job_from_the_template_flow_is_submitted_from_its_run_directory(
    cp: RunningControlPlane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert hyp(cp, "init", "hyp-pytorch-job").exit_code == 0
    res = hyp(
        cp, "configure", "--job-name", "templated", "--image", "local/python",
        "--command", "[sleep, '600']", "--node-count", "2", "--instance-type", "ml.p5.48xlarge",
        "--label-selector", "sagemaker.amazonaws.com/instance-group-name=whole",
        "--accelerators", "4",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert hyp(cp, "validate").exit_code == 0
    res = hyp(cp, "create")
    assert res.exit_code == 0, res.output
    assert "Created HyperPodPyTorchJob 'templated'" in res.output
    (run,) = list((tmp_path / "run").iterdir())
    assert (run / "k8s.yaml").exists() and (run / "config.yaml").exists()
    running = wait_running(cp, "templated", 2)
    assert {p["spec"]["nodeName"] for p in running} == {"whole-0"}
