"""Kubeconfig for a HyperPod cluster's EKS cluster: resolve it, check the caller's access entry,
build a context that authenticates through ``python -m hyperpod.providers.aws.token``, merge it.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import botocore.exceptions
import yaml

from hyperpod.providers.aws import token as eks_token
from hyperpod.providers.aws.errors import AwsError, ClusterNotFound, NoAccess
from hyperpod.providers.aws.session import Aws, call, error_code, paginate

ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"


def eks_cluster_of(aws: Aws, hyperpod_cluster: str) -> str:
    """The EKS cluster name orchestrating ``hyperpod_cluster`` (its ``Orchestrator``, else our tag)."""
    sm = aws.client("sagemaker")
    try:
        desc = call(sm.describe_cluster, ClusterName=hyperpod_cluster)
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) in (
            "ValidationException",
            "ResourceNotFound",
            "ResourceNotFoundException",
        ):
            raise ClusterNotFound(
                f"no HyperPod cluster {hyperpod_cluster!r} in {aws.region}",
                "list them with `hyp list-cluster`, or check the region (AWS_REGION)",
            ) from exc
        raise
    arn = desc.get("Orchestrator", {}).get("Eks", {}).get("ClusterArn")
    if arn:
        return str(arn).rsplit("/", 1)[-1]
    tags = call(sm.list_tags, ResourceArn=desc["ClusterArn"]).get("Tags", [])
    for t in tags:
        if t["Key"] == "hyperpod:eks-cluster":
            return str(t["Value"])
    raise ClusterNotFound(
        f"HyperPod cluster {hyperpod_cluster!r} is not orchestrated by EKS",
        "set-cluster-context works for EKS-orchestrated clusters only",
    )


def principal_of(caller_arn: str) -> str:
    """The IAM principal an access entry names: assumed-role sessions map to their role."""
    m = re.fullmatch(r"arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([^/]+)/.+", caller_arn)
    if m:
        return f"arn:{m.group(1)}:iam::{m.group(2)}:role/{m.group(3)}"
    return caller_arn


def _same_principal(principal: str, entry: str) -> bool:
    """Does access entry ``entry`` name ``principal``? Role paths (SSO roles have one) are not
    visible in an assumed-role ARN, so roles match on account and name."""
    if principal == entry:
        return True
    p = re.fullmatch(r"arn:[^:]+:iam::(\d{12}):role/(.+)", principal)
    e = re.fullmatch(r"arn:[^:]+:iam::(\d{12}):role/(?:.*/)?([^/]+)", entry)
    return bool(p and e and p.group(1) == e.group(1) and p.group(2) == e.group(2))


def fix_access_command(cluster: str, principal: str) -> str:
    return (
        f"aws eks create-access-entry --cluster-name {cluster} --principal-arn {principal} && "
        f"aws eks associate-access-policy --cluster-name {cluster} --principal-arn {principal} "
        f"--policy-arn {ADMIN_POLICY} --access-scope type=cluster"
    )


def check_access(aws: Aws, eks_name: str, cluster: dict[str, Any]) -> str | None:
    """Raise NoAccess when the caller has no access entry; a note when it could not be checked."""
    mode = cluster.get("accessConfig", {}).get("authenticationMode")
    if mode == "CONFIG_MAP":
        return "the cluster uses CONFIG_MAP authentication; access entries were not checked"
    principal = principal_of(aws.caller_arn())
    try:
        entries = paginate(
            aws.client("eks"), "list_access_entries", "accessEntries", clusterName=eks_name
        )
    except botocore.exceptions.ClientError as exc:
        code = error_code(exc)
        if code in ("AccessDeniedException",):
            return f"could not list access entries ({code}); assuming {principal} has one"
        if code in (
            "404",
            "NotFoundException",
            "UnknownOperationException",
            "InvalidRequestException",
        ):
            return "access entries could not be listed here; not checked"
        raise
    if not any(_same_principal(principal, e) for e in entries):
        raise NoAccess(
            f"{principal} has no access entry on EKS cluster {eks_name}, so the Kubernetes API "
            "will refuse it",
            f"an admin can run: {fix_access_command(eks_name, principal)}",
        )
    return None


def build(
    *,
    eks_name: str,
    arn: str,
    endpoint: str,
    ca_data: str,
    region: str,
    profile: str | None = None,
    python: str | None = None,
) -> dict[str, Any]:
    """A one-context kubeconfig whose user runs our token plugin (no AWS CLI needed)."""
    args = ["-m", "hyperpod.providers.aws.token", "--cluster-name", eks_name, "--region", region]
    exec_: dict[str, Any] = {
        "apiVersion": eks_token.EXEC_API_VERSION,
        "command": python or sys.executable,
        "args": args,
        "interactiveMode": "Never",
        "provideClusterInfo": False,
    }
    if profile:
        exec_["env"] = [{"name": "AWS_PROFILE", "value": profile}]
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {"name": arn, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}
        ],
        "users": [{"name": arn, "user": {"exec": exec_}}],
        "contexts": [{"name": arn, "context": {"cluster": arn, "user": arn}}],
        "current-context": arn,
    }


def for_eks(aws: Aws, eks_name: str, *, check: bool = True) -> tuple[dict[str, Any], str | None]:
    """(kubeconfig, note) for an EKS cluster; checks the access entry first when ``check``."""
    try:
        cluster = call(aws.client("eks").describe_cluster, name=eks_name)["cluster"]
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise ClusterNotFound(
                f"no EKS cluster {eks_name!r} in {aws.region}", "check the name and region"
            ) from exc
        raise
    if cluster.get("status") not in (None, "ACTIVE", "UPDATING"):
        raise AwsError(
            f"EKS cluster {eks_name} is {cluster.get('status')}", "wait until it is ACTIVE"
        )
    note = check_access(aws, eks_name, cluster) if check else None
    cfg = build(
        eks_name=eks_name,
        arn=cluster["arn"],
        endpoint=cluster["endpoint"],
        ca_data=cluster.get("certificateAuthority", {}).get("data", ""),
        region=aws.region,
        profile=os.environ.get("AWS_PROFILE"),
    )
    return cfg, note


def default_path() -> Path:
    env = os.environ.get("KUBECONFIG")
    if env:
        return Path(env.split(os.pathsep)[0]).expanduser()
    return Path("~/.kube/config").expanduser()


def merge(new: dict[str, Any], path: Path | None = None) -> Path:
    """Merge ``new`` into the kubeconfig at ``path`` (replacing same-named entries) and make its
    context current, keeping every other context."""
    path = path or default_path()
    current: dict[str, Any] = {}
    if path.exists():
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, dict):
            raise AwsError(
                f"{path} is not a kubeconfig", "fix or move it, or pass another --kubeconfig"
            )
        current = loaded
    current.setdefault("apiVersion", "v1")
    current.setdefault("kind", "Config")
    for key in ("clusters", "users", "contexts"):
        names = {e["name"] for e in new.get(key, [])}
        kept = [e for e in current.get(key) or [] if e.get("name") not in names]
        current[key] = kept + list(new.get(key, []))
    current["current-context"] = new["current-context"]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump(current, sort_keys=False))
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    return path


def current_context(path: Path | None = None) -> dict[str, Any] | None:
    """The current context of the kubeconfig at ``path`` with its cluster's server, or None."""
    path = path or default_path()
    if not path.exists():
        return None
    cfg = yaml.safe_load(path.read_text()) or {}
    name = cfg.get("current-context")
    if not name:
        return None
    ctx = next((c for c in cfg.get("contexts") or [] if c.get("name") == name), None)
    if ctx is None:
        return None
    cluster_name = ctx.get("context", {}).get("cluster")
    cluster: dict[str, Any] = next(
        (c for c in cfg.get("clusters") or [] if c.get("name") == cluster_name), {}
    )
    return {
        "context": name,
        "cluster": cluster_name,
        "server": cluster.get("cluster", {}).get("server"),
    }
