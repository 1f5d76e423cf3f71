"""Render ONE CloudFormation template (a pure function of the config) for a HyperPod EKS cluster stack.

Layout: network (VPC, public subnets, IGW, NAT, secondary CIDR + private subnet, EKS subnets,
routes, security group with its self rules, S3 gateway endpoint), lifecycle bucket, IAM roles,
EKS cluster + core add-ons + access entries, a bootstrap gate, the HyperPod cluster, optional FSx.

The bootstrap gate (``AWS::CloudFormation::WaitCondition``) is how add-ons and the lifecycle
script get in before the HyperPod nodes: the stack creates the bucket and the EKS cluster, then
waits; ``hyp create`` (the stack's creator, who holds the EKS admin access entry) uploads the
on-create script, applies the add-on manifests it rendered under ``run/<timestamp>/`` and signals
the gate; only then is ``AWS::SageMaker::Cluster`` created. No Lambda or helm binary is needed and
every object that goes into the cluster is on disk for review.
"""

from __future__ import annotations

from typing import Any

from hyperpod.api.aws_config import AwsClusterConfig

Json = dict[str, Any]

GATE_TIMEOUT_S = 3600
EKS_CORE_ADDONS = ("vpc-cni", "kube-proxy", "eks-pod-identity-agent")
# add-ons whose pods need nodes: created after the HyperPod cluster, outside the bootstrap gate
EKS_NODE_ADDONS = ("coredns", "cert-manager")
HYPERPOD_TRAINING_OPERATOR = "amazon-sagemaker-hyperpod-training-operator"
# Where the training operator add-on runs its controller, and the AWS managed policy its pod
# identity role carries (both as AWS's install guide names them; not checked against a live
# account here).
TRAINING_OPERATOR_NAMESPACE = "aws-hyperpod"
TRAINING_OPERATOR_SERVICE_ACCOUNT = "hp-training-operator-controller-manager"
TRAINING_OPERATOR_POLICY = "AmazonSageMakerHyperPodTrainingOperatorAccess"
EKS_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
ENI_ACTIONS = [
    "ec2:AssignPrivateIpAddresses",
    "ec2:AttachNetworkInterface",
    "ec2:CreateNetworkInterface",
    "ec2:CreateNetworkInterfacePermission",
    "ec2:DeleteNetworkInterface",
    "ec2:DeleteNetworkInterfacePermission",
    "ec2:DescribeInstances",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
    "ec2:DetachNetworkInterface",
    "ec2:ModifyNetworkInterfaceAttribute",
    "ec2:UnassignPrivateIpAddresses",
]
ECR_PULL = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetAuthorizationToken",
    "ecr:GetDownloadUrlForLayer",
]


def _ref(name: str) -> Json:
    return {"Ref": name}


def _att(name: str, attr: str) -> Json:
    return {"Fn::GetAtt": [name, attr]}


def _sub(text: str) -> Json:
    return {"Fn::Sub": text}


def _managed(policy: str) -> Json:
    return _sub(f"arn:${{AWS::Partition}}:iam::aws:policy/{policy}")


def default_bucket_name(cfg: AwsClusterConfig) -> Json:
    return _sub(f"sagemaker-{cfg.resource_name_prefix}-${{AWS::AccountId}}-${{AWS::Region}}")


class _Builder:
    def __init__(self, cfg: AwsClusterConfig) -> None:
        self.cfg = cfg
        self.resources: Json = {}
        self.outputs: Json = {}

    def tags(self, name: str | Json | None = None) -> list[Json]:
        tags: list[Json] = [{"Key": k, "Value": v} for k, v in sorted(self.cfg.tags.items())]
        tags.append({"Key": "hyperpod:stack", "Value": _ref("AWS::StackName")})
        if name is not None:
            tags.append({"Key": "Name", "Value": name})
        return tags

    def name(self, suffix: str) -> str:
        return f"{self.cfg.resource_name_prefix}-{suffix}"

    def add(self, logical: str, type_: str, props: Json, **extra: Any) -> None:
        self.resources[logical] = {"Type": type_, "Properties": props, **extra}

    def output(self, key: str, value: Any, description: str) -> None:
        self.outputs[key] = {"Description": description, "Value": value}

    # -- network ----------------------------------------------------------------------------
    def network(self) -> tuple[Any, Any, list[Json], Any]:
        """Create the network; returns (vpc id, private subnet id, EKS subnet ids, SG id)."""
        cfg, net = self.cfg, self.cfg.networking
        azs = cfg.availability_zone_ids
        if net.create_vpc:
            self.add(
                "Vpc",
                "AWS::EC2::VPC",
                {
                    "CidrBlock": net.vpc_cidr,
                    "EnableDnsHostnames": True,
                    "EnableDnsSupport": True,
                    "Tags": self.tags(self.name("vpc")),
                },
            )
            vpc: Any = _ref("Vpc")
        else:
            vpc = net.vpc_id

        nat: Json | None = None
        if net.create_vpc:
            self.add("InternetGateway", "AWS::EC2::InternetGateway", {"Tags": self.tags()})
            self.add(
                "GatewayAttachment",
                "AWS::EC2::VPCGatewayAttachment",
                {"VpcId": vpc, "InternetGatewayId": _ref("InternetGateway")},
            )
            self.add(
                "PublicRouteTable", "AWS::EC2::RouteTable", {"VpcId": vpc, "Tags": self.tags()}
            )
            self.add(
                "PublicDefaultRoute",
                "AWS::EC2::Route",
                {
                    "RouteTableId": _ref("PublicRouteTable"),
                    "DestinationCidrBlock": "0.0.0.0/0",
                    "GatewayId": _ref("InternetGateway"),
                },
                DependsOn="GatewayAttachment",
            )
            for i, cidr in enumerate(net.public_subnet_cidrs):
                self.add(
                    f"PublicSubnet{i + 1}",
                    "AWS::EC2::Subnet",
                    {
                        "VpcId": vpc,
                        "CidrBlock": cidr,
                        "AvailabilityZoneId": azs[i % len(azs)],
                        "MapPublicIpOnLaunch": True,
                        "Tags": self.tags(self.name(f"public-{i + 1}")),
                    },
                )
                self.add(
                    f"PublicSubnet{i + 1}Routes",
                    "AWS::EC2::SubnetRouteTableAssociation",
                    {
                        "SubnetId": _ref(f"PublicSubnet{i + 1}"),
                        "RouteTableId": _ref("PublicRouteTable"),
                    },
                )
            if net.create_nat_gateway and net.public_subnet_cidrs:
                self.add("NatIp", "AWS::EC2::EIP", {"Domain": "vpc", "Tags": self.tags()})
                self.resources["NatIp"]["DependsOn"] = "GatewayAttachment"
                self.add(
                    "NatGateway",
                    "AWS::EC2::NatGateway",
                    {
                        "AllocationId": _att("NatIp", "AllocationId"),
                        "SubnetId": _ref("PublicSubnet1"),
                        "Tags": self.tags(self.name("nat")),
                    },
                )
                nat = _ref("NatGateway")
            self.output("VpcId", vpc, "VPC of the cluster")

        # a route table only for subnets this stack creates (a reused subnet keeps its own)
        routed = net.create_private_subnet or cfg.eks.create
        if routed:
            self.add(
                "PrivateRouteTable",
                "AWS::EC2::RouteTable",
                {"VpcId": vpc, "Tags": self.tags(self.name("private"))},
            )
        if nat is not None and routed:
            self.add(
                "PrivateDefaultRoute",
                "AWS::EC2::Route",
                {
                    "RouteTableId": _ref("PrivateRouteTable"),
                    "DestinationCidrBlock": "0.0.0.0/0",
                    "NatGatewayId": nat,
                },
            )

        if net.create_private_subnet:
            self.add(
                "NodeCidr",
                "AWS::EC2::VPCCidrBlock",
                {"VpcId": vpc, "CidrBlock": net.private_subnet_cidr},
            )
            self.add(
                "PrivateSubnet",
                "AWS::EC2::Subnet",
                {
                    "VpcId": vpc,
                    "CidrBlock": net.private_subnet_cidr,
                    "AvailabilityZoneId": azs[0],
                    "Tags": self.tags(self.name("nodes")),
                },
                DependsOn="NodeCidr",
            )
            self.add(
                "PrivateSubnetRoutes",
                "AWS::EC2::SubnetRouteTableAssociation",
                {"SubnetId": _ref("PrivateSubnet"), "RouteTableId": _ref("PrivateRouteTable")},
            )
            private: Any = _ref("PrivateSubnet")
        else:
            private = net.private_subnet_id

        eks_subnets: list[Json] = []
        if cfg.eks.create:
            for i, cidr in enumerate(net.eks_subnet_cidrs):
                logical = f"EksSubnet{i + 1}"
                self.add(
                    logical,
                    "AWS::EC2::Subnet",
                    {
                        "VpcId": vpc,
                        "CidrBlock": cidr,
                        "AvailabilityZoneId": azs[i % len(azs)],
                        "Tags": self.tags(self.name(f"eks-{i + 1}")),
                    },
                )
                self.add(
                    f"{logical}Routes",
                    "AWS::EC2::SubnetRouteTableAssociation",
                    {"SubnetId": _ref(logical), "RouteTableId": _ref("PrivateRouteTable")},
                )
                eks_subnets.append(_ref(logical))

        if net.create_security_group:
            self.add(
                "SecurityGroup",
                "AWS::EC2::SecurityGroup",
                {
                    "GroupDescription": "HyperPod nodes: all traffic to and from itself (EFA)",
                    "VpcId": vpc,
                    "SecurityGroupEgress": [
                        {"IpProtocol": "-1", "CidrIp": "0.0.0.0/0", "Description": "outbound"}
                    ],
                    "Tags": self.tags(self.name("sg")),
                },
            )
            self.add(
                "SecurityGroupSelfIngress",
                "AWS::EC2::SecurityGroupIngress",
                {
                    "GroupId": _ref("SecurityGroup"),
                    "IpProtocol": "-1",
                    "SourceSecurityGroupId": _ref("SecurityGroup"),
                    "Description": "all traffic from itself (EFA, NCCL)",
                },
            )
            self.add(
                "SecurityGroupSelfEgress",
                "AWS::EC2::SecurityGroupEgress",
                {
                    "GroupId": _ref("SecurityGroup"),
                    "IpProtocol": "-1",
                    "DestinationSecurityGroupId": _ref("SecurityGroup"),
                    "Description": "all traffic to itself (EFA, NCCL)",
                },
            )
            sg: Any = _ref("SecurityGroup")
        else:
            sg = net.security_group_id

        if net.create_s3_endpoint and routed:
            self.add(
                "S3Endpoint",
                "AWS::EC2::VPCEndpoint",
                {
                    "VpcId": vpc,
                    "ServiceName": _sub("com.amazonaws.${AWS::Region}.s3"),
                    "VpcEndpointType": "Gateway",
                    "RouteTableIds": [_ref("PrivateRouteTable")],
                },
            )
        self.output("PrivateSubnetId", private, "Subnet of the HyperPod nodes")
        self.output("SecurityGroupId", sg, "Security group of the nodes")
        return vpc, private, eks_subnets, sg

    # -- bucket and roles -------------------------------------------------------------------
    def bucket(self) -> Any:
        lc = self.cfg.lifecycle
        name: Any = lc.bucket_name or default_bucket_name(self.cfg)
        if lc.create_bucket:
            self.add(
                "LifecycleBucket",
                "AWS::S3::Bucket",
                {
                    "BucketName": name,
                    "BucketEncryption": {
                        "ServerSideEncryptionConfiguration": [
                            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                        ]
                    },
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": True,
                        "BlockPublicPolicy": True,
                        "IgnorePublicAcls": True,
                        "RestrictPublicBuckets": True,
                    },
                    "Tags": self.tags(),
                },
                DeletionPolicy="Retain",
                UpdateReplacePolicy="Retain",
            )
            bucket: Any = _ref("LifecycleBucket")
        else:
            bucket = name
        self.output("LifecycleBucketName", bucket, "Bucket holding the lifecycle scripts")
        return bucket

    def execution_role(self, bucket: Any) -> Any:
        if not self.cfg.iam.create_role:
            role = self.cfg.iam.role_arn
            self.output("ExecutionRoleArn", role, "Role the nodes assume")
            return role
        self.add(
            "ExecutionRole",
            "AWS::IAM::Role",
            {
                "RoleName": _sub(f"{self.name('exec')}-${{AWS::Region}}"),
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "sagemaker.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                },
                "ManagedPolicyArns": [
                    _managed("AmazonSageMakerClusterInstanceRolePolicy"),
                    _managed("AmazonEKS_CNI_Policy"),
                ],
                "Policies": [
                    {
                        "PolicyName": "hyperpod-nodes",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [
                                {"Effect": "Allow", "Action": ENI_ACTIONS, "Resource": "*"},
                                {"Effect": "Allow", "Action": ECR_PULL, "Resource": "*"},
                                {
                                    "Effect": "Allow",
                                    "Action": ["eks-auth:AssumeRoleForPodIdentity"],
                                    "Resource": "*",
                                },
                                {
                                    "Effect": "Allow",
                                    "Action": ["s3:GetObject", "s3:ListBucket"],
                                    "Resource": [
                                        {
                                            "Fn::Sub": [
                                                "arn:${AWS::Partition}:s3:::${Bucket}",
                                                {"Bucket": bucket},
                                            ]
                                        },
                                        {
                                            "Fn::Sub": [
                                                "arn:${AWS::Partition}:s3:::${Bucket}/*",
                                                {"Bucket": bucket},
                                            ]
                                        },
                                    ],
                                },
                            ],
                        },
                    }
                ],
                "Tags": self.tags(),
            },
        )
        role_arn = _att("ExecutionRole", "Arn")
        self.output("ExecutionRoleArn", role_arn, "Role the nodes assume")
        return role_arn

    # -- EKS ----------------------------------------------------------------------------------
    def eks(self, subnets: list[Json], sg: Any) -> tuple[Any, Any]:
        """Create (or name) the EKS cluster; returns (cluster ARN, cluster name)."""
        cfg, eks = self.cfg, self.cfg.eks
        name = cfg.eks_cluster_name
        if not eks.create:
            arn = _sub(
                f"arn:${{AWS::Partition}}:eks:${{AWS::Region}}:${{AWS::AccountId}}:cluster/{name}"
            )
            self.output("EksClusterName", name, "EKS cluster")
            self.output("EksClusterArn", arn, "EKS cluster ARN")
            return arn, name
        self.add(
            "EksClusterRole",
            "AWS::IAM::Role",
            {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "eks.amazonaws.com"},
                            "Action": ["sts:AssumeRole", "sts:TagSession"],
                        }
                    ],
                },
                "ManagedPolicyArns": [_managed("AmazonEKSClusterPolicy")],
                "Tags": self.tags(),
            },
        )
        self.add(
            "EksCluster",
            "AWS::EKS::Cluster",
            {
                "Name": name,
                "Version": eks.kubernetes_version,
                "RoleArn": _att("EksClusterRole", "Arn"),
                "ResourcesVpcConfig": {
                    "SubnetIds": subnets,
                    "SecurityGroupIds": [sg],
                    "EndpointPublicAccess": eks.endpoint_public_access,
                    "EndpointPrivateAccess": eks.endpoint_private_access,
                },
                "Logging": {
                    "ClusterLogging": {"EnabledTypes": [{"Type": t} for t in EKS_LOG_TYPES]}
                },
                "AccessConfig": {
                    "AuthenticationMode": eks.authentication_mode,
                    "BootstrapClusterCreatorAdminPermissions": True,
                },
                "Tags": self.tags(),
            },
        )
        for addon in EKS_CORE_ADDONS:
            logical = "Addon" + "".join(p.capitalize() for p in addon.split("-"))
            self.add(
                logical,
                "AWS::EKS::Addon",
                {
                    "AddonName": addon,
                    "ClusterName": _ref("EksCluster"),
                    "ResolveConflicts": "OVERWRITE",
                    "Tags": self.tags(),
                },
            )
        for i, principal in enumerate(eks.admin_principal_arns):
            self.add(
                f"AdminAccess{i + 1}",
                "AWS::EKS::AccessEntry",
                {
                    "ClusterName": _ref("EksCluster"),
                    "PrincipalArn": principal,
                    "Type": "STANDARD",
                    "AccessPolicies": [
                        {
                            "PolicyArn": _sub(
                                "arn:${AWS::Partition}:eks::aws:cluster-access-policy/"
                                "AmazonEKSClusterAdminPolicy"
                            ),
                            "AccessScope": {"Type": "cluster"},
                        }
                    ],
                },
            )
        self.output("EksClusterName", _ref("EksCluster"), "EKS cluster")
        self.output(
            "EksClusterArn",
            _sub(
                "arn:${AWS::Partition}:eks:${AWS::Region}:${AWS::AccountId}:cluster/${EksCluster}"
            ),
            "EKS cluster ARN",
        )
        return _att("EksCluster", "Arn"), _ref("EksCluster")

    # -- gate, HyperPod, FSx ------------------------------------------------------------------
    def gate(self) -> str:
        self.add("BootstrapHandle", "AWS::CloudFormation::WaitConditionHandle", {})
        depends: list[str] = [r for r in ("EksCluster", "LifecycleBucket") if r in self.resources]
        depends += [r for r in self.resources if r.startswith(("Addon", "AdminAccess"))]
        self.add(
            "BootstrapGate",
            "AWS::CloudFormation::WaitCondition",
            {"Handle": _ref("BootstrapHandle"), "Timeout": str(GATE_TIMEOUT_S), "Count": 1},
            **({"DependsOn": depends} if depends else {}),
        )
        return "BootstrapGate"

    def hyperpod(self, private: Any, sg: Any, role: Any, bucket: Any, eks_arn: Any) -> None:
        cfg = self.cfg
        groups = []
        for g in cfg.instance_groups:
            group: Json = {
                "InstanceGroupName": g.name,
                "InstanceType": g.instance_type,
                "InstanceCount": g.instance_count,
                "ExecutionRole": role,
                "ThreadsPerCore": g.threads_per_core,
                "LifeCycleConfig": {
                    "SourceS3Uri": {"Fn::Sub": ["s3://${Bucket}/", {"Bucket": bucket}]},
                    "OnCreate": cfg.lifecycle.on_create_script,
                },
                "InstanceStorageConfigs": [
                    {"EbsVolumeConfig": {"VolumeSizeInGB": g.ebs_volume_gb}}
                ],
            }
            if g.deep_health_checks:
                group["OnStartDeepHealthChecks"] = list(g.deep_health_checks)
            if g.training_plan_arn:
                group["TrainingPlanArn"] = g.training_plan_arn
            groups.append(group)
        props: Json = {
            "ClusterName": cfg.cluster_name,
            "InstanceGroups": groups,
            "Orchestrator": {"Eks": {"ClusterArn": eks_arn}},
            "VpcConfig": {"SecurityGroupIds": [sg], "Subnets": [private]},
            "NodeRecovery": cfg.node_recovery,
            "Tags": self.tags(),
        }
        if cfg.node_provisioning_mode:
            props["NodeProvisioningMode"] = cfg.node_provisioning_mode
        self.add("HyperPodCluster", "AWS::SageMaker::Cluster", props, DependsOn="BootstrapGate")
        self.output("HyperPodClusterName", cfg.cluster_name, "HyperPod cluster")

    def node_addons(self) -> None:
        """CoreDNS, cert-manager and the HyperPod training operator: EKS add-ons whose pods need
        nodes, so they come after the HyperPod cluster (the gate would wait for them forever)."""
        if not self.cfg.eks.create:
            return
        previous = "HyperPodCluster"
        for addon in EKS_NODE_ADDONS:
            logical = "".join(p.capitalize() for p in addon.split("-")) + "NodeAddon"
            self.add(
                logical,
                "AWS::EKS::Addon",
                {
                    "AddonName": addon,
                    "ClusterName": _ref("EksCluster"),
                    "ResolveConflicts": "OVERWRITE",
                    "Tags": self.tags(),
                },
                DependsOn=previous,
            )
        if self.cfg.helm.hyperpod_training_operator:
            self.training_operator_identity()
            self.add(
                "HyperPodTrainingOperatorAddon",
                "AWS::EKS::Addon",
                {
                    "AddonName": HYPERPOD_TRAINING_OPERATOR,
                    "ClusterName": _ref("EksCluster"),
                    "ResolveConflicts": "OVERWRITE",
                    "Tags": self.tags(),
                },
                DependsOn=[
                    "HyperPodCluster",
                    "CertManagerNodeAddon",
                    "TrainingOperatorPodIdentity",
                ],
            )

    def training_operator_identity(self) -> None:
        """The operator's AWS credentials through EKS Pod Identity (the agent is one of the
        core add-ons): a role EKS pods may assume, with AWS's managed policy for the operator,
        associated with the operator's service account."""
        self.add(
            "TrainingOperatorRole",
            "AWS::IAM::Role",
            {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "pods.eks.amazonaws.com"},
                            "Action": ["sts:AssumeRole", "sts:TagSession"],
                        }
                    ],
                },
                "ManagedPolicyArns": [_managed(TRAINING_OPERATOR_POLICY)],
                "Tags": self.tags(),
            },
        )
        self.add(
            "TrainingOperatorPodIdentity",
            "AWS::EKS::PodIdentityAssociation",
            {
                "ClusterName": _ref("EksCluster"),
                "Namespace": TRAINING_OPERATOR_NAMESPACE,
                "ServiceAccount": TRAINING_OPERATOR_SERVICE_ACCOUNT,
                "RoleArn": _att("TrainingOperatorRole", "Arn"),
                "Tags": self.tags(),
            },
            DependsOn="AddonEksPodIdentityAgent",
        )

    def fsx(self, private: Any, sg: Any) -> None:
        fsx = self.cfg.fsx
        if not fsx.create:
            return
        self.add(
            "FsxLustre",
            "AWS::FSx::FileSystem",
            {
                "FileSystemType": "LUSTRE",
                "StorageCapacity": fsx.storage_capacity_gib,
                "SubnetIds": [private],
                "SecurityGroupIds": [sg],
                "LustreConfiguration": {
                    "DeploymentType": "PERSISTENT_2",
                    "PerUnitStorageThroughput": fsx.per_unit_storage_throughput,
                    "DataCompressionType": "LZ4",
                },
                "Tags": self.tags(self.name("fsx")),
            },
        )
        self.output("FsxFileSystemId", _ref("FsxLustre"), "FSx for Lustre file system")


def render(cfg: AwsClusterConfig) -> Json:
    """The whole CloudFormation template for ``cfg``."""
    b = _Builder(cfg)
    _vpc, private, eks_subnets, sg = b.network()
    bucket = b.bucket()
    role = b.execution_role(bucket)
    eks_arn, _eks_name = b.eks(eks_subnets, sg)
    b.gate()
    b.hyperpod(private, sg, role, bucket, eks_arn)
    b.node_addons()
    b.fsx(private, sg)
    b.output("BootstrapHandleUrl", _ref("BootstrapHandle"), "Signal URL of the bootstrap gate")
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"HyperPod on EKS cluster stack {cfg.stack} (rendered by hyp)",
        "Resources": b.resources,
        "Outputs": b.outputs,
    }


def parameters(cfg: AwsClusterConfig) -> list[Json]:
    """Stack parameters (the template inlines every value, so none are needed today)."""
    return []


def stack_tags(cfg: AwsClusterConfig) -> list[Json]:
    """Tags on the stack itself; ``hyperpod:managed`` is how ``list`` finds our stacks."""
    tags = [{"Key": k, "Value": v} for k, v in sorted(cfg.tags.items())]
    tags += [
        {"Key": "hyperpod:managed", "Value": "true"},
        {"Key": "hyperpod:hyperpod-cluster", "Value": cfg.cluster_name},
        {"Key": "hyperpod:eks-cluster", "Value": cfg.eks_cluster_name},
    ]
    return tags
