"""``hyp get-monitoring``: where a cluster's metrics, dashboards and scrape configuration are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from hyperpod.cli.base import CONTEXT_SETTINGS

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
@click.option("--prometheus", "only_prometheus", is_flag=True, help="Print only the /metrics URL.")
@click.option("--grafana", "only_grafana", is_flag=True, help="Print only the dashboards folder.")
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
    only_login: bool,
) -> None:
    """Show where the cluster's metrics are and how to scrape them.

    \b
    Example:
      hyp get-monitoring
      hyp get-monitoring --dashboard-login     # a fresh one-time dashboard login link
      hyp get-monitoring --scrape-config ./prom && prometheus --config.file=./prom/prometheus.yml
    """
    from hyperpod.client import monitoring

    obj: dict[str, Any] = ctx.find_root().obj or {}
    t = monitoring.target(obj.get("kubeconfig"), obj.get("context"))
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
    if not t.local:
        rows.append(
            (
                "EKS add-on",
                "Amazon Managed Prometheus/Grafana URLs of the observability add-on are not "
                "looked up yet; see the SageMaker HyperPod console",
            )
        )
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        click.echo(f"{key + ':':<{width + 2}}{value}")


def register(cli: click.Group) -> None:
    cli.add_command(get_monitoring)
