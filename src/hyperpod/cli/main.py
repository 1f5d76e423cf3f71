"""The ``hyp`` command: verb groups (create, list, describe, delete, ...) with nouns under them.

Start-up stays cheap: only click is imported here; each command imports what it needs
(pydantic, rich, the kubernetes client) when it runs. Errors become one line plus a hint and a
non-zero exit code; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from hyperpod import __version__
from hyperpod.cli import cluster_stack, controlplane, job_template, pytorch_job
from hyperpod.cli.base import CONTEXT_SETTINGS, HypGroup


@click.group(cls=HypGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", "-V", prog_name="hyp")
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.option(
    "--kubeconfig",
    envvar="HYP_KUBECONFIG",
    default=None,
    metavar="FILE",
    help="Kubeconfig file for job commands (default: $KUBECONFIG or ~/.kube/config).",
)
@click.option(
    "--context",
    "kube_context",
    default=None,
    metavar="NAME",
    help="Kubeconfig context for job commands (default: the current context).",
)
@click.pass_context
def cli(ctx: click.Context, debug: bool, kubeconfig: str | None, kube_context: str | None) -> None:
    """hyp: create local or EKS HyperPod clusters and run distributed training jobs on them.

    \b
    Example (a local cluster in three steps):
      hyp init cluster-stack        # writes ./config.yaml (provider: local)
      hyp create                    # starts the cluster, adds a kubeconfig context
      hyp create hyp-pytorch-job --job-name demo --image local/python \\
          --command '[python, -m, hyperpod.examples.digits]' --node-count 2 --wait
    """
    ctx.ensure_object(dict)
    ctx.obj.update(debug=debug, kubeconfig=kubeconfig, context=kube_context)


def _verb(name: str, help_text: str, **kwargs: Any) -> click.Group:
    group = HypGroup(name=name, help=help_text, context_settings=CONTEXT_SETTINGS, **kwargs)
    cli.add_command(group)
    return group


cli.add_command(cluster_stack.init)
cli.add_command(cluster_stack.configure)
cli.add_command(cluster_stack.validate)
create = cluster_stack.create
cli.add_command(create)
list_ = _verb(
    "list",
    "List cluster stacks or training jobs.\n\n\b\nExample:\n  hyp list hyp-pytorch-job -n default",
)
describe = _verb(
    "describe",
    "Show one cluster stack or training job in detail.\n\n\b\nExample:\n  hyp describe hyp-pytorch-job --job-name demo",
)
delete = _verb(
    "delete",
    "Delete a cluster stack or a training job.\n\n\b\nExample:\n  hyp delete hyp-pytorch-job --job-name demo",
)
get = _verb(
    "get",
    "Get cluster artefacts such as the kubeconfig.\n\n\b\nExample:\n  hyp get kubeconfig --output ./kubeconfig",
)
list_pods = _verb(
    "list-pods",
    "List the pods of a training job.\n\n\b\nExample:\n  hyp list-pods hyp-pytorch-job --job-name demo",
)
get_logs = _verb(
    "get-logs",
    "Print the logs of a training job's pod.\n\n\b\nExample:\n  hyp get-logs hyp-pytorch-job --job-name demo -f",
)
exec_ = _verb(
    "exec",
    "Run a command in a training job's pods.\n\n\b\nExample:\n  hyp exec hyp-pytorch-job --job-name demo -p demo-master-0 -- nvidia-smi",
)

create.add_command(pytorch_job.create_job)
list_.add_command(cluster_stack.list_stacks)
list_.add_command(pytorch_job.list_jobs)
describe.add_command(cluster_stack.describe_stack)
describe.add_command(pytorch_job.describe_job)
delete.add_command(cluster_stack.delete_stack)
delete.add_command(pytorch_job.delete_job)
get.add_command(cluster_stack.get_kubeconfig)
list_pods.add_command(pytorch_job.list_pods)
get_logs.add_command(pytorch_job.get_logs)
exec_.add_command(pytorch_job.exec_job)
cli.add_command(controlplane.controlplane)
cli.add_command(job_template.reset)
cli.add_command(pytorch_job.list_accelerator_partition_type)


def _register_optional() -> None:
    """Commands other parts contribute (governance, aws), when their modules are present."""
    import importlib

    for module in (
        "hyperpod.cli.governance",
        "hyperpod.cli.aws_commands",
        "hyperpod.cli.monitoring",
        "hyperpod.cli.images",
        "hyperpod.cli.nodes",
    ):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                continue
            raise
        mod.register(cli)


_register_optional()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="hyp")


if __name__ == "__main__":
    main()
