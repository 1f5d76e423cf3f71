"""Where HyperPod runs and which instance types each region offers it, checked offline.

The table lists, for every region where CloudFormation offers ``AWS::SageMaker::Cluster``, the
instance types hyp knows (``hyperpod.api.instance_types``) that the region's HyperPod offers. The
facts come from AWS's published price list as cfn-lint 1.x ships it
(``aws_sagemaker_cluster/instancetype_enum.json``); ``tests/unit/providers/aws/test_aws_regions.py``
compares the table with the installed cfn-lint so a newer release shows what changed. Online,
``hyp validate`` also asks EC2 for the offerings of the nodes' AZ.
"""

from __future__ import annotations

G5 = (
    "ml.g5.xlarge ml.g5.2xlarge ml.g5.4xlarge ml.g5.8xlarge ml.g5.12xlarge ml.g5.16xlarge "
    "ml.g5.24xlarge ml.g5.48xlarge"
)
CPU = "ml.m5.2xlarge ml.t3.medium"

_TABLE = {
    "us-east-1": f"{G5} {CPU} ml.p4d.24xlarge ml.p4de.24xlarge ml.p5.48xlarge ml.p5en.48xlarge ml.trn1.32xlarge",
    "us-east-2": f"{G5} {CPU} ml.p4d.24xlarge ml.p4de.24xlarge ml.p5.48xlarge ml.p5en.48xlarge ml.trn1.32xlarge ml.trn2.48xlarge",
    "us-west-1": f"{CPU} ml.p5.48xlarge ml.p5en.48xlarge",
    "us-west-2": f"{G5} {CPU} ml.p4d.24xlarge ml.p4de.24xlarge ml.p5.48xlarge ml.p5en.48xlarge ml.trn1.32xlarge",
    "ca-central-1": f"{G5} {CPU} ml.p4d.24xlarge ml.p5.48xlarge",
    "sa-east-1": f"{G5} {CPU} ml.p4d.24xlarge ml.p4de.24xlarge ml.p5.48xlarge ml.trn1.32xlarge",
    "eu-central-1": f"{G5} {CPU} ml.p4d.24xlarge ml.p4de.24xlarge ml.p5.48xlarge ml.trn1.32xlarge",
    "eu-north-1": f"{G5} {CPU} ml.p4d.24xlarge ml.p4de.24xlarge ml.p5.48xlarge ml.p5en.48xlarge ml.trn1.32xlarge",
    "eu-south-2": f"{CPU} ml.p5en.48xlarge",
    "eu-west-1": f"{G5} {CPU} ml.p4d.24xlarge ml.p4de.24xlarge ml.p5.48xlarge ml.trn1.32xlarge",
    "eu-west-2": f"{G5} {CPU} ml.p4d.24xlarge ml.p5.48xlarge",
    "ap-northeast-1": f"{G5} {CPU} ml.p4d.24xlarge ml.p4de.24xlarge ml.p5.48xlarge ml.p5en.48xlarge ml.trn1.32xlarge",
    "ap-northeast-2": f"{G5} {CPU} ml.p4d.24xlarge ml.p5.48xlarge ml.p5en.48xlarge",
    "ap-south-1": f"{G5} {CPU} ml.p4d.24xlarge ml.p4de.24xlarge ml.p5.48xlarge ml.p5en.48xlarge ml.trn1.32xlarge",
    "ap-south-2": CPU,
    "ap-southeast-1": f"{G5} {CPU} ml.p4d.24xlarge ml.p4de.24xlarge ml.p5.48xlarge ml.trn1.32xlarge",
    "ap-southeast-2": f"{G5} {CPU} ml.p4d.24xlarge ml.p4de.24xlarge ml.p5.48xlarge ml.trn1.32xlarge",
    "ap-southeast-3": f"{G5} ml.t3.medium ml.p5.48xlarge ml.p5en.48xlarge",
    "ap-southeast-4": f"{CPU} ml.trn1.32xlarge",
}
HYPERPOD_TYPES: dict[str, frozenset[str]] = {r: frozenset(t.split()) for r, t in _TABLE.items()}
# partitions the table does not describe: no offline verdict there (online checks still run)
UNLISTED_PARTITIONS = ("us-gov-", "us-iso", "eu-isoe-", "eusc-", "cn-")


def known(region: str) -> bool:
    """Does the table speak for ``region`` (a commercial region)?"""
    return not region.startswith(UNLISTED_PARTITIONS)


def has_hyperpod(region: str) -> bool:
    return region in HYPERPOD_TYPES


def offers(region: str, instance_type: str) -> bool:
    return instance_type in HYPERPOD_TYPES.get(region, frozenset())


def regions_offering(instance_type: str) -> list[str]:
    return sorted(r for r, types in HYPERPOD_TYPES.items() if instance_type in types)
