"""Schema of a ``provider: aws`` cluster-stack config (HyperPod on EKS), and its commented template.

Types, ranges and name rules live here; checks that need arithmetic across fields (CIDR
capacity, overlaps) or the cloud (quotas, offerings) live in ``hyperpod.providers.aws.checks``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
PREFIX_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,19}$")
AZ_ID_RE = re.compile(r"^[a-z]{2,4}[0-9]{1,2}-az[0-9]{1,2}$")
REGION_RE = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$")
K8S_VERSION_RE = re.compile(r"^1\.[0-9]{2}$")
INSTANCE_TYPE_RE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
DEEP_HEALTH_CHECKS = ("InstanceStress", "InstanceConnectivity")
MAX_INSTANCE_GROUPS = 20


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _cidr(value: str) -> str:
    try:
        net = ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        raise ValueError(
            f"{value!r} is not an IPv4 CIDR block with its host bits zero (e.g. 10.1.0.0/16): {exc}"
        ) from exc
    if not 16 <= net.prefixlen <= 28:
        raise ValueError(f"{value}: AWS allows subnet and VPC blocks from /16 to /28")
    return str(net)


class Networking(_Model):
    """The VPC, subnets and security group the cluster runs in."""

    create_vpc: bool = Field(True, description="Create a new VPC (false: reuse vpc_id)")
    vpc_id: str | None = Field(None, description="VPC to reuse when create_vpc is false")
    vpc_cidr: str = Field(
        "10.192.0.0/16", description="Primary CIDR of a new VPC (public and EKS subnets)"
    )
    public_subnet_cidrs: list[str] = Field(
        default_factory=lambda: ["10.192.10.0/24", "10.192.11.0/24"],
        description="Public subnets (NAT gateways) of a new VPC, one per AZ listed",
    )
    create_private_subnet: bool = Field(
        True,
        description="Create the HyperPod nodes' private subnet (false: reuse private_subnet_id)",
    )
    private_subnet_cidr: str = Field(
        "10.1.0.0/16",
        description="Secondary VPC CIDR and subnet for HyperPod nodes (about 81 IPs per p5 node)",
    )
    private_subnet_id: str | None = Field(
        None,
        description="Existing private subnet for the nodes when create_private_subnet is false",
    )
    eks_subnet_cidrs: list[str] = Field(
        default_factory=lambda: ["10.192.7.0/28", "10.192.8.0/28"],
        description="Two small subnets (/28 is enough) in different AZs for the EKS control plane",
    )
    create_security_group: bool = Field(
        True, description="Create a security group that allows all traffic to and from itself"
    )
    security_group_id: str | None = Field(
        None, description="Security group to reuse; it must allow all traffic to/from itself (EFA)"
    )
    create_s3_endpoint: bool = Field(
        True, description="S3 gateway endpoint so nodes reach the lifecycle bucket privately"
    )
    create_nat_gateway: bool = Field(True, description="NAT gateway for outbound internet access")

    @field_validator("vpc_cidr", "private_subnet_cidr")
    @classmethod
    def _one_cidr(cls, v: str) -> str:
        return _cidr(v)

    @field_validator("public_subnet_cidrs", "eks_subnet_cidrs")
    @classmethod
    def _many_cidrs(cls, v: list[str]) -> list[str]:
        return [_cidr(c) for c in v]

    @field_validator("vpc_id")
    @classmethod
    def _vpc_id(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"vpc-[0-9a-f]{8,17}", v):
            raise ValueError(f"{v!r} is not a VPC id (vpc-0123456789abcdef0)")
        return v

    @field_validator("private_subnet_id")
    @classmethod
    def _subnet_id(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"subnet-[0-9a-f]{8,17}", v):
            raise ValueError(f"{v!r} is not a subnet id (subnet-0123456789abcdef0)")
        return v

    @field_validator("security_group_id")
    @classmethod
    def _sg_id(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"sg-[0-9a-f]{8,17}", v):
            raise ValueError(f"{v!r} is not a security group id (sg-0123456789abcdef0)")
        return v

    @model_validator(mode="after")
    def _reuse_needs_ids(self) -> Networking:
        if not self.create_vpc and not self.vpc_id:
            raise ValueError("networking.vpc_id is required when networking.create_vpc is false")
        if not self.create_private_subnet and not self.private_subnet_id:
            raise ValueError(
                "networking.private_subnet_id is required when create_private_subnet is false"
            )
        if not self.create_security_group and not self.security_group_id:
            raise ValueError(
                "networking.security_group_id is required when create_security_group is false"
            )
        return self


class Eks(_Model):
    """The EKS cluster that orchestrates the HyperPod nodes."""

    create: bool = Field(True, description="Create the EKS cluster (false: reuse cluster_name)")
    cluster_name: str | None = Field(
        None, description="EKS cluster name (default: <resource_name_prefix>-eks)"
    )
    kubernetes_version: str = Field("1.32", description="Kubernetes version (1.30 to 1.35)")
    authentication_mode: str = Field(
        "API_AND_CONFIG_MAP", description="API or API_AND_CONFIG_MAP (CONFIG_MAP alone fails)"
    )
    admin_principal_arns: list[str] = Field(
        default_factory=list,
        description="Extra IAM principals given cluster-admin access entries (the creator has one)",
    )
    endpoint_public_access: bool = Field(True, description="Public API endpoint")
    endpoint_private_access: bool = Field(True, description="Private API endpoint")

    @field_validator("cluster_name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[0-9A-Za-z][A-Za-z0-9\-_]{0,99}", v):
            raise ValueError(f"{v!r}: EKS names are 1-100 letters, digits, '-' or '_'")
        return v

    @field_validator("kubernetes_version")
    @classmethod
    def _version(cls, v: str) -> str:
        if not K8S_VERSION_RE.fullmatch(str(v)):
            raise ValueError(f"{v!r} is not a Kubernetes minor version like '1.32' (quote it)")
        return str(v)

    @field_validator("authentication_mode")
    @classmethod
    def _auth(cls, v: str) -> str:
        if v == "CONFIG_MAP":
            raise ValueError(
                "CONFIG_MAP alone does not work with HyperPod (it needs access entries): "
                "use API_AND_CONFIG_MAP or API"
            )
        if v not in ("API", "API_AND_CONFIG_MAP"):
            raise ValueError(f"{v!r}: use API_AND_CONFIG_MAP or API")
        return v

    @field_validator("admin_principal_arns")
    @classmethod
    def _arns(cls, v: list[str]) -> list[str]:
        for arn in v:
            if not re.fullmatch(r"arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:\S+", arn):
                raise ValueError(f"{arn!r} is not an IAM role or user ARN")
        return v


class HelmAddons(_Model):
    """What the HyperPod dependencies chart installs before the HyperPod cluster is created."""

    install: bool = Field(True, description="Install the add-ons below before the nodes join")
    nvidia_device_plugin: bool = Field(True, description="NVIDIA device plugin (nvidia.com/gpu)")
    efa_device_plugin: bool = Field(True, description="EFA device plugin (vpc.amazonaws.com/efa)")
    neuron_device_plugin: bool = Field(False, description="Neuron device plugin (Trainium)")
    training_operator: bool = Field(True, description="Kubeflow training operator (PyTorchJob)")
    mpi_operator: bool = Field(False, description="MPI operator")
    kueue: bool = Field(False, description="Kueue for task governance (team quotas)")
    health_monitoring_agent: bool = Field(True, description="HyperPod health monitoring agent")
    deep_health_check: bool = Field(True, description="Deep health check RBAC and config")
    job_auto_restart: bool = Field(True, description="Job auto-restart RBAC")
    hyperpod_training_operator: bool = Field(
        True,
        description="HyperPod training operator (HyperPodPyTorchJob) as the EKS add-on, after the "
        "nodes join (needs cert-manager, installed with it)",
    )
    fsx_csi_driver: bool = Field(
        True, description="FSx for Lustre CSI driver, StorageClass and PV (when fsx.create)"
    )
    observability: bool = Field(
        False, description="Prometheus scrape annotations and a node exporter (observability)"
    )


class Lifecycle(_Model):
    """The S3 bucket holding the lifecycle scripts every node runs at creation."""

    create_bucket: bool = Field(True, description="Create the bucket (false: reuse bucket_name)")
    bucket_name: str | None = Field(
        None,
        description="Bucket name (default sagemaker-<prefix>-<account>-<region>); must start "
        "with 'sagemaker-' when the role has only the managed policy",
    )
    on_create_script: str = Field("on_create.sh", description="Script run on each new node")
    script_file: str | None = Field(
        None, description="Local file uploaded as the on-create script (default: a minimal one)"
    )

    @field_validator("bucket_name")
    @classmethod
    def _bucket(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", v) or ".." in v:
            raise ValueError(
                f"{v!r}: bucket names are 3-63 lowercase letters, digits, '.' or '-', "
                "starting and ending with a letter or digit"
            )
        return v

    @field_validator("on_create_script")
    @classmethod
    def _script(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9._-]+", v):
            raise ValueError("on_create_script is a file name inside the bucket, e.g. on_create.sh")
        return v


class Iam(_Model):
    """The execution role HyperPod nodes assume."""

    create_role: bool = Field(True, description="Create the role (false: reuse role_arn)")
    role_arn: str | None = Field(None, description="Existing execution role ARN to reuse")
    managed_policy_only: bool = Field(
        True,
        description="The role has only AmazonSageMakerClusterInstanceRolePolicy for S3, so the "
        "bucket name must start with 'sagemaker-'",
    )

    @field_validator("role_arn")
    @classmethod
    def _arn(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/\S+", v):
            raise ValueError(f"{v!r} is not an IAM role ARN (arn:aws:iam::123456789012:role/x)")
        return v

    @model_validator(mode="after")
    def _reuse(self) -> Iam:
        if not self.create_role and not self.role_arn:
            raise ValueError("iam.role_arn is required when iam.create_role is false")
        return self


class InstanceGroup(_Model):
    """One group of identical HyperPod nodes."""

    name: str = Field(description="Group name, unique in the cluster")
    instance_type: str = Field(description="SageMaker instance type, e.g. ml.p5.48xlarge")
    instance_count: int = Field(ge=0, le=2000, description="Number of nodes")
    ebs_volume_gb: int = Field(500, ge=1, le=16384, description="Extra EBS volume per node (GB)")
    threads_per_core: int = Field(1, ge=1, le=2, description="1 (no hyperthreading) or 2")
    deep_health_checks: list[str] = Field(
        default_factory=list,
        description="On-start deep health checks: InstanceStress, InstanceConnectivity",
    )
    training_plan_arn: str | None = Field(None, description="Reserved capacity (training plan)")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.fullmatch(v):
            raise ValueError(
                f"{v!r}: group names are 1-63 letters, digits or '-', not starting or ending with '-'"
            )
        return v

    @field_validator("instance_type")
    @classmethod
    def _type(cls, v: str) -> str:
        if not v.startswith("ml."):
            v = "ml." + v
        if not INSTANCE_TYPE_RE.fullmatch(v):
            raise ValueError(f"{v!r} is not an instance type like ml.p5.48xlarge")
        return v

    @field_validator("deep_health_checks")
    @classmethod
    def _checks(cls, v: list[str]) -> list[str]:
        for c in v:
            if c not in DEEP_HEALTH_CHECKS:
                raise ValueError(f"{c!r}: deep health checks are {', '.join(DEEP_HEALTH_CHECKS)}")
        return v


class Fsx(_Model):
    """An optional FSx for Lustre file system in the nodes' subnet."""

    create: bool = Field(False, description="Create an FSx for Lustre file system")
    storage_capacity_gib: int = Field(1200, ge=1200, description="1200 or a multiple of 2400")
    per_unit_storage_throughput: int = Field(250, description="MB/s per TiB: 125, 250, 500, 1000")

    @field_validator("storage_capacity_gib")
    @classmethod
    def _capacity(cls, v: int) -> int:
        if v != 1200 and v % 2400:
            raise ValueError(f"{v}: FSx for Lustre capacity is 1200 or a multiple of 2400 GiB")
        return v

    @field_validator("per_unit_storage_throughput")
    @classmethod
    def _throughput(cls, v: int) -> int:
        if v not in (125, 250, 500, 1000):
            raise ValueError(f"{v}: throughput per unit is 125, 250, 500 or 1000")
        return v


class AwsClusterConfig(_Model):
    """A whole ``provider: aws`` cluster stack."""

    template: str = Field("cluster-stack", description="Template name (do not edit)")
    version: str = Field("1.0", description="Template version (do not edit)")
    provider: Literal["aws"] = Field("aws", description="Where the cluster runs")
    region: str | None = Field(
        None, description="AWS region (default: the standard chain, AWS_REGION or the profile)"
    )
    availability_zone_ids: list[str] = Field(
        min_length=1, description="AZ IDs (not names), e.g. [usw2-az2]; nodes use the first"
    )
    resource_name_prefix: str = Field(
        "hyp-eks", description="Prefix of every resource name; also names the stack"
    )
    stack_name: str | None = Field(
        None, description="CloudFormation stack name (default <resource_name_prefix>-stack)"
    )
    hyperpod_cluster_name: str | None = Field(
        None, description="HyperPod cluster name (default <resource_name_prefix>-cluster)"
    )
    tags: dict[str, str] = Field(default_factory=dict, description="Tags on every resource")
    node_recovery: Literal["Automatic", "None"] = Field(
        "Automatic", description="Automatic: reboot/replace faulty nodes; None: only label them"
    )
    node_provisioning_mode: Literal["Continuous"] | None = Field(
        "Continuous", description="Continuous: nodes join as they become ready"
    )
    networking: Networking = Field(
        default_factory=lambda: Networking.model_validate({}), description="Networking"
    )
    eks: Eks = Field(default_factory=lambda: Eks.model_validate({}), description="EKS cluster")
    helm: HelmAddons = Field(
        default_factory=lambda: HelmAddons.model_validate({}), description="Add-ons"
    )
    lifecycle: Lifecycle = Field(
        default_factory=lambda: Lifecycle.model_validate({}), description="Lifecycle scripts"
    )
    iam: Iam = Field(default_factory=lambda: Iam.model_validate({}), description="Execution role")
    instance_groups: list[InstanceGroup] = Field(
        min_length=1, max_length=MAX_INSTANCE_GROUPS, description="Instance groups (up to 20)"
    )
    fsx: Fsx = Field(default_factory=lambda: Fsx.model_validate({}), description="FSx for Lustre")

    @field_validator("region")
    @classmethod
    def _region(cls, v: str | None) -> str | None:
        if v is not None and not REGION_RE.fullmatch(v):
            raise ValueError(f"{v!r} is not an AWS region like us-west-2")
        return v

    @field_validator("availability_zone_ids")
    @classmethod
    def _az_ids(cls, v: list[str]) -> list[str]:
        for az in v:
            if not AZ_ID_RE.fullmatch(az):
                hint = (
                    " (that is an AZ name; use the AZ ID, e.g. usw2-az2)"
                    if az[-1:].isalpha()
                    else ""
                )
                raise ValueError(f"{az!r} is not an availability zone ID{hint}")
        if len(set(v)) != len(v):
            raise ValueError("availability_zone_ids lists an AZ twice")
        return v

    @field_validator("resource_name_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if not PREFIX_RE.fullmatch(v):
            raise ValueError(
                f"{v!r}: the prefix is 1-20 lowercase letters, digits or '-' starting with a "
                "letter or digit (it ends up in bucket and role names)"
            )
        return v

    @field_validator("stack_name")
    @classmethod
    def _stack(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[a-zA-Z][-a-zA-Z0-9]{0,127}", v):
            raise ValueError(f"{v!r}: stack names start with a letter; letters, digits and '-'")
        return v

    @field_validator("hyperpod_cluster_name")
    @classmethod
    def _cluster(cls, v: str | None) -> str | None:
        if v is not None and not NAME_RE.fullmatch(v):
            raise ValueError(f"{v!r}: cluster names are 1-63 letters, digits or '-'")
        return v

    @model_validator(mode="after")
    def _unique_groups(self) -> AwsClusterConfig:
        seen: set[str] = set()
        for g in self.instance_groups:
            if g.name in seen:
                raise ValueError(f"instance_groups: the name {g.name!r} is used twice")
            seen.add(g.name)
        return self

    # Names derived from the prefix, in one place.
    @property
    def stack(self) -> str:
        return self.stack_name or f"{self.resource_name_prefix}-stack"

    @property
    def eks_cluster_name(self) -> str:
        return self.eks.cluster_name or f"{self.resource_name_prefix}-eks"

    @property
    def cluster_name(self) -> str:
        return self.hyperpod_cluster_name or f"{self.resource_name_prefix}-cluster"


_TEMPLATE = """\
# template: cluster-stack
# version: 1.0
# A HyperPod cluster on Amazon EKS. Fields marked [Required] have no default.
# Check it with `hyp validate` (offline checks always; cloud checks when credentials exist),
# then `hyp create --dry-run` to render and lint the CloudFormation template, then `hyp create`.
template: cluster-stack        # Template name (do not edit)
version: "1.0"                 # Template version (do not edit)
provider: aws                  # Where the cluster runs: aws (local is the embedded cluster)

# AWS region. Default: the standard chain (AWS_REGION, AWS_DEFAULT_REGION, the profile).
region: us-west-2
# [Required] Availability zone IDs (not names: usw2-az2, not us-west-2a). The nodes' private
# subnet goes in the first; EKS needs two AZs, so list two or more when the VPC is created.
availability_zone_ids: [usw2-az2, usw2-az1]
# Prefix of every resource name (1-20 lowercase letters, digits, '-').
resource_name_prefix: hyp-eks
# CloudFormation stack name. Default: <resource_name_prefix>-stack.
stack_name: null
# HyperPod cluster name. Default: <resource_name_prefix>-cluster.
hyperpod_cluster_name: null
# Tags put on every resource the stack creates.
tags: {}
# Node recovery: Automatic (reboot or replace faulty nodes) or None (only label them).
node_recovery: Automatic
# Node provisioning: Continuous (nodes join as they become ready) or null.
node_provisioning_mode: Continuous

# Networking: a new VPC or an existing one, the nodes' subnet, the security group.
networking:
  # Create a new VPC (true) or reuse vpc_id (false).
  create_vpc: true
  # VPC to reuse when create_vpc is false (vpc-...).
  vpc_id: null
  # Primary CIDR of a new VPC; holds the public and EKS subnets.
  vpc_cidr: 10.192.0.0/16
  # Public subnets of a new VPC (NAT gateway), one per AZ listed.
  public_subnet_cidrs: [10.192.10.0/24, 10.192.11.0/24]
  # Create the nodes' private subnet (true) or reuse private_subnet_id (false).
  create_private_subnet: true
  # Secondary VPC CIDR and subnet for HyperPod nodes. On EKS a p5 node takes about 81 IPs, so a
  # /24 holds 3 p5 nodes and a /16 about 809. It cannot grow later: `hyp validate` checks it.
  private_subnet_cidr: 10.1.0.0/16
  # Existing private subnet for the nodes when create_private_subnet is false (subnet-...).
  private_subnet_id: null
  # Two small subnets in different AZs for the EKS control plane (/28 is enough).
  eks_subnet_cidrs: [10.192.7.0/28, 10.192.8.0/28]
  # Create a security group allowing all traffic to and from itself (EFA needs it).
  create_security_group: true
  # Security group to reuse when create_security_group is false (sg-...); it must allow all
  # traffic to and from itself or EFA health checks fail at creation.
  security_group_id: null
  # S3 gateway endpoint so nodes read the lifecycle bucket privately.
  create_s3_endpoint: true
  # NAT gateway for outbound internet access from the private subnets.
  create_nat_gateway: true

# EKS: the Kubernetes control plane the HyperPod nodes join.
eks:
  # Create the EKS cluster (true) or reuse cluster_name (false).
  create: true
  # EKS cluster name. Default: <resource_name_prefix>-eks.
  cluster_name: null
  # Kubernetes version, quoted (1.30 to 1.35).
  kubernetes_version: "1.32"
  # Authentication mode: API_AND_CONFIG_MAP or API (CONFIG_MAP alone does not work).
  authentication_mode: API_AND_CONFIG_MAP
  # Extra IAM principals (role or user ARNs) given cluster-admin access entries; the
  # identity that creates the stack always gets one.
  admin_principal_arns: []
  # Public API endpoint.
  endpoint_public_access: true
  # Private API endpoint.
  endpoint_private_access: true

# Add-ons (the HyperPod dependencies chart), installed before the nodes join.
helm:
  # Install the add-ons below before the HyperPod nodes join (true).
  install: true
  # NVIDIA device plugin (nvidia.com/gpu).
  nvidia_device_plugin: true
  # EFA device plugin (vpc.amazonaws.com/efa).
  efa_device_plugin: true
  # Neuron device plugin (Trainium).
  neuron_device_plugin: false
  # Kubeflow training operator (PyTorchJob).
  training_operator: true
  # MPI operator.
  mpi_operator: false
  # Kueue, for task governance (team quotas).
  kueue: false
  # HyperPod health monitoring agent.
  health_monitoring_agent: true
  # Deep health check RBAC and configuration.
  deep_health_check: true
  # Job auto-restart RBAC.
  job_auto_restart: true
  # HyperPod training operator (HyperPodPyTorchJob), the EKS add-on; installed with cert-manager
  # after the nodes join.
  hyperpod_training_operator: true
  # FSx for Lustre CSI driver, StorageClass and PersistentVolume (when fsx.create is true).
  fsx_csi_driver: true
  # Observability: a node exporter and Prometheus scrape annotations.
  observability: false

# Lifecycle scripts: the S3 bucket and the script each node runs when created.
lifecycle:
  # Create the lifecycle-script bucket (true) or reuse bucket_name (false).
  create_bucket: true
  # Bucket name. Default: sagemaker-<prefix>-<account>-<region>. With only the managed policy
  # the role can read only buckets whose names start with 'sagemaker-'.
  bucket_name: null
  # Script every new node runs, as named in the bucket.
  on_create_script: on_create.sh
  # Local file uploaded as that script. Default: a minimal script shipped with hyp.
  script_file: null

# IAM: the execution role the nodes assume.
iam:
  # Create the execution role (true) or reuse role_arn (false).
  create_role: true
  # Execution role to reuse (arn:aws:iam::<account>:role/<name>).
  role_arn: null
  # The role has only AmazonSageMakerClusterInstanceRolePolicy for S3 (bucket must be sagemaker-*).
  managed_policy_only: true

# [Required] Instance groups (1 to 20).
instance_groups:
  - # [Required] Group name, unique in the cluster (letters, digits, '-').
    name: worker
    # [Required] SageMaker instance type, e.g. ml.p5.48xlarge, ml.g5.8xlarge.
    instance_type: ml.g5.8xlarge
    # [Required] Number of nodes.
    instance_count: 2
    # Extra EBS volume per node, GB.
    ebs_volume_gb: 500
    # Threads per core: 1 (no hyperthreading) or 2.
    threads_per_core: 1
    # On-start deep health checks: InstanceStress, InstanceConnectivity.
    deep_health_checks: [InstanceStress, InstanceConnectivity]
    # Training plan ARN for reserved capacity, or null.
    training_plan_arn: null

# Optional FSx for Lustre shared file system.
fsx:
  # Create an FSx for Lustre file system in the nodes' subnet.
  create: false
  # Capacity, GiB: 1200 or a multiple of 2400.
  storage_capacity_gib: 1200
  # Throughput per TiB, MB/s: 125, 250, 500 or 1000.
  per_unit_storage_throughput: 250
"""


def aws_template_yaml() -> str:
    """The commented ``config.yaml`` that ``hyp init cluster-stack --provider aws`` writes."""
    return _TEMPLATE
