"""Where an EKS cluster's observability add-on keeps its Prometheus and Grafana (``hyp get-monitoring``).

The HyperPod observability add-on is the EKS add-on ``amazon-sagemaker-hyperpod-observability``.
Its configuration values (YAML or JSON, as given to ``aws eks create-addon
--configuration-values``) name the Amazon Managed Prometheus workspace
(``ampWorkspace.prometheusEndpoint``), the Amazon Managed Grafana workspace (``amgWorkspace.arn``)
and the metric sets collected (``metricsProvider``). As the real HyperPod CLI does, we find the
add-on with EKS ``ListAddons`` and read those values with ``DescribeAddon``; the dashboard URL is
the cluster dashboard of that Grafana workspace.

:func:`eks_cluster_of_context` tells, from a kubeconfig alone, which EKS cluster (and region and
profile) the current context talks to: the token command's ``--cluster-name``/``--region`` (ours
and ``aws eks get-token`` alike), else an EKS cluster ARN as the cluster or context name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import botocore.exceptions
import yaml

from hyperpod.providers.aws.errors import ClusterNotFound
from hyperpod.providers.aws.session import Aws, call, error_code, paginate

ADDON = "amazon-sagemaker-hyperpod-observability"
DASHBOARD_UID = "aws-sm-hp-observability-cluster-v1_0"
INSTALL_HINT = (
    "install the EKS add-on {addon}: in the SageMaker AI console open the HyperPod cluster and "
    "set up observability on its Dashboard tab, or run `aws eks create-addon --cluster-name "
    "{cluster} --addon-name {addon} --configuration-values file://values.json` with an Amazon "
    "Managed Prometheus workspace (see the HyperPod EKS observability guide)"
)
_EKS_ARN = re.compile(r"arn:aws[a-z-]*:eks:([a-z0-9-]+):\d{12}:cluster/([A-Za-z0-9][A-Za-z0-9_-]*)")
_EKS_HOST = re.compile(r"\.([a-z]{2}(?:-[a-z]+)+-\d+)\.eks\.amazonaws\.com(?:\.cn)?$")
_GRAFANA_ID = re.compile(r"g-[a-z0-9]+$")


@dataclass(frozen=True)
class EksCluster:
    name: str
    region: str | None
    profile: str | None = None


@dataclass(frozen=True)
class Monitoring:
    """What the add-on's configuration says; ``None`` for a value it does not set."""

    status: str | None
    version: str | None
    prometheus_url: str | None
    grafana_url: str | None
    metrics: dict[str, Any] = field(default_factory=dict)

    def metric_rows(self) -> list[tuple[str, str]]:
        """(metric set, level or enabled) as ``hyp get-monitoring --list`` prints them."""
        rows = []
        for name, value in self.metrics.items():
            shown = value.get("level", value.get("enabled")) if isinstance(value, dict) else value
            rows.append((str(name), "" if shown is None else str(shown)))
        return rows


def _arg(args: list[str], *flags: str) -> str | None:
    for i, a in enumerate(args):
        for f in flags:
            if a == f and i + 1 < len(args):
                return args[i + 1]
            if a.startswith(f + "="):
                return a.split("=", 1)[1]
    return None


def _named(config: dict[str, Any], section: str, name: str) -> dict[str, Any]:
    for entry in config.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return dict(entry.get(section[:-1]) or {})
    return {}


def eks_cluster_of_context(config: dict[str, Any], context: str | None = None) -> EksCluster | None:
    """The EKS cluster the kubeconfig's context (default: current) talks to, or None."""
    name = context or str(config.get("current-context") or "")
    ctx = _named(config, "contexts", name)
    cluster_ref = str(ctx.get("cluster") or "")
    cluster = _named(config, "clusters", cluster_ref)
    user = _named(config, "users", str(ctx.get("user") or ""))
    exec_ = user.get("exec") or {}
    args = [str(a) for a in exec_.get("args") or []]
    env = {str(e.get("name")): str(e.get("value")) for e in exec_.get("env") or [] if e}
    eks_name = _arg(args, "--cluster-name", "--cluster-id", "-i")
    region = _arg(args, "--region") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    for candidate in (cluster_ref, name):
        m = _EKS_ARN.fullmatch(candidate)
        if m:
            eks_name = eks_name or m.group(2)
            region = region or m.group(1)
    host = urlsplit(str(cluster.get("server") or "")).hostname or ""
    m = _EKS_HOST.search(host)
    if m:
        region = region or m.group(1)
    if not eks_name:
        return None
    return EksCluster(eks_name, region, env.get("AWS_PROFILE"))


def grafana_url(workspace_arn: str, region: str) -> str | None:
    """The add-on's cluster dashboard in the Grafana workspace ``workspace_arn`` (None if no id)."""
    m = _GRAFANA_ID.search(workspace_arn)
    if not m:
        return None
    parts = workspace_arn.split(":")
    if len(parts) > 3 and parts[0] == "arn" and parts[3]:
        region = parts[3]
    return f"https://{m.group(0)}.grafana-workspace.{region}.amazonaws.com/d/{DASHBOARD_UID}"


def parse_values(text: str | None) -> dict[str, Any]:
    """The add-on's configuration values as a dict ({} when unset or not a mapping)."""
    if not text:
        return {}
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}
    return values if isinstance(values, dict) else {}


def from_addon(addon: dict[str, Any], region: str) -> Monitoring:
    values = parse_values(addon.get("configurationValues"))
    amp = values.get("ampWorkspace") if isinstance(values.get("ampWorkspace"), dict) else {}
    amg = values.get("amgWorkspace") if isinstance(values.get("amgWorkspace"), dict) else {}
    prometheus = amp.get("prometheusEndpoint") if amp else None
    arn = amg.get("arn") if amg else None
    metrics = values.get("metricsProvider")
    return Monitoring(
        status=addon.get("status"),
        version=addon.get("addonVersion"),
        prometheus_url=str(prometheus) if prometheus else None,
        grafana_url=grafana_url(str(arn), region) if arn else None,
        metrics=dict(metrics) if isinstance(metrics, dict) else {},
    )


def lookup(aws: Aws, eks_name: str) -> Monitoring | None:
    """The observability add-on's settings on EKS cluster ``eks_name``; None when not installed."""
    eks = aws.client("eks")
    try:
        names = paginate(eks, "list_addons", "addons", clusterName=eks_name)
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise ClusterNotFound(
                f"no EKS cluster {eks_name!r} in {aws.region}",
                "check the kubeconfig's context (hyp set-cluster-context) and the region",
            ) from exc
        raise
    if ADDON not in names:
        return None
    try:
        addon = call(eks.describe_addon, clusterName=eks_name, addonName=ADDON)["addon"]
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None  # deleted between the two calls
        raise
    return from_addon(addon, aws.region)


def install_hint(eks_name: str) -> str:
    return INSTALL_HINT.format(addon=ADDON, cluster=eks_name)
