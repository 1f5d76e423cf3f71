"""``hyp get-monitoring``: where a cluster's metrics, dashboards and scrape configuration are."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hyperpod.cli.base import CONTEXT_SETTINGS
from hyperpod.client.errors import UserError

if TYPE_CHECKING:
    from hyperpod.client.monitoring import Target
    from hyperpod.providers.aws.observability import EksCluster, Monitoring

DASHBOARDS = Path(__file__).resolve().parents[3] / "dashboards"


@click.command("get-monitoring", context_settings=CONTEXT_SETTINGS)
@click.option(
    "--scrape-config",
    "scrape_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    metavar="DIR",
    help="Write prometheus.yml (plus ca.crt and token, 0600) that scrapes this cluster into DIR.",
)
@click.option(
    "--interval", default="15s", show_default=True, help="Scrape interval for --scrape-config."
)
@click.option(
    "--prometheus",
    "only_prometheus",
    is_flag=True,
    help="Print only the /metrics URL (EKS: the add-on's Prometheus workspace URL).",
)
@click.option(
    "--grafana",
    "only_grafana",
    is_flag=True,
    help="Print only the dashboards folder (EKS: the add-on's Grafana dashboard URL).",
)
@click.option(
    "--list",
    "only_list",
    is_flag=True,
    help="List the metric families /metrics serves (EKS: the add-on's metric sets and level).",
)
@click.option(
    "--dashboard-login",
    "only_login",
    is_flag=True,
    help="Print only a fresh one-time login link to the live web dashboard.",
)
@click.pass_context
def get_monitoring(
    ctx: click.Context,
    scrape_dir: Path | None,
    interval: str,
    only_prometheus: bool,
    only_grafana: bool,
    only_list: bool,
    only_login: bool,
) -> None:
    """Show where the cluster's metrics are and how to scrape them.

    \b
    Example:
      hyp get-monitoring
      hyp get-monitoring --dashboard-login     # a fresh one-time dashboard login link
      hyp get-monitoring --scrape-config ./prom && prometheus --config.file=./prom/prometheus.yml
      hyp get-monitoring --prometheus --grafana --list   # on EKS: the observability add-on's

    On an EKS cluster (a context made by `hyp set-cluster-context` or `aws eks
    update-kubeconfig`) it reads the EKS add-on amazon-sagemaker-hyperpod-observability with your
    AWS credentials: its Amazon Managed Prometheus workspace, Grafana dashboard and metric sets.
    """
    from hyperpod.client import monitoring

    obj: dict[str, Any] = ctx.find_root().obj or {}
    t = monitoring.target(obj.get("kubeconfig"), obj.get("context"))
    eks = None if t.local else _eks_cluster(obj)
    if eks is not None and (only_prometheus or only_grafana or only_list):
        _print_eks_flags(eks, only_prometheus, only_grafana, only_list)
        return
    if only_list:
        _print_families(t)
        return
    if only_prometheus:
        click.echo(t.metrics_url)
        return
    if only_grafana:
        click.echo(str(DASHBOARDS))
        return
    if only_login:
        from hyperpod.client import dashboard

        click.echo(dashboard.login_link(t)[0])
        return
    if scrape_dir is not None:
        path = monitoring.write_scrape_config(t, scrape_dir, interval)
        click.echo(path.read_text(), nl=False)
        click.echo(f"# written to {path}; run: prometheus --config.file={path}", err=True)
        return
    rows = [
        ("Cluster", f"{t.context} ({'local' if t.local else 'remote'})"),
        ("API server", t.server),
        ("Prometheus metrics", f"{t.metrics_url} (bearer token of your kubeconfig)"),
        ("Resource metrics", "kubectl top nodes | kubectl top pods -A (metrics.k8s.io/v1beta1)"),
        ("Scrape config", "hyp get-monitoring --scrape-config DIR"),
        ("Grafana dashboards", f"{DASHBOARDS} (import the JSON files; Grafana 10+)"),
        ("Training progress", f"hyperpod.progress.report() or '{monitoring.FORMAT_NOTE}' lines"),
    ]
    if t.local:
        from hyperpod.client import dashboard
        from hyperpod.client.errors import ClusterUnreachable

        rows.append(("Live web dashboard", dashboard.dashboard_url(t)))
        try:
            url, seconds = dashboard.login_link(t)
            login = f"{url} (one-time link, valid {seconds // 60} min)"
        except ClusterUnreachable as exc:
            login = f"unavailable: {exc}"
        rows.append(("Dashboard login", login))
    else:
        rows.append(("Live web dashboard", "served by local clusters only"))
        rows += _eks_rows(eks)
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        click.echo(f"{key + ':':<{width + 2}}{value}")


def _print_families(t: Target) -> None:
    from hyperpod.cli.output import table
    from hyperpod.client import metric_families

    rows = [{"metric": f.name, "type": f.type, "help": f.help} for f in metric_families.fetch(t)]
    table(rows, ["metric", "type", "help"], "table", empty=f"{t.metrics_url} lists no metrics.")


def _eks_cluster(obj: dict[str, Any]) -> EksCluster | None:
    from hyperpod.client import kubeconfig as kc
    from hyperpod.providers.aws.observability import eks_cluster_of_context

    path = Path(obj["kubeconfig"]) if obj.get("kubeconfig") else kc.default_path()
    return eks_cluster_of_context(kc.load(path), obj.get("context"))


def _lookup(eks: EksCluster) -> Monitoring | None:
    from hyperpod.providers.aws import observability
    from hyperpod.providers.aws.session import Aws, aws_errors

    def run() -> Monitoring | None:
        aws = Aws(eks.region, eks.profile)
        aws.require_credentials()
        return observability.lookup(aws, eks.name)

    return aws_errors(run)()


def _print_eks_flags(eks: EksCluster, prometheus: bool, grafana: bool, metrics: bool) -> None:
    """What the real HyperPod CLI prints for these flags; exit 1 without the add-on, as it does."""
    from hyperpod.providers.aws.observability import ADDON, install_hint

    mon = _lookup(eks)
    if mon is None:
        raise UserError(
            f"the observability add-on ({ADDON}) is not installed on EKS cluster {eks.name}",
            install_hint(eks.name),
        )
    unset = "not set in the add-on's configuration"
    if prometheus:
        click.echo(f"Prometheus workspace URL: {mon.prometheus_url or unset}")
    if grafana:
        click.echo(f"Grafana dashboard URL: {mon.grafana_url or unset}")
    if metrics:
        from hyperpod.cli.output import table

        rows = [{"metric": k, "level/enabled": v} for k, v in mon.metric_rows()]
        table(rows, ["metric", "level/enabled"], "table", empty="The add-on lists no metric sets.")


def _eks_rows(eks: EksCluster | None) -> list[tuple[str, str]]:
    """Rows about the EKS observability add-on (a failed lookup is a row, not an error)."""
    from hyperpod.providers.aws.errors import AwsError
    from hyperpod.providers.aws.observability import ADDON, install_hint

    if eks is None:
        return [("EKS add-on", "this context is not an EKS cluster (no observability add-on)")]
    rows = [("EKS cluster", f"{eks.name} ({eks.region or 'default region'})")]
    try:
        mon = _lookup(eks)
    except AwsError as exc:
        return [*rows, ("Observability add-on", f"not looked up: {exc}")]
    if mon is None:
        return [*rows, ("Observability add-on", f"not installed; {install_hint(eks.name)}")]
    sets = ", ".join(f"{k}={v}" for k, v in mon.metric_rows()) or "-"
    unset = "not set in the add-on's configuration"
    return [
        *rows,
        ("Observability add-on", f"{ADDON} {mon.version or ''} {mon.status or ''}".rstrip()),
        ("Prometheus workspace", mon.prometheus_url or unset),
        ("Grafana dashboard", mon.grafana_url or unset),
        ("Add-on metric sets", sets),
    ]


def register(cli: click.Group) -> None:
    cli.add_command(get_monitoring)
