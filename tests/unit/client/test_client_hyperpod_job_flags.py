"""The HyperPod-only create flags: placement, topology, elastic bounds, MIG partitions."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from hyperpod.cli.main import cli
from hyperpod.client import hyperpod_job as hj
from hyperpod.client import pytorch_job as pj
from hyperpod.client.errors import InvalidJobSpec


def spec(**kw: object) -> pj.JobSpec:
    return pj.JobSpec(job_name="j", image="local/python", **kw)  # type: ignore[arg-type]


def pod_of(job: dict) -> dict:
    return job["spec"]["replicaSpecs"][0]["template"]


def test_placement_flags_land_where_the_real_cli_puts_them() -> None:
    job = hj.build(
        spec(),
        hj.HyperPodOptions(
            deep_health_check_passed_nodes_only=True,
            scheduler_type="my-scheduler",
            preferred_topology="topology.k8s.aws/network-node-layer-2",
        ),
    )
    template = pod_of(job)
    assert template["spec"]["nodeSelector"][hj.DEEP_HEALTH_LABEL] == "Passed"
    assert template["spec"]["schedulerName"] == "my-scheduler"
    assert template["metadata"]["annotations"] == {
        hj.PREFERRED_TOPOLOGY: "topology.k8s.aws/network-node-layer-2"
    }


def test_elastic_flags_make_an_elastic_policy_and_a_snooze_restart_policy() -> None:
    job = hj.build(
        spec(node_count=2),
        hj.HyperPodOptions(
            max_replica_count=8,
            elastic_replica_discrete_values=[2, 4, 8],
            elastic_graceful_shutdown_timeout_in_seconds=30,
            elastic_scale_up_snooze_time_in_seconds=120,
        ),
    )
    assert job["spec"]["replicaSpecs"][0]["maxReplicas"] == 8
    assert job["spec"]["elasticPolicy"] == {
        "minReplicas": 2,
        "maxReplicas": 8,
        "gracefulShutdownTimeoutInSeconds": 30,
        "replicaDiscreteValues": [2, 4, 8],
    }
    assert job["spec"]["runPolicy"]["restartPolicy"] == {
        "evalPeriodSeconds": 3600,
        "scaleUpSnoozeTimeInSeconds": 120,
    }


def test_partitions_replace_whole_gpus_and_take_their_share_of_cpu_and_memory() -> None:
    job = hj.build(
        spec(instance_type="ml.p5.48xlarge"),
        hj.HyperPodOptions(accelerator_partition_type="mig-1g.10gb", accelerator_partition_count=7),
    )
    container = pod_of(job)["spec"]["containers"][0]
    # 7 one-slice partitions = one of the 8 GPUs: 1/8 of 192 vCPU and 2048 GiB.
    assert container["resources"]["requests"] == {
        "cpu": "24",
        "memory": "256Gi",
        "nvidia.com/mig-1g.10gb": "7",
    }
    assert container["resources"]["limits"] == {"nvidia.com/mig-1g.10gb": "7"}
    assert pod_of(job)["spec"]["nodeSelector"]["nvidia.com/mig.config.state"] == "success"
    assert job["spec"]["nprocPerNode"] == "7"


@pytest.mark.parametrize(
    ("kw", "extra", "needle"),
    [
        ({}, {"accelerator_partition_type": "mig-1g.10gb"}, "needs --instance-type"),
        (
            {"instance_type": "ml.g5.xlarge"},
            {"accelerator_partition_type": "mig-1g.10gb"},
            "does not support accelerator partitions",
        ),
        (
            {"instance_type": "ml.p5.48xlarge"},
            {"accelerator_partition_type": "mig-1g.5gb"},
            "not supported on 'ml.p5.48xlarge'",
        ),
        (
            {"instance_type": "ml.p5.48xlarge", "accelerators": 1},
            {"accelerator_partition_type": "mig-1g.10gb"},
            "cannot be combined with --accelerators",
        ),
        ({}, {"accelerator_partition_count": 2}, "need --accelerator-partition-type"),
        ({}, {"required_topology": "rack"}, "not a topology label"),
        (
            {},
            {"elastic_replica_increment_step": 1, "elastic_replica_discrete_values": [2]},
            "exclude each other",
        ),
        ({"node_count": 4}, {"max_replica_count": 2}, "below --node-count"),
    ],
)
def test_bad_combinations_are_refused_naming_the_flag(kw: dict, extra: dict, needle: str) -> None:
    with pytest.raises(InvalidJobSpec, match=needle):
        hj.build(spec(**kw), hj.HyperPodOptions(**extra))


def test_hyperpod_only_flags_on_a_kubeflow_job_are_refused_with_a_hint() -> None:
    res = CliRunner().invoke(
        cli,
        ["create", "hyp-pytorch-job", "--job-name", "j", "--image", "local/python",
         "--kind", "pytorchjob", "--scheduler-type", "s", "--dry-run"],
    )  # fmt: skip
    assert res.exit_code == 1
    assert "only apply to a HyperPodPyTorchJob" in res.output
    assert "drop --kind pytorchjob" in res.output


def test_create_flags_reach_the_manifest_through_the_cli() -> None:
    res = CliRunner().invoke(
        cli,
        ["create", "hyp-pytorch-job", "--job-name", "j", "--image", "local/python",
         "--version", "1.1", "--max-replica-count", "3",
         "--elastic-replica-discrete-values", "[1, 3]", "--dry-run"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "replicaDiscreteValues:\n    - 1\n    - 3" in res.output
