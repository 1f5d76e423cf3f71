"""The ``hyp`` command: verb groups (create, list, describe, delete, ...) with nouns under them.

Start-up stays cheap: only click is imported here; each command imports what it needs
(pydantic, rich, the kubernetes client) when it runs. Errors become one line plus a hint and a
non-zero exit code; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import click

from hyperpod import __version__
from hyperpod.cli.base import CONTEXT_SETTINGS, LazyGroup


def _lazy(module: str, attr: str) -> Callable[[], click.Command]:
    """A loader for the command ``attr`` of ``hyperpod.cli.<module>``."""

    def load() -> click.Command:
        import importlib

        cmd: click.Command = getattr(importlib.import_module(f"hyperpod.cli.{module}"), attr)
        return cmd

    return load


def _create() -> click.Command:
    from hyperpod.cli import cluster_stack, pytorch_job

    create = cluster_stack.create
    assert isinstance(create, LazyGroup)
    create.add_command(pytorch_job.create_job)
    create.load_all = load_all
    return create


@click.group(
    cls=LazyGroup,
    context_settings=CONTEXT_SETTINGS,
    lazy={
        "init": _lazy("cluster_stack", "init"),
        "configure": _lazy("cluster_stack", "configure"),
        "validate": _lazy("cluster_stack", "validate"),
        "create": _create,
        "controlplane": _lazy("controlplane", "controlplane"),
        "reset": _lazy("job_template", "reset"),
        "list-accelerator-partition-type": _lazy("pytorch_job", "list_accelerator_partition_type"),
    },
)
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


def _verb(name: str, help_text: str, **lazy: Callable[[], click.Command]) -> LazyGroup:
    """A verb group; ``lazy`` maps its nouns to loaders (keyword names use ``_`` for ``-``)."""
    nouns = {noun.replace("_", "-"): loader for noun, loader in lazy.items()}
    group = LazyGroup(name=name, help=help_text, context_settings=CONTEXT_SETTINGS, lazy=nouns)
    cli.add_command(group)
    return group


list_ = _verb(
    "list",
    "List cluster stacks or training jobs.\n\n\b\nExample:\n  hyp list hyp-pytorch-job -n default",
    cluster_stack=_lazy("cluster_stack", "list_stacks"),
    hyp_pytorch_job=_lazy("pytorch_job", "list_jobs"),
)
describe = _verb(
    "describe",
    "Show one cluster stack or training job in detail.\n\n\b\nExample:\n  hyp describe hyp-pytorch-job --job-name demo",
    cluster_stack=_lazy("cluster_stack", "describe_stack"),
    hyp_pytorch_job=_lazy("pytorch_job", "describe_job"),
)
delete = _verb(
    "delete",
    "Delete a cluster stack or a training job.\n\n\b\nExample:\n  hyp delete hyp-pytorch-job --job-name demo",
    cluster_stack=_lazy("cluster_stack", "delete_stack"),
    hyp_pytorch_job=_lazy("pytorch_job", "delete_job"),
)
get = _verb(
    "get",
    "Get cluster artefacts such as the kubeconfig.\n\n\b\nExample:\n  hyp get kubeconfig --output ./kubeconfig",
    kubeconfig=_lazy("cluster_stack", "get_kubeconfig"),
)
list_pods = _verb(
    "list-pods",
    "List the pods of a training job.\n\n\b\nExample:\n  hyp list-pods hyp-pytorch-job --job-name demo",
    hyp_pytorch_job=_lazy("pytorch_job", "list_pods"),
)
get_logs = _verb(
    "get-logs",
    "Print the logs of a training job's pod.\n\n\b\nExample:\n  hyp get-logs hyp-pytorch-job --job-name demo -f",
    hyp_pytorch_job=_lazy("pytorch_job", "get_logs"),
)
exec_ = _verb(
    "exec",
    "Run a command in a training job's pods.\n\n\b\nExample:\n  hyp exec hyp-pytorch-job --job-name demo -p demo-master-0 -- nvidia-smi",
    hyp_pytorch_job=_lazy("pytorch_job", "exec_job"),
)

# Commands other parts contribute (governance, aws, ...) through their ``register(cli)``.
OPTIONAL = (
    "hyperpod.cli.governance",
    "hyperpod.cli.aws_commands",
    "hyperpod.cli.monitoring",
    "hyperpod.cli.images",
    "hyperpod.cli.nodes",
)
_loaded_all = False


def load_all() -> None:
    """Import every command: the lazy ones, then the optional modules' (once)."""
    global _loaded_all
    if _loaded_all:
        return
    _loaded_all = True
    cli.load_lazy()
    for group in list(cli.commands.values()):
        if isinstance(group, LazyGroup):
            group.load_lazy()
    _register_optional()


def _register_optional() -> None:
    """Commands other parts contribute (governance, aws), when their modules are present."""
    import importlib

    for module in OPTIONAL:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                continue
            raise
        mod.register(cli)


assert isinstance(cli, LazyGroup)
for _group in (cli, list_, describe, delete, get, list_pods, get_logs, exec_):
    _group.load_all = load_all


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="hyp")


if __name__ == "__main__":
    main()
