"""Template parts the reference stack has: the pod-identity permission of the execution role,
EKS control-plane logging, CoreDNS and the HyperPod training operator as EKS add-ons, with the
operator's pod identity (role + association)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from hyperpod.api.aws_config import AwsClusterConfig
from hyperpod.providers.aws import lint, template

EXAMPLES = Path(__file__).parents[4] / "examples" / "aws"


def _render(name: str = "new-vpc", **over: Any) -> dict[str, Any]:
    data = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text()) | over
    return template.render(AwsClusterConfig.model_validate(data))


def test_the_execution_role_may_assume_roles_for_pod_identity() -> None:
    role = _render()["Resources"]["ExecutionRole"]["Properties"]
    actions = [
        a
        for st in role["Policies"][0]["PolicyDocument"]["Statement"]
        for a in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])
    ]
    assert "eks-auth:AssumeRoleForPodIdentity" in actions


def test_eks_control_plane_logging_is_on_for_every_log_type() -> None:
    eks = _render()["Resources"]["EksCluster"]["Properties"]
    enabled = {t["Type"] for t in eks["Logging"]["ClusterLogging"]["EnabledTypes"]}
    assert enabled == {"api", "audit", "authenticator", "controllerManager", "scheduler"}


def test_coredns_cert_manager_and_the_training_operator_are_eks_addons_after_the_nodes() -> None:
    res = _render()["Resources"]
    addons = {
        v["Properties"]["AddonName"]: (k, v)
        for k, v in res.items()
        if v["Type"] == "AWS::EKS::Addon"
    }
    assert {"vpc-cni", "kube-proxy", "eks-pod-identity-agent", "coredns", "cert-manager"} <= set(
        addons
    )
    logical, op = addons["amazon-sagemaker-hyperpod-training-operator"]
    assert "HyperPodCluster" in op["DependsOn"] and "CertManagerNodeAddon" in op["DependsOn"]
    # the gate waits only for add-ons that need no nodes, or it would wait forever
    gate = res["BootstrapGate"]["DependsOn"]
    assert addons["vpc-cni"][0] in gate
    assert addons["coredns"][0] not in gate and logical not in gate
    assert res[addons["coredns"][0]]["DependsOn"] == "HyperPodCluster"


def test_the_training_operator_addon_can_be_left_out() -> None:
    res = _render(helm={"hyperpod_training_operator": False})["Resources"]
    names = {v["Properties"].get("AddonName") for v in res.values()}
    assert "amazon-sagemaker-hyperpod-training-operator" not in names
    assert "TrainingOperatorPodIdentity" not in res and "TrainingOperatorRole" not in res


def test_the_training_operator_gets_its_aws_credentials_through_pod_identity() -> None:
    res = _render()["Resources"]
    assoc = res["TrainingOperatorPodIdentity"]
    assert assoc["Type"] == "AWS::EKS::PodIdentityAssociation"
    props = assoc["Properties"]
    assert (props["Namespace"], props["ServiceAccount"]) == (
        "aws-hyperpod",
        "hp-training-operator-controller-manager",
    )
    assert props["ClusterName"] == {"Ref": "EksCluster"}
    assert props["RoleArn"] == {"Fn::GetAtt": ["TrainingOperatorRole", "Arn"]}
    # the agent that hands out the credentials is installed, before the association
    agent = res[assoc["DependsOn"]]
    assert agent["Properties"]["AddonName"] == "eks-pod-identity-agent"
    role = res["TrainingOperatorRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert set(trust["Action"]) == {"sts:AssumeRole", "sts:TagSession"}
    assert any(
        "AmazonSageMakerHyperPodTrainingOperatorAccess" in str(p) for p in role["ManagedPolicyArns"]
    )
    # the add-on starts once its identity exists
    assert "TrainingOperatorPodIdentity" in res["HyperPodTrainingOperatorAddon"]["DependsOn"]


def test_the_template_with_the_new_parts_lints_clean() -> None:
    assert lint.errors(lint.lint(_render(), "us-west-2")) == []
