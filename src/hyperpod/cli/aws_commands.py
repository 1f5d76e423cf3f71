"""The real HyperPod CLI's cluster-context commands for EKS: ``set-cluster-context``,
``get-cluster-context``, ``list-cluster``. Registered on the root group by ``register``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from hyperpod.cli.base import CONTEXT_SETTINGS
from hyperpod.cli.output import dump, output_option, table

REGION_HELP = "AWS region (default: AWS_REGION, AWS_DEFAULT_REGION or the profile's)."


def _aws_errors(fn: Any) -> Any:
    """Turn raw botocore errors into the provider's one-line errors."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import botocore.exceptions

        from hyperpod.providers.aws.errors import AwsError
        from hyperpod.providers.aws.session import translate

        try:
            return fn(*args, **kwargs)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            mapped = translate(exc)
            if mapped is exc:
                raise AwsError(
                    f"AWS refused the request: {exc}", "check the name, region and permissions"
                ) from exc
            raise mapped from exc

    return wrapper


@click.command("set-cluster-context", context_settings=CONTEXT_SETTINGS)
@click.option(
    "--cluster-name", required=True, help="HyperPod cluster name (see `hyp list-cluster`)."
)
@click.option("--region", default=None, help=REGION_HELP)
@click.option(
    "--kubeconfig",
    "kubeconfig_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Kubeconfig to merge into (default: $KUBECONFIG or ~/.kube/config).",
)
@click.option(
    "--skip-access-check", is_flag=True, help="Do not check the caller's EKS access entry."
)
@_aws_errors
def set_cluster_context(
    cluster_name: str, region: str | None, kubeconfig_path: Path | None, skip_access_check: bool
) -> None:
    """Point kubectl and hyp at a HyperPod cluster's EKS cluster.

    Resolves the EKS cluster behind the HyperPod cluster, checks that you have an access entry on
    it, and merges a context that authenticates with an EKS token made by hyp itself (no AWS CLI
    needed) into your kubeconfig.

    \b
    Example:
      hyp set-cluster-context --cluster-name my-cluster --region us-west-2
      kubectl get nodes
    """
    from hyperpod.providers.aws import kubeconfig
    from hyperpod.providers.aws.session import Aws

    aws = Aws(region)
    aws.require_credentials()
    click.echo(f"Looking up HyperPod cluster {cluster_name!r} in {aws.region} ...", err=True)
    eks_name = kubeconfig.eks_cluster_of(aws, cluster_name)
    click.echo(f"Its EKS cluster is {eks_name!r}; checking your access entry ...", err=True)
    cfg, note = kubeconfig.for_eks(aws, eks_name, check=not skip_access_check)
    if note:
        click.echo(f"note: {note}", err=True)
    path = kubeconfig.merge(cfg, kubeconfig_path)
    click.echo(f"Context {cfg['current-context']} is now current in {path}.")
    click.echo("Try: kubectl get nodes")


@click.command("get-cluster-context", context_settings=CONTEXT_SETTINGS)
@click.option(
    "--kubeconfig",
    "kubeconfig_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Kubeconfig to read (default: $KUBECONFIG or ~/.kube/config).",
)
@output_option()
def get_cluster_context(kubeconfig_path: Path | None, output: str) -> None:
    """Show the kubeconfig's current context and the API server it reaches.

    \b
    Example:
      hyp get-cluster-context -o json
    """
    from hyperpod.providers.aws import kubeconfig

    current = kubeconfig.current_context(kubeconfig_path)
    if current is None:
        raise click.ClickException(
            "no current context in the kubeconfig; run `hyp set-cluster-context --cluster-name NAME`"
        )
    if output == "table":
        for key, value in current.items():
            click.echo(f"{key + ':':<9} {value}")
    else:
        dump(current, output)


@click.command("list-cluster", context_settings=CONTEXT_SETTINGS)
@click.option("--region", default=None, help=REGION_HELP)
@click.option(
    "--page-size", type=click.IntRange(1, 100), default=None, help="Clusters per API page."
)
@output_option()
@_aws_errors
def list_cluster(region: str | None, page_size: int | None, output: str) -> None:
    """List the HyperPod clusters of a region with their node counts (all pages).

    \b
    Example:
      hyp list-cluster --region us-west-2
    """
    from hyperpod.providers.aws.provider import AwsProvider

    provider = AwsProvider(region=region, page_size=page_size)
    provider.aws().require_credentials()
    rows = [
        {
            "name": c["name"],
            "status": c["status"],
            "nodes": f"{c.get('nodes', '?')}/{c.get('target', '?')}",
            "instance_groups": ", ".join(
                f"{g['name']}:{g['instance_type']}x{g['current']}"
                for g in c.get("instance_groups", [])
            ),
        }
        for c in provider.list_clusters()
    ]
    table(
        rows,
        ["name", "status", "nodes", "instance_groups"],
        output,
        empty=f"No HyperPod clusters in {provider.aws().region}.",
    )


def register(cli: click.Group) -> None:
    """Add the AWS cluster-context commands to the root ``hyp`` group."""
    cli.add_command(set_cluster_context)
    cli.add_command(get_cluster_context)
    cli.add_command(list_cluster)
