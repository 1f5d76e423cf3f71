"""Node commands: ``hyp list node``, ``hyp describe node``, ``hyp reboot node``, ``hyp replace node``,
``hyp start deep-health-check`` and the testing tool ``hyp inject-fault``.

``register(cli)`` adds them to the root group. Reboot and replace are the local counterparts of
HyperPod's BatchRebootClusterNodes / BatchReplaceClusterNodes: they annotate the Node and the
cluster's node-recovery controller does the work (in either ``node_recovery`` mode).
"""

from __future__ import annotations

from typing import Any

import click

from hyperpod.cli.base import CONTEXT_SETTINGS, HypGroup
from hyperpod.cli.output import dump, fields, output_option, table

FAULTS = (
    "gpu-xid-79",
    "gpu-ecc-dbe",
    "gpu-lost",
    "efa-down",
    "disk-full",
    "node-unresponsive",
    "kubelet-crash",
)


def _nodes(ctx: click.Context) -> Any:
    from hyperpod.client.kube import Kube
    from hyperpod.client.nodes import Nodes

    obj = ctx.find_root().obj or {}
    return Nodes(Kube(obj.get("kubeconfig"), obj.get("context")))


node_option = click.option("--node", "node", required=True, metavar="NAME", help="Node name.")


@click.command("node", context_settings=CONTEXT_SETTINGS)
@output_option()
@click.pass_context
def list_nodes(ctx: click.Context, output: str) -> None:
    """List the cluster's nodes with health, deep health check status and GPUs.

    \b
    Example:
      hyp list node
    """
    from hyperpod.client.nodes import summary

    rows = [summary(n) for n in _nodes(ctx).list()]
    cols = [
        "name",
        "instance_group",
        "instance_type",
        "status",
        "health",
        "deep_health_check",
        "gpus",
    ]
    table(rows, cols, output, empty="No nodes found.")


@click.command("node", context_settings=CONTEXT_SETTINGS)
@node_option
@output_option()
@click.pass_context
def describe_node(ctx: click.Context, node: str, output: str) -> None:
    """Show one node's health: status, taints, conditions, unhealthy GPUs and recent faults.

    \b
    Example:
      hyp describe node --node p5-1
    """
    from hyperpod.client.nodes import details

    d = details(_nodes(ctx).get(node))
    if output != "table":
        dump(d, output)
        return
    fields(
        [
            ("Name", d["name"]),
            ("Instance group", d["instance_group"]),
            ("Instance type", d["instance_type"]),
            ("Status", d["status"]),
            ("Health", d["health"]),
            ("Deep health check", d["deep_health_check"]),
            ("GPUs (allocatable/capacity)", d["gpus"]),
            ("Unhealthy GPUs", ", ".join(d["unhealthy_gpus"]) or "none"),
            ("Taints", ", ".join(d["taints"]) or "none"),
            ("Replaced", ", ".join(d["replaced"]) or "-"),
        ]
    )
    click.echo("Conditions:")
    for c in d["conditions"]:
        click.echo(f"  {c['type']:<16} {c['status']:<7} {c['reason']}: {c['message']}")
    click.echo("Recent faults:" + ("" if d["recent_faults"] else " none"))
    for f in d["recent_faults"]:
        click.echo(f"  {f.get('time', '')}  {f.get('message', '')} (action: {f.get('action', '')})")


@click.command("node", context_settings=CONTEXT_SETTINGS)
@node_option
@click.pass_context
def reboot_node(ctx: click.Context, node: str) -> None:
    """Reboot a node: its pods are evicted, it goes NotReady, its faults are cleared.

    \b
    Example:
      hyp reboot node --node p5-1
    """
    _nodes(ctx).recover(node, "reboot")
    click.echo(f"node/{node} reboot requested; follow it with `hyp describe node --node {node}`")


@click.command("node", context_settings=CONTEXT_SETTINGS)
@node_option
@click.pass_context
def replace_node(ctx: click.Context, node: str) -> None:
    """Replace a simulated node by a new one of the same instance group (the local machine is
    cordoned instead: it cannot be replaced).

    \b
    Example:
      hyp replace node --node p5-1
    """
    _nodes(ctx).recover(node, "replace")
    click.echo(f"node/{node} replacement requested; `hyp list node` shows the new node")


@click.command("deep-health-check", context_settings=CONTEXT_SETTINGS)
@node_option
@click.pass_context
def start_deep_health_check(ctx: click.Context, node: str) -> None:
    """Run deep health checks on a node (it is Unschedulable while they run).

    \b
    Example:
      hyp start deep-health-check --node p5-0
    """
    _nodes(ctx).deep_health_check(node)
    click.echo(f"node/{node} deep health check requested")


@click.command("inject-fault", context_settings=CONTEXT_SETTINGS)
@node_option
@click.option("--fault", required=True, type=click.Choice(FAULTS), help="The fault to inject.")
@click.option(
    "--gpu", type=int, default=None, metavar="I", help="GPU index (GPU faults; default 0)."
)
@click.pass_context
def inject_fault(ctx: click.Context, node: str, fault: str, gpu: int | None) -> None:
    """TESTING TOOL: inject a hardware fault into a node to see what the cluster and jobs do.

    GPU faults go into the fake NVML of simulated nodes, or of the local node when the cluster
    runs with HYPERPOD_FAKE_GPUS=N; real GPUs are never touched. node-unresponsive and
    kubelet-crash stop the node's heartbeat.

    \b
    Example:
      hyp inject-fault --node p5-1 --fault gpu-xid-79 --gpu 3
    """
    _nodes(ctx).inject_fault(node, fault, gpu)
    where = f" on GPU {gpu if gpu is not None else 0}" if fault.startswith("gpu-") else ""
    click.echo(
        f"node/{node}: injected {fault}{where} (testing tool); "
        f"watch it with `hyp describe node --node {node}`"
    )


def register(cli: click.Group) -> None:
    """Add the node nouns to the verbs, and the reboot/replace/start verbs and inject-fault."""
    for verb, cmd in (("list", list_nodes), ("describe", describe_node)):
        group = cli.commands.get(verb)
        if isinstance(group, click.Group):
            group.add_command(cmd)
    for verb, cmd, text in (
        (
            "reboot",
            reboot_node,
            "Reboot nodes (BatchRebootClusterNodes).\n\n\b\nExample:\n  hyp reboot node --node p5-1",
        ),
        (
            "replace",
            replace_node,
            "Replace nodes (BatchReplaceClusterNodes).\n\n\b\nExample:\n  hyp replace node --node p5-1",
        ),
        (
            "start",
            start_deep_health_check,
            "Start node operations such as deep health checks.\n\n\b\nExample:\n"
            "  hyp start deep-health-check --node p5-0",
        ),
    ):
        group = cli.commands.get(verb)
        if not isinstance(group, click.Group):
            group = HypGroup(name=verb, help=text, context_settings=CONTEXT_SETTINGS)
            cli.add_command(group)
        group.add_command(cmd)
    cli.add_command(inject_fault)
