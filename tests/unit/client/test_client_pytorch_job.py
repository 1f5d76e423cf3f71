"""The pure PyTorchJob builder behind `hyp create hyp-pytorch-job`."""

from __future__ import annotations

import pytest

from hyperpod.client import pytorch_job as pj
from hyperpod.client.errors import InvalidJobSpec


def _container(manifest: dict, rtype: str = "Master") -> dict:
    return manifest["spec"]["pytorchReplicaSpecs"][rtype]["template"]["spec"]["containers"][0]


def test_the_reserve_follows_the_published_tiers() -> None:
    # 0.5 + 0.3*4 + 0.25*4 + 0.2*8 + 0.17*112 + 0.07*(2048-128)
    assert pj.memory_reserve_gib(2048) == pytest.approx(0.5 + 1.2 + 1.0 + 1.6 + 19.04 + 134.4)
    assert pj.memory_reserve_gib(4) == pytest.approx(0.5 + 1.2)
    # 0.1 + 0.3 + 0.15 + 0.1*2 + 0.06*(192-4)
    assert pj.cpu_reserve_cores(192) == pytest.approx(0.1 + 0.3 + 0.15 + 0.2 + 0.06 * 188)
    assert pj.cpu_reserve_cores(1) == pytest.approx(0.4)


def test_requests_from_an_instance_type_leave_room_for_system_pods() -> None:
    manifest = pj.build(pj.JobSpec("llm", "img", instance_type="ml.p5.48xlarge", node_count=4))
    res = _container(manifest)["resources"]
    assert res["requests"]["cpu"] == "179970m"  # 192 - 12.03
    assert res["requests"]["memory"] == pj.memory_quantity(2048 - pj.memory_reserve_gib(2048))
    assert res["requests"]["nvidia.com/gpu"] == res["limits"]["nvidia.com/gpu"] == "8"
    assert res["requests"]["vpc.amazonaws.com/efa"] == "32"
    assert manifest["spec"]["nprocPerNode"] == "8"
    pod = manifest["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]
    assert pod["nodeSelector"] == {"node.kubernetes.io/instance-type": "ml.p5.48xlarge"}
    assert pod["tolerations"] == [pj.SIMULATED_TOLERATION]


def test_without_an_instance_type_the_pods_do_not_tolerate_simulated_nodes() -> None:
    pod = pj.build(pj.JobSpec("a", "img"))["spec"]["pytorchReplicaSpecs"]["Master"]["template"][
        "spec"
    ]
    assert "tolerations" not in pod and "nodeSelector" not in pod


def test_a_type_without_accelerators_never_asks_for_zero_gpus() -> None:
    res = _container(pj.build(pj.JobSpec("cpu", "img", instance_type="ml.m5.2xlarge")))["resources"]
    assert "nvidia.com/gpu" not in res["requests"]
    assert "limits" not in res
    assert "vpc.amazonaws.com/efa" not in res["requests"]


def test_zero_accelerators_are_left_out_rather_than_requested() -> None:
    res = _container(pj.build(pj.JobSpec("cpu", "img", accelerators=0, vcpu=2)))["resources"]
    assert res == {"requests": {"cpu": "2"}}


def test_half_the_accelerators_get_half_the_node() -> None:
    res = _container(
        pj.build(pj.JobSpec("half", "img", instance_type="ml.p5.48xlarge", accelerators=4))
    )
    assert res["resources"]["requests"]["cpu"] == "89985m"
    assert res["resources"]["requests"]["vpc.amazonaws.com/efa"] == "16"


def test_neuron_instances_request_neuron_devices() -> None:
    res = _container(pj.build(pj.JobSpec("trn", "img", instance_type="trn1.32xlarge")))["resources"]
    assert res["requests"]["aws.amazon.com/neurondevice"] == "16"
    assert "nvidia.com/gpu" not in res["requests"]


@pytest.mark.parametrize(
    ("spec", "flag"),
    [
        (pj.JobSpec("x", "img", instance_type="ml.g5.xlarge", accelerators=2), "--accelerators"),
        (pj.JobSpec("x", "img", instance_type="ml.g5.xlarge", vcpu=4), "--vcpu"),
        (pj.JobSpec("x", "img", instance_type="ml.g5.xlarge", memory=16), "--memory"),
        (pj.JobSpec("x", "img", instance_type="ml.bogus"), "--instance-type"),
        (pj.JobSpec("Bad_Name", "img"), "--job-name"),
        (pj.JobSpec("x", ""), "--image"),
        (pj.JobSpec("x", "img", node_count=0), "--node-count"),
        (pj.JobSpec("x", "img", vcpu=2, vcpu_limit=1), "--vcpu-limit"),
        (pj.JobSpec("x", "img", tasks_per_node="many"), "--tasks-per-node"),
        (pj.JobSpec("x", "img", namespace="Not_A_NS"), "--namespace"),
    ],
)
def test_bad_values_name_the_flag(spec: pj.JobSpec, flag: str) -> None:
    with pytest.raises(InvalidJobSpec) as info:
        pj.build(spec)
    assert flag in info.value.message


def test_one_node_is_a_master_and_more_nodes_add_workers() -> None:
    single = pj.build(pj.JobSpec("a", "img"))["spec"]["pytorchReplicaSpecs"]
    assert set(single) == {"Master"}
    three = pj.build(pj.JobSpec("a", "img", node_count=3))["spec"]["pytorchReplicaSpecs"]
    assert three["Master"]["replicas"] == 1
    assert three["Worker"]["replicas"] == 2


def test_queue_priority_and_auto_resume_become_labels_and_annotations() -> None:
    manifest = pj.build(
        pj.JobSpec("a", "img", queue_name="team-a", priority="high", auto_resume=True, max_retry=3)
    )
    meta = manifest["metadata"]
    assert meta["labels"] == {pj.QUEUE_LABEL: "team-a", pj.PRIORITY_LABEL: "high"}
    assert meta["annotations"] == {pj.AUTO_RESUME: "true", pj.MAX_RETRY: "3"}
    assert manifest["spec"]["runPolicy"] == {"backoffLimit": 3}
    template = manifest["spec"]["pytorchReplicaSpecs"]["Master"]["template"]
    assert template["metadata"]["labels"][pj.QUEUE_LABEL] == "team-a"


def test_volumes_mount_host_paths_and_claims() -> None:
    spec = pj.JobSpec(
        "a",
        "img",
        volumes=[
            pj.parse_volume("name=data,type=hostPath,mount_path=/data,path=/srv/data"),
            pj.parse_volume("name=ckpt,type=pvc,mount_path=/ckpt,claim_name=fsx,read_only=true"),
        ],
    )
    manifest = pj.build(spec)
    pod = manifest["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
    assert pod["volumes"] == [
        {"name": "data", "hostPath": {"path": "/srv/data"}},
        {"name": "ckpt", "persistentVolumeClaim": {"claimName": "fsx", "readOnly": True}},
    ]
    assert _container(manifest)["volumeMounts"][1] == {
        "name": "ckpt",
        "mountPath": "/ckpt",
        "readOnly": True,
    }


def test_command_lists_accept_the_bracket_form_and_shell_quoting() -> None:
    assert pj.parse_list("command", "[python, -m, hyperpod.examples.digits]") == [
        "python",
        "-m",
        "hyperpod.examples.digits",
    ]
    assert pj.parse_list("args", "--lr 0.1 --name 'a b'") == ["--lr", "0.1", "--name", "a b"]
    with pytest.raises(InvalidJobSpec):
        pj.parse_list("command", "[python, ")


def test_environment_accepts_json_and_key_value_pairs() -> None:
    env = pj.parse_mapping("environment", ['{"A": 1}', "B=2,C=x=y"])
    assert env == {"A": "1", "B": "2", "C": "x=y"}
    with pytest.raises(InvalidJobSpec) as info:
        pj.parse_mapping("environment", ["novalue"])
    assert "--environment" in info.value.message


def test_a_volume_without_its_path_is_refused() -> None:
    with pytest.raises(InvalidJobSpec) as info:
        pj.parse_volume("name=data,type=hostPath,mount_path=/data")
    assert "path=" in info.value.message


def test_list_and_mapping_flags_keep_user_arguments_as_typed() -> None:
    assert pj.parse_list("command", "[true]") == ["true"]
    assert pj.parse_list("args", "[yes, null, 010, 1.0, '~']") == ["yes", "null", "010", "1.0", "~"]
    assert pj.parse_mapping("environment", ["{A: yes, B: 010}"]) == {"A": "yes", "B": "010"}
