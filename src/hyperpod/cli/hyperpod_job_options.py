"""The ``hyp create hyp-pytorch-job`` flags only a HyperPodPyTorchJob has (real CLI 3.12, 1.1).

``--deep-health-check-passed-nodes-only``, ``--scheduler-type``, ``--preferred-topology`` /
``--required-topology``, ``--max-replica-count`` and the ``--elastic-*`` flags, the
``--accelerator-partition-*`` flags and ``--version`` (the template schema version: 1.0 or 1.1).
With ``--kind pytorchjob`` (a Kubeflow PyTorchJob) they are refused with a hint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from hyperpod.api.topology import LABELS as TOPOLOGY_LABELS
from hyperpod.client.errors import InvalidJobSpec

if TYPE_CHECKING:
    from hyperpod.client.hyperpod_job import HyperPodOptions

SCHEMA_VERSIONS = ("1.0", "1.1")

FLAGS: dict[str, str] = {
    "deep_health_check_passed_nodes_only": "--deep-health-check-passed-nodes-only",
    "scheduler_type": "--scheduler-type",
    "preferred_topology": "--preferred-topology",
    "required_topology": "--required-topology",
    "max_replica_count": "--max-replica-count",
    "elastic_replica_increment_step": "--elastic-replica-increment-step",
    "elastic_replica_discrete_values": "--elastic-replica-discrete-values",
    "elastic_graceful_shutdown_timeout_in_seconds": "--elastic-graceful-shutdown-timeout-in-seconds",
    "elastic_scaling_timeout_in_seconds": "--elastic-scaling-timeout-in-seconds",
    "elastic_scale_up_snooze_time_in_seconds": "--elastic-scale-up-snooze-time-in-seconds",
    "accelerator_partition_type": "--accelerator-partition-type",
    "accelerator_partition_count": "--accelerator-partition-count",
    "accelerator_partition_limit": "--accelerator-partition-limit",
}
TOPOLOGY_HELP = "One of: " + ", ".join(TOPOLOGY_LABELS) + "."


def _int_list(_ctx: click.Context, _param: click.Parameter, value: str | None) -> list[int]:
    if not value:
        return []
    text = value.strip().strip("[]")
    try:
        return [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected whole numbers like '[2, 4, 8]'") from None


def hyperpod_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add the HyperPod-only flags to a click command."""
    options = [
        click.option(
            "--deep-health-check-passed-nodes-only",
            is_flag=True,
            help="Schedule only on nodes whose deep health check passed.",
        ),
        click.option("--scheduler-type", default=None, help="Scheduler that places the pods."),
        click.option("--preferred-topology", default=None, help=f"Kueue preferred topology. {TOPOLOGY_HELP}"),
        click.option("--required-topology", default=None, help=f"Kueue required topology. {TOPOLOGY_HELP}"),
        click.option("--max-replica-count", "--max-node-count", "max_replica_count", type=int,
                     default=None, help="Elastic: most replicas the job may scale to."),
        click.option("--elastic-replica-increment-step", type=int, default=None,
                     help="Elastic: scale in steps of this many replicas."),
        click.option("--elastic-replica-discrete-values", callback=_int_list, default=None,
                     metavar="LIST", help="Elastic: allowed replica counts, e.g. '[2, 4, 8]'."),
        click.option("--elastic-graceful-shutdown-timeout-in-seconds", type=int, default=None,
                     help="Elastic: grace period when scaling down."),
        click.option("--elastic-scaling-timeout-in-seconds", type=int, default=None,
                     help="Elastic: how long a scaling step may take."),
        click.option("--elastic-scale-up-snooze-time-in-seconds", type=int, default=None,
                     help="No scale-up for this long after a restart."),
        click.option("--accelerator-partition-type", default=None, metavar="MIG",
                     help="GPU partition (MIG profile), e.g. mig-1g.10gb."),
        click.option("--accelerator-partition-count", type=int, default=None,
                     help="GPU partitions per pod."),
        click.option("--accelerator-partition-limit", type=int, default=None,
                     help="GPU partition limit per pod (default: the count)."),
        click.option("--version", "schema_version", type=click.Choice(SCHEMA_VERSIONS),
                     default="1.1", show_default=True, help="Template schema version."),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


def hyperpod_extra(opts: dict[str, Any]) -> HyperPodOptions:
    from hyperpod.client.hyperpod_job import HyperPodOptions

    return HyperPodOptions(**{key: opts[key] for key in FLAGS})


def reject_hyperpod_only(opts: dict[str, Any]) -> None:
    """A Kubeflow PyTorchJob has no place for these flags: say so instead of dropping them."""
    used = [flag for key, flag in FLAGS.items() if opts.get(key) not in (None, False, [])]
    if used:
        raise InvalidJobSpec(
            f"{', '.join(used)} only apply to a HyperPodPyTorchJob",
            "drop --kind pytorchjob (a HyperPodPyTorchJob is the default kind)",
        )
