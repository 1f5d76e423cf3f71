"""The rendered CloudFormation template: cfn-lint finds zero errors for each example config,
and the parts that matter (self rules, gate ordering, reuse branches, FSx) are where they belong."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
import yaml

from hyperpod.api.aws_config import AwsClusterConfig
from hyperpod.providers.aws import lint, template

EXAMPLES = Path(__file__).parents[4] / "examples" / "aws"
CONFIGS = ["new-vpc", "reuse-vpc", "multi-group", "fsx", "reuse-everything"]
REUSE_EVERYTHING: dict[str, Any] = {
    "region": "us-west-2",
    "availability_zone_ids": ["usw2-az2"],
    "networking": {
        "create_vpc": False,
        "vpc_id": "vpc-0a1b2c3d4e5f60718",
        "create_private_subnet": False,
        "private_subnet_id": "subnet-0a1b2c3d4e5f60718",
        "create_security_group": False,
        "security_group_id": "sg-0a1b2c3d4e5f60718",
        "create_nat_gateway": False,
    },
    "eks": {"create": False, "cluster_name": "existing-eks"},
    "lifecycle": {"create_bucket": False, "bucket_name": "sagemaker-scripts"},
    "iam": {"create_role": False, "role_arn": "arn:aws:iam::123456789012:role/exec"},
    "node_provisioning_mode": None,
    "instance_groups": [
        {
            "name": "g",
            "instance_type": "ml.g5.8xlarge",
            "instance_count": 1,
            "training_plan_arn": "arn:aws:sagemaker:us-west-2:123456789012:training-plan/p",
        }
    ],
}


def _cfg(name: str) -> AwsClusterConfig:
    if name == "reuse-everything":
        return AwsClusterConfig.model_validate(REUSE_EVERYTHING)
    return AwsClusterConfig.model_validate(yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text()))


@functools.cache
def _rendered(name: str) -> dict[str, Any]:
    return template.render(_cfg(name))


def _types(tpl: dict[str, Any]) -> dict[str, str]:
    return {k: v["Type"] for k, v in tpl["Resources"].items()}


@pytest.mark.parametrize("name", CONFIGS)
def test_cfn_lint_finds_no_errors_in_the_template_of(name: str) -> None:
    cfg = _cfg(name)
    findings = lint.lint(_rendered(name), cfg.region or "us-east-1")
    assert lint.errors(findings) == [], [str(f) for f in findings]


def test_cfn_lint_reports_a_broken_template() -> None:
    broken = template.render(_cfg("new-vpc"))
    broken["Resources"]["HyperPodCluster"]["Properties"]["NotAProperty"] = 1
    errors = lint.errors(lint.lint(broken, "us-west-2"))
    assert any("NotAProperty" in f.message for f in errors)


def test_a_new_vpc_stack_has_every_part_in_one_template() -> None:
    types = set(_types(_rendered("new-vpc")).values())
    assert {
        "AWS::EC2::VPC",
        "AWS::EC2::Subnet",
        "AWS::EC2::NatGateway",
        "AWS::EC2::Route",
        "AWS::EC2::VPCCidrBlock",
        "AWS::EC2::SecurityGroup",
        "AWS::EC2::VPCEndpoint",
        "AWS::S3::Bucket",
        "AWS::IAM::Role",
        "AWS::EKS::Cluster",
        "AWS::EKS::Addon",
        "AWS::CloudFormation::WaitCondition",
        "AWS::SageMaker::Cluster",
    } <= types


def test_the_security_group_allows_all_traffic_to_and_from_itself() -> None:
    res = _rendered("new-vpc")["Resources"]
    ingress, egress = (
        res["SecurityGroupSelfIngress"]["Properties"],
        res["SecurityGroupSelfEgress"]["Properties"],
    )
    assert ingress["IpProtocol"] == "-1" and ingress["SourceSecurityGroupId"] == {
        "Ref": "SecurityGroup"
    }
    assert egress["IpProtocol"] == "-1" and egress["DestinationSecurityGroupId"] == {
        "Ref": "SecurityGroup"
    }


def test_the_hyperpod_cluster_waits_for_the_bootstrap_gate_which_waits_for_eks_and_the_bucket() -> (
    None
):
    res = _rendered("new-vpc")["Resources"]
    assert res["HyperPodCluster"]["DependsOn"] == "BootstrapGate"
    gate_deps = set(res["BootstrapGate"]["DependsOn"])
    assert {"EksCluster", "LifecycleBucket", "AddonVpcCni"} <= gate_deps
    props = res["HyperPodCluster"]["Properties"]
    assert props["Orchestrator"] == {"Eks": {"ClusterArn": {"Fn::GetAtt": ["EksCluster", "Arn"]}}}
    assert props["InstanceGroups"][0]["OnStartDeepHealthChecks"] == [
        "InstanceStress",
        "InstanceConnectivity",
    ]
    assert props["VpcConfig"]["Subnets"] == [{"Ref": "PrivateSubnet"}]


def test_a_reused_vpc_creates_no_vpc_and_uses_the_given_ids() -> None:
    tpl = _rendered("reuse-vpc")
    types = _types(tpl)
    assert "AWS::EC2::VPC" not in types.values()
    assert "AWS::EC2::NatGateway" not in types.values()
    assert (
        "SecurityGroup" not in types
        and "LifecycleBucket" not in types
        and "ExecutionRole" not in types
    )
    res = tpl["Resources"]
    assert res["NodeCidr"]["Properties"]["VpcId"] == "vpc-0a1b2c3d4e5f60718"
    hp = res["HyperPodCluster"]["Properties"]
    assert hp["VpcConfig"]["SecurityGroupIds"] == ["sg-0a1b2c3d4e5f60718"]
    assert (
        hp["InstanceGroups"][0]["ExecutionRole"]
        == "arn:aws:iam::123456789012:role/shared-hyperpod-exec"
    )


def test_every_instance_group_becomes_one_group_of_the_hyperpod_cluster() -> None:
    res = _rendered("multi-group")["Resources"]
    groups = res["HyperPodCluster"]["Properties"]["InstanceGroups"]
    assert [(g["InstanceGroupName"], g["InstanceType"], g["InstanceCount"]) for g in groups] == [
        ("system", "ml.m5.2xlarge", 2),
        ("h100", "ml.p5.48xlarge", 16),
        ("trn1", "ml.trn1.32xlarge", 4),
    ]
    assert groups[2]["InstanceStorageConfigs"] == [{"EbsVolumeConfig": {"VolumeSizeInGB": 1000}}]
    assert (
        res["AdminAccess1"]["Properties"]["PrincipalArn"]
        == "arn:aws:iam::123456789012:role/platform-admins"
    )


def test_fsx_goes_in_the_nodes_subnet_with_their_security_group() -> None:
    res = _rendered("fsx")["Resources"]
    fsx = res["FsxLustre"]["Properties"]
    assert fsx["SubnetIds"] == [{"Ref": "PrivateSubnet"}]
    assert fsx["SecurityGroupIds"] == [{"Ref": "SecurityGroup"}]
    assert fsx["LustreConfiguration"]["PerUnitStorageThroughput"] == 250
    assert "FsxLustre" not in _rendered("new-vpc")["Resources"]


def test_the_default_bucket_is_named_for_the_managed_policy() -> None:
    bucket = _rendered("new-vpc")["Resources"]["LifecycleBucket"]["Properties"]["BucketName"]
    assert bucket == {"Fn::Sub": "sagemaker-demo-${AWS::AccountId}-${AWS::Region}"}


def test_reusing_everything_leaves_only_the_gate_and_the_hyperpod_cluster() -> None:
    tpl = _rendered("reuse-everything")
    assert sorted(tpl["Resources"]) == ["BootstrapGate", "BootstrapHandle", "HyperPodCluster"]
    hp = tpl["Resources"]["HyperPodCluster"]
    assert hp["Properties"]["Orchestrator"]["Eks"]["ClusterArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:eks:${AWS::Region}:${AWS::AccountId}:cluster/existing-eks"
    }
    assert hp["Properties"]["InstanceGroups"][0]["TrainingPlanArn"].endswith("training-plan/p")
    assert "NodeProvisioningMode" not in hp["Properties"]
    assert tpl["Resources"]["BootstrapGate"].get("DependsOn") is None
