"""``hyp validate`` for aws configs: offline checks (arithmetic, names, rules) and online checks
(AZs, offerings, quotas, reused resources). Each finding names the field and the fix.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import botocore.exceptions

from hyperpod.api import instance_types
from hyperpod.api.aws_config import AwsClusterConfig
from hyperpod.providers.aws import ipplan, regions
from hyperpod.providers.aws.errors import AwsError
from hyperpod.providers.aws.session import Aws, call, error_code, paginate
from hyperpod.providers.base import Problem

SUPPORTED_K8S = ("1.30", "1.31", "1.32", "1.33", "1.34", "1.35")
QUOTA_ENIS = ("vpc", "L-DF5E4CA3", "Network interfaces per Region")
QUOTA_VPCS = ("vpc", "L-F678F1CE", "VPCs per Region")
QUOTA_EIPS = ("ec2", "L-0263D0A3", "EC2-VPC Elastic IPs")
CROWDED = 0.8  # warn when a plan uses more of its subnet than this

_DIRECTIONS = {
    "north": "n",
    "south": "s",
    "east": "e",
    "west": "w",
    "central": "c",
    "northeast": "ne",
    "northwest": "nw",
    "southeast": "se",
    "southwest": "sw",
}


def az_prefix(region: str) -> str | None:
    """The AZ-ID prefix of a region: us-west-2 -> usw2, ap-southeast-1 -> apse1."""
    parts = region.split("-")
    if len(parts) == 4 and parts[1] == "gov":  # us-gov-west-1 -> usgw1
        d = _DIRECTIONS.get(parts[2])
        return f"{parts[0]}g{d}{parts[3]}" if d else None
    if len(parts) != 3:
        return None
    d = _DIRECTIONS.get(parts[1])
    return f"{parts[0]}{d}{parts[2]}" if d else None


def _err(field: str, message: str, hint: str = "") -> Problem:
    return Problem(field, message, hint, "error")


def _warn(field: str, message: str, hint: str = "") -> Problem:
    return Problem(field, message, hint, "warning")


def _info(field: str, message: str, hint: str = "") -> Problem:
    return Problem(field, message, hint, "info")


def _needs(cfg: AwsClusterConfig) -> tuple[list[ipplan.GroupNeed], list[Problem]]:
    needs, problems = [], []
    for i, g in enumerate(cfg.instance_groups):
        it = instance_types.get(g.instance_type)
        if it is None:
            problems.append(
                _err(
                    f"instance_groups[{i}].instance_type",
                    f"unknown instance type {g.instance_type!r}",
                    "use one of: " + ", ".join(instance_types.names()),
                )
            )
            continue
        needs.append(ipplan.GroupNeed(g.name, it.name, g.instance_count, it.ips_per_node_eks))
    return needs, problems


def check_capacity(
    cfg: AwsClusterConfig, field: str, cidr: str, usable: int | None = None
) -> list[Problem]:
    """Does the nodes' subnet hold every instance group? With the largest counts and a fix."""
    needs, problems = _needs(cfg)
    if not needs:
        return problems
    p = ipplan.plan(cidr, needs, usable)
    detail = " + ".join(f"{n.count} x {n.instance_type} x {n.ips_per_node}" for n in needs)
    largest = "; ".join(f"{n.group} ({n.instance_type}) at most {p.max_nodes_of(n)}" for n in needs)
    if not p.fits:
        suggestion = p.suggested_cidr()
        hint = (
            f"use a subnet of at least {suggestion} ({ipplan.usable_ips(suggestion)} usable IPs)"
            if suggestion
            else "no single subnet (/16 at most) holds this plan: lower the counts or split "
            "the groups across clusters"
        )
        problems.append(
            _err(
                field,
                f"{cidr} has {p.usable} usable IPs but the instance groups need {p.needed} "
                f"({detail} IPs per node on EKS); with the other groups as set it holds: {largest}",
                hint,
            )
        )
    else:
        sev = _warn if p.needed > CROWDED * p.usable else _info
        problems.append(
            sev(
                field,
                f"{cidr}: {p.needed} of {p.usable} usable IPs planned ({detail}); "
                f"largest counts: {largest}",
                "subnets cannot grow later; leave room for replacements and scaling"
                if sev is _warn
                else "",
            )
        )
    return problems


def _overlaps(cfg: AwsClusterConfig) -> list[Problem]:
    net = cfg.networking
    blocks: list[tuple[str, str]] = []
    if net.create_vpc:
        blocks += [
            (f"networking.public_subnet_cidrs[{i}]", c)
            for i, c in enumerate(net.public_subnet_cidrs)
        ]
    if cfg.eks.create:
        blocks += [
            (f"networking.eks_subnet_cidrs[{i}]", c) for i, c in enumerate(net.eks_subnet_cidrs)
        ]
    problems: list[Problem] = []
    if net.create_private_subnet:
        node = ipaddress.IPv4Network(net.private_subnet_cidr)
        if net.create_vpc and node.overlaps(ipaddress.IPv4Network(net.vpc_cidr)):
            problems.append(
                _err(
                    "networking.private_subnet_cidr",
                    f"{node} overlaps networking.vpc_cidr ({net.vpc_cidr}); it is added as a "
                    "secondary VPC CIDR, so it must be outside the primary one",
                    "use 10.1.0.0/16 with the default VPC CIDR, or another block outside it",
                )
            )
        blocks.append(("networking.private_subnet_cidr", str(node)))
    for i, (field_a, a) in enumerate(blocks):
        for field_b, b in blocks[:i]:
            if ipaddress.IPv4Network(a).overlaps(ipaddress.IPv4Network(b)):
                problems.append(
                    _err(field_a, f"{a} overlaps {field_b} ({b})", "give each subnet its own block")
                )
    if net.create_vpc:
        vpc = ipaddress.IPv4Network(net.vpc_cidr)
        for field, c in blocks:
            if field != "networking.private_subnet_cidr" and not ipaddress.IPv4Network(c).subnet_of(
                vpc
            ):
                problems.append(
                    _err(
                        field,
                        f"{c} is not inside networking.vpc_cidr ({vpc})",
                        "pick a block inside it",
                    )
                )
    return problems


def script_problems(path: Path) -> list[Problem]:
    """A lifecycle script with CRLF endings or no shebang fails on the node: nodes never join."""
    data = path.read_bytes()
    problems = []
    if b"\r\n" in data:
        problems.append(
            _err(
                "lifecycle.script_file",
                f"{path} has Windows (CRLF) line endings; the node cannot run it",
                f"convert it: sed -i 's/\\r$//' {path}",
            )
        )
    if not data.startswith(b"#!"):
        problems.append(
            _err(
                "lifecycle.script_file",
                f"{path} does not start with a shebang line",
                "make #!/bin/bash its first line",
            )
        )
    return problems


def _region_support(cfg: AwsClusterConfig, region: str) -> list[Problem]:
    """HyperPod in ``region`` and each group's instance type there, from the offline table."""
    if not regions.known(region):
        return [
            _info("region", f"{region}: HyperPod support not checked offline (not in the table)")
        ]
    if not regions.has_hyperpod(region):
        return [
            _err(
                "region",
                f"SageMaker HyperPod is not available in {region}",
                "use one that has it: " + ", ".join(sorted(regions.HYPERPOD_TYPES)),
            )
        ]
    accelerated = ", ".join(
        t
        for t in sorted(regions.HYPERPOD_TYPES[region])
        if (it := instance_types.get(t)) is not None and it.accelerators
    )
    problems = []
    for i, g in enumerate(cfg.instance_groups):
        if instance_types.get(g.instance_type) is None or regions.offers(region, g.instance_type):
            continue
        elsewhere = regions.regions_offering(g.instance_type)
        field = f"instance_groups[{i}].instance_type"
        if not elsewhere or g.training_plan_arn:  # reserved capacity is not in the price list
            problems.append(
                _warn(
                    field,
                    f"{g.instance_type} is not in the on-demand HyperPod price list of {region}",
                    "it needs reserved capacity (a training plan); online checks ask EC2",
                )
            )
            continue
        problems.append(
            _err(
                field,
                f"{g.instance_type} is not offered for HyperPod in {region}",
                f"regions that offer it: {', '.join(elsewhere)}; accelerated types in {region}: "
                + (accelerated or "none"),
            )
        )
    return problems


def offline(cfg: AwsClusterConfig, region: str | None = None) -> list[Problem]:
    """Checks that need no credentials."""
    problems: list[Problem] = []
    net, eks = cfg.networking, cfg.eks
    region = (
        region or cfg.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    )

    if net.create_private_subnet:
        problems += check_capacity(cfg, "networking.private_subnet_cidr", net.private_subnet_cidr)
    else:
        problems += _needs(cfg)[1]
    problems += _overlaps(cfg)

    if region:
        problems += _region_support(cfg, region)
        prefix = az_prefix(region)
        for i, az in enumerate(cfg.availability_zone_ids):
            if prefix and not re.fullmatch(rf"{prefix}-az\d+", az):
                problems.append(
                    _err(
                        f"availability_zone_ids[{i}]",
                        f"{az} is not an AZ ID of {region} (those look like {prefix}-az1)",
                        f"list the AZ IDs of {region}: aws ec2 describe-availability-zones "
                        f"--region {region} --query 'AvailabilityZones[].ZoneId'",
                    )
                )
    else:
        problems.append(
            _info(
                "region", "no region set: AZ IDs not compared with it", "set region or AWS_REGION"
            )
        )

    if eks.create:
        if len(net.eks_subnet_cidrs) < 2:
            problems.append(
                _err(
                    "networking.eks_subnet_cidrs",
                    "EKS needs subnets in two AZs",
                    "list two /28 blocks",
                )
            )
        elif len(cfg.availability_zone_ids) < 2:
            problems.append(
                _err(
                    "availability_zone_ids",
                    "EKS needs its subnets in two different AZs but only one AZ ID is listed",
                    "add a second AZ ID of the region",
                )
            )
        if eks.kubernetes_version not in SUPPORTED_K8S:
            problems.append(
                _err(
                    "eks.kubernetes_version",
                    f"Kubernetes {eks.kubernetes_version} is not supported by HyperPod",
                    f"use one of {', '.join(SUPPORTED_K8S)}",
                )
            )
    if net.create_vpc and net.create_nat_gateway and not net.public_subnet_cidrs:
        problems.append(
            _err(
                "networking.public_subnet_cidrs",
                "a NAT gateway needs a public subnet",
                "list one, or set create_nat_gateway: false",
            )
        )
    if not net.create_vpc and net.create_private_subnet:
        problems.append(
            _warn(
                "networking.create_vpc",
                "in a reused VPC the new private subnets get a route table without a NAT route",
                "add a 0.0.0.0/0 route to your NAT gateway after create, or VPC endpoints "
                "(ECR, STS, EKS) so nodes can pull images",
            )
        )

    if net.create_s3_endpoint and not net.create_private_subnet and not eks.create:
        problems.append(
            _warn(
                "networking.create_s3_endpoint",
                "no S3 endpoint is created: the stack creates no subnet (and route table) to attach it to",
                "make sure the reused subnet reaches S3 (an endpoint or a NAT route)",
            )
        )

    lc, iam = cfg.lifecycle, cfg.iam
    if lc.bucket_name and iam.managed_policy_only and not lc.bucket_name.startswith("sagemaker-"):
        problems.append(
            _err(
                "lifecycle.bucket_name",
                f"{lc.bucket_name!r}: with only the managed policy the execution role can read "
                "only buckets named sagemaker-*",
                f"rename it to sagemaker-{lc.bucket_name}, or give the role s3:GetObject on it "
                "and set iam.managed_policy_only: false",
            )
        )
    if lc.script_file and not Path(lc.script_file).expanduser().is_file():
        problems.append(
            _err(
                "lifecycle.script_file",
                f"{lc.script_file}: no such file",
                "fix the path or use null",
            )
        )
    elif lc.script_file:
        problems += script_problems(Path(lc.script_file).expanduser())
    if not lc.create_bucket and not lc.bucket_name:
        problems.append(
            _err(
                "lifecycle.bucket_name",
                "a reused bucket needs its name",
                "set lifecycle.bucket_name",
            )
        )

    for i, g in enumerate(cfg.instance_groups):
        it = instance_types.get(g.instance_type)
        if it is not None and g.deep_health_checks and not it.accelerators:
            problems.append(
                _warn(
                    f"instance_groups[{i}].deep_health_checks",
                    f"{g.instance_type} has no accelerators; deep health checks need GPU or Trainium",
                    "remove deep_health_checks for this group",
                )
            )
        if g.instance_count == 0:
            problems.append(
                _warn(f"instance_groups[{i}].instance_count", "the group has no nodes", "")
            )
        if g.training_plan_arn and not re.fullmatch(
            r"arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:[0-9]{12}:training-plan/\S+", g.training_plan_arn
        ):
            problems.append(
                _err(
                    f"instance_groups[{i}].training_plan_arn",
                    f"{g.training_plan_arn!r} is not a training plan ARN",
                    "arn:aws:sagemaker:<region>:<account>:training-plan/<name>",
                )
            )
    return problems


# -- online ---------------------------------------------------------------------------------


def _why(exc: BaseException) -> str:
    return error_code(exc) or f"{type(exc).__name__}: {exc}"[:200]


class Quotas:
    """Reads Service Quotas; ``None`` means the quota could not be read (with the reason kept)."""

    def __init__(self, aws: Aws) -> None:
        self.aws = aws
        self.unread: dict[str, str] = {}
        self._sagemaker: dict[str, tuple[str, float]] | None = None

    def get(self, service: str, code: str) -> float | None:
        sq = self.aws.client("service-quotas")
        try:
            return float(
                call(sq.get_service_quota, ServiceCode=service, QuotaCode=code)["Quota"]["Value"]
            )
        except Exception as exc:  # quotas are advisory: any failure is reported, not fatal
            if error_code(exc) != "NoSuchResourceException":
                self.unread[f"{service}/{code}"] = _why(exc)
                return None
        try:
            q = call(sq.get_aws_default_service_quota, ServiceCode=service, QuotaCode=code)
            return float(q["Quota"]["Value"])
        except Exception as exc:
            self.unread[f"{service}/{code}"] = _why(exc)
            return None

    def sagemaker_cluster_usage(self, instance_type: str) -> tuple[str, float] | None:
        """(quota code, value) of ``ml.<type> for cluster usage``, or None."""
        if self._sagemaker is None:
            self._sagemaker = {}
            try:
                quotas = paginate(
                    self.aws.client("service-quotas"),
                    "list_service_quotas",
                    "Quotas",
                    ServiceCode="sagemaker",
                )
            except Exception as exc:
                self.unread["sagemaker"] = _why(exc)
                quotas = []
            for q in quotas:
                m = re.fullmatch(r"(ml\.\S+) for cluster usage", q.get("QuotaName", ""))
                if m:
                    self._sagemaker[m.group(1)] = (q["QuotaCode"], float(q["Value"]))
        return self._sagemaker.get(instance_type)


def _quota_hint(service: str, code: str, value: int) -> str:
    return (
        "request an increase: aws service-quotas request-service-quota-increase "
        f"--service-code {service} --quota-code {code} --desired-value {value}"
    )


def _quotas(cfg: AwsClusterConfig, aws: Aws, quotas: Quotas) -> list[Problem]:
    problems: list[Problem] = []
    per_type = Counter[str]()
    for g in cfg.instance_groups:
        per_type[g.instance_type] += g.instance_count
    for type_, count in sorted(per_type.items()):
        q = quotas.sagemaker_cluster_usage(type_)
        if q is None:
            continue
        code, value = q
        if count > value:
            field = next(
                f"instance_groups[{i}].instance_count"
                for i, g in enumerate(cfg.instance_groups)
                if g.instance_type == type_
            )
            problems.append(
                _err(
                    field,
                    f"{count} x {type_} exceeds the quota '{type_} for cluster usage' "
                    f"({code}) of {int(value)}",
                    _quota_hint("sagemaker", code, count),
                )
            )

    enis_needed = 0
    for g in cfg.instance_groups:
        it = instance_types.get(g.instance_type)
        if it is not None:
            enis_needed += g.instance_count * (max(it.efa, 1) + 1)
    service, code, name = QUOTA_ENIS
    limit = quotas.get(service, code)
    if limit is not None and enis_needed:
        in_use = len(
            paginate(aws.client("ec2"), "describe_network_interfaces", "NetworkInterfaces")
        )
        if in_use + enis_needed > limit:
            problems.append(
                _err(
                    "instance_groups",
                    f"the nodes need about {enis_needed} network interfaces (one per EFA card plus "
                    f"one) and {in_use} exist; the quota '{name}' ({code}) is {int(limit)}",
                    _quota_hint(service, code, in_use + enis_needed),
                )
            )
    if cfg.networking.create_vpc:
        service, code, name = QUOTA_VPCS
        limit = quotas.get(service, code)
        if limit is not None:
            in_use = len(paginate(aws.client("ec2"), "describe_vpcs", "Vpcs"))
            if in_use + 1 > limit:
                problems.append(
                    _err(
                        "networking.create_vpc",
                        f"{in_use} VPCs exist; the quota '{name}' ({code}) is {int(limit)}",
                        _quota_hint(service, code, in_use + 1)
                        + ", or reuse a VPC (create_vpc: false)",
                    )
                )
    if cfg.networking.create_vpc and cfg.networking.create_nat_gateway:
        service, code, name = QUOTA_EIPS
        limit = quotas.get(service, code)
        if limit is not None:
            in_use = len(call(aws.client("ec2").describe_addresses).get("Addresses", []))
            if in_use + 1 > limit:
                problems.append(
                    _err(
                        "networking.create_nat_gateway",
                        f"{in_use} Elastic IPs exist; the quota '{name}' ({code}) is {int(limit)}",
                        _quota_hint(service, code, in_use + 1),
                    )
                )
    for what, why in sorted(quotas.unread.items()):
        problems.append(_info("quotas", f"quota {what} not checked ({why})", ""))
    return problems


def _self_rule(perms: Iterable[dict[str, Any]], sg_id: str) -> bool:
    return any(
        p.get("IpProtocol") == "-1"
        and any(pair.get("GroupId") == sg_id for pair in p.get("UserIdGroupPairs", []))
        for p in perms
    )


def _owned_by(resource: dict[str, Any], stack: str) -> bool:
    """Was ``resource`` (a described EC2 object with Tags) made by the stack named ``stack``?"""
    tags = {t.get("Key"): t.get("Value") for t in resource.get("Tags", [])}
    return stack in (tags.get("aws:cloudformation:stack-name"), tags.get("hyperpod:stack"))


def _reused(cfg: AwsClusterConfig, aws: Aws) -> list[Problem]:
    problems: list[Problem] = []
    net, ec2 = cfg.networking, aws.client("ec2")
    if not net.create_vpc and net.vpc_id:
        try:
            vpc = call(ec2.describe_vpcs, VpcIds=[net.vpc_id])["Vpcs"][0]
        except botocore.exceptions.ClientError:
            return [
                _err(
                    "networking.vpc_id",
                    f"{net.vpc_id} does not exist in {aws.region}",
                    "check the id and region",
                )
            ]
        cidrs = [a["CidrBlock"] for a in vpc.get("CidrBlockAssociationSet", [])] or [
            vpc["CidrBlock"]
        ]
        nets = [ipaddress.IPv4Network(c) for c in cidrs]
        existing = paginate(
            ec2,
            "describe_subnets",
            "Subnets",
            Filters=[{"Name": "vpc-id", "Values": [net.vpc_id]}],
        )
        # a second `hyp create` of the same stack finds its own subnets (and the nodes' secondary
        # CIDR) in the VPC: those are not conflicts
        mine = [s for s in existing if _owned_by(s, cfg.stack)]
        others = [s for s in existing if not _owned_by(s, cfg.stack)]
        own_blocks = {ipaddress.IPv4Network(s["CidrBlock"]) for s in mine}
        if net.create_private_subnet:
            node = ipaddress.IPv4Network(net.private_subnet_cidr)
            for n in nets:
                if node.overlaps(n) and not (n == node and node in own_blocks):
                    problems.append(
                        _err(
                            "networking.private_subnet_cidr",
                            f"{node} overlaps {n}, already a CIDR of {net.vpc_id}",
                            "pick a block outside the VPC's CIDRs (it is added as a secondary CIDR)",
                        )
                    )
        if cfg.eks.create:
            for i, c in enumerate(net.eks_subnet_cidrs):
                block = ipaddress.IPv4Network(c)
                if not any(block.subnet_of(n) for n in nets):
                    problems.append(
                        _err(
                            f"networking.eks_subnet_cidrs[{i}]",
                            f"{c} is not inside {net.vpc_id} ({', '.join(cidrs)})",
                            "pick a free block inside the VPC",
                        )
                    )
                for s in others:
                    if block.overlaps(ipaddress.IPv4Network(s["CidrBlock"])):
                        problems.append(
                            _err(
                                f"networking.eks_subnet_cidrs[{i}]",
                                f"{c} overlaps subnet {s['SubnetId']} ({s['CidrBlock']})",
                                "pick a free block",
                            )
                        )
    if not net.create_private_subnet and net.private_subnet_id:
        try:
            sub = call(ec2.describe_subnets, SubnetIds=[net.private_subnet_id])["Subnets"][0]
        except botocore.exceptions.ClientError:
            problems.append(
                _err(
                    "networking.private_subnet_id",
                    f"{net.private_subnet_id} does not exist",
                    "check the id and region",
                )
            )
        else:
            problems += check_capacity(
                cfg,
                "networking.private_subnet_id",
                sub["CidrBlock"],
                int(sub["AvailableIpAddressCount"]),
            )
    if not net.create_security_group and net.security_group_id:
        sg_id = net.security_group_id
        try:
            sg = call(ec2.describe_security_groups, GroupIds=[sg_id])["SecurityGroups"][0]
        except botocore.exceptions.ClientError:
            problems.append(
                _err(
                    "networking.security_group_id",
                    f"{sg_id} does not exist",
                    "check the id and region",
                )
            )
        else:
            fix = (
                f"aws ec2 authorize-security-group-ingress --group-id {sg_id} --protocol -1 "
                f"--source-group {sg_id}; aws ec2 authorize-security-group-egress --group-id "
                f"{sg_id} --ip-permissions IpProtocol=-1,UserIdGroupPairs=[{{GroupId={sg_id}}}]"
            )
            if not _self_rule(sg.get("IpPermissions", []), sg_id):
                problems.append(
                    _err(
                        "networking.security_group_id",
                        f"{sg_id} has no inbound rule allowing all traffic from itself; EFA health checks fail without it",
                        fix,
                    )
                )
            if not _self_rule(sg.get("IpPermissionsEgress", []), sg_id) and not any(
                p.get("IpProtocol") == "-1"
                and any(r.get("CidrIp") == "0.0.0.0/0" for r in p.get("IpRanges", []))
                for p in sg.get("IpPermissionsEgress", [])
            ):
                problems.append(
                    _err(
                        "networking.security_group_id",
                        f"{sg_id} has no outbound rule allowing all traffic to itself",
                        fix,
                    )
                )
    if not cfg.eks.create:
        name = cfg.eks_cluster_name
        try:
            c = call(aws.client("eks").describe_cluster, name=name)["cluster"]
        except botocore.exceptions.ClientError:
            problems.append(
                _err(
                    "eks.cluster_name",
                    f"EKS cluster {name!r} does not exist in {aws.region}",
                    "check the name, or set eks.create: true",
                )
            )
        else:
            if c.get("version") and c["version"] not in SUPPORTED_K8S:
                problems.append(
                    _err(
                        "eks.cluster_name",
                        f"{name} runs Kubernetes {c['version']}, not supported by HyperPod",
                        f"upgrade it to one of {', '.join(SUPPORTED_K8S)}",
                    )
                )
            mode = c.get("accessConfig", {}).get("authenticationMode")
            if mode == "CONFIG_MAP":
                problems.append(
                    _err(
                        "eks.cluster_name",
                        f"{name} uses authentication mode CONFIG_MAP; HyperPod needs access entries",
                        f"aws eks update-cluster-config --name {name} --access-config authenticationMode=API_AND_CONFIG_MAP",
                    )
                )
    if not cfg.iam.create_role and cfg.iam.role_arn:
        role_name = cfg.iam.role_arn.rsplit("/", 1)[-1]
        try:
            call(aws.client("iam").get_role, RoleName=role_name)
        except botocore.exceptions.ClientError:
            problems.append(
                _err(
                    "iam.role_arn",
                    f"role {role_name} does not exist",
                    "check the ARN, or set iam.create_role: true",
                )
            )
    lc = cfg.lifecycle
    name = lc.bucket_name or default_bucket(cfg, aws)
    state = bucket_state(aws, name)
    if lc.create_bucket and state == "yours":
        problems.append(
            _info(
                "lifecycle.bucket_name",
                f"bucket {name} already exists in this account (kept by an earlier "
                "`hyp delete` without --purge?); create reuses it",
            )
        )
    if lc.create_bucket and state == "taken":
        problems.append(
            _err(
                "lifecycle.bucket_name",
                f"bucket {name} exists and belongs to another account",
                "set lifecycle.bucket_name to another name starting with sagemaker-",
            )
        )
    if not lc.create_bucket and state == "missing":
        problems.append(
            _err(
                "lifecycle.bucket_name",
                f"bucket {name} does not exist",
                "create it, or set create_bucket: true",
            )
        )
    if not lc.create_bucket and state == "taken":
        problems.append(
            _err(
                "lifecycle.bucket_name",
                f"bucket {name} is not yours (access denied)",
                "use a bucket of this account, or set create_bucket: true",
            )
        )
    return problems


def default_bucket(cfg: AwsClusterConfig, aws: Aws) -> str:
    """The lifecycle bucket name the template derives when ``bucket_name`` is not set."""
    return f"sagemaker-{cfg.resource_name_prefix}-{aws.account_id()}-{aws.region}"


def bucket_state(aws: Aws, name: str) -> str:
    """``missing``, ``yours`` (exists and this identity can use it) or ``taken`` (someone else's)."""
    try:
        call(aws.client("s3").head_bucket, Bucket=name)
    except botocore.exceptions.ClientError as exc:
        code = error_code(exc)
        if code in ("404", "NoSuchBucket", "NotFound"):
            return "missing"
        if code in ("403", "AccessDenied", "Forbidden", "301", "PermanentRedirect"):
            return "taken"
        raise
    return "yours"


def _existing_stack(cfg: AwsClusterConfig, aws: Aws) -> list[Problem]:
    try:
        stacks = call(aws.client("cloudformation").describe_stacks, StackName=cfg.stack)["Stacks"]
    except botocore.exceptions.ClientError:
        return []
    status = stacks[0]["StackStatus"] if stacks else None
    if status is None:
        return []
    if status in ("CREATE_COMPLETE", "CREATE_IN_PROGRESS", "UPDATE_COMPLETE"):
        return [
            _info("stack_name", f"stack {cfg.stack} already exists ({status}); create reports it")
        ]
    return [
        _err(
            "stack_name",
            f"stack {cfg.stack} exists in state {status}",
            f"remove it first: hyp delete cluster-stack {cfg.stack}, or pick another stack_name",
        )
    ]


def online(cfg: AwsClusterConfig, aws: Aws, quotas: Quotas | None = None) -> list[Problem]:
    """Checks against the account; skipped (with an info finding) without credentials."""
    if not aws.has_credentials():
        return [
            _info(
                "online",
                "online checks skipped: no AWS credentials (AZs, offerings, quotas and reused "
                "resources were not checked)",
                "run `aws configure` or set AWS_PROFILE, then validate again",
            )
        ]
    problems: list[Problem] = []
    try:
        zones = call(aws.client("ec2").describe_availability_zones)["AvailabilityZones"]
        ids = {z["ZoneId"]: z["ZoneName"] for z in zones}
        for i, az in enumerate(cfg.availability_zone_ids):
            if az not in ids:
                problems.append(
                    _err(
                        f"availability_zone_ids[{i}]",
                        f"{az} is not an AZ of {aws.region}",
                        f"use one of {', '.join(sorted(ids))}",
                    )
                )
        types = sorted({g.instance_type for g in cfg.instance_groups})
        az0 = cfg.availability_zone_ids[0]
        if az0 in ids:
            offers = paginate(
                aws.client("ec2"),
                "describe_instance_type_offerings",
                "InstanceTypeOfferings",
                LocationType="availability-zone-id",
                Filters=[
                    {"Name": "instance-type", "Values": [t.removeprefix("ml.") for t in types]},
                    {"Name": "location", "Values": [az0]},
                ],
            )
            offered = {"ml." + o["InstanceType"] for o in offers}
            for i, g in enumerate(cfg.instance_groups):
                if g.instance_type not in offered and instance_types.get(g.instance_type):
                    problems.append(
                        _err(
                            f"instance_groups[{i}].instance_type",
                            f"{g.instance_type} is not offered in {az0}, where the nodes' subnet is",
                            "put another AZ ID first in availability_zone_ids, or pick another type",
                        )
                    )
        problems += _reused(cfg, aws)
        problems += _quotas(cfg, aws, quotas or Quotas(aws))
        problems += _existing_stack(cfg, aws)
    except AwsError as exc:
        problems.append(_err("online", exc.message, exc.hint))
    return problems
