"""Task-governance commands: the cluster scheduling policy, team compute quotas, the queue view.

``register(cli)`` adds the nouns ``cluster-policy``, ``compute-quota`` and ``queue`` under the
verbs ``create``, ``list``, ``describe`` and ``delete``. Objects are built by
``hyperpod.client.governance`` (pure) and sent with the official kubernetes client.
"""

from __future__ import annotations

from typing import Any

import click

from hyperpod.cli.base import CONTEXT_SETTINGS
from hyperpod.cli.output import dump, fields, output_option, table

GROUP = "kueue.x-k8s.io"
VERSION = "v1beta1"
PLURALS = {
    "ResourceFlavor": "resourceflavors",
    "ClusterQueue": "clusterqueues",
    "LocalQueue": "localqueues",
    "WorkloadPriorityClass": "workloadpriorityclasses",
    "Workload": "workloads",
}


def _kube(ctx: click.Context) -> Any:
    from hyperpod.client.kube import Kube

    obj = ctx.find_root().obj or {}
    return Kube(obj.get("kubeconfig"), obj.get("context"))


def _status(exc: Exception) -> int:
    """HTTP status of a kubernetes-client error (ApiException and its subclasses, or the lean
    client's look-alike), else 0."""
    if not type(exc).__module__.startswith(("kubernetes", "hyperpod.client.lean")):
        return 0
    return int(getattr(exc, "status", 0) or 0)


def _is_404(exc: Exception) -> bool:
    return _status(exc) == 404


def _is_409(exc: Exception) -> bool:
    return _status(exc) == 409


def _apply_access(kube: Any, obj: dict[str, Any]) -> str:
    """Create or replace a Role, RoleBinding or ServiceAccount (team access, see tenants.py)."""
    from kubernetes import client

    kind, md = obj["kind"], obj["metadata"]
    name, ns = md["name"], md["namespace"]
    if kind == "ServiceAccount":
        api: Any = kube.core()
        create, replace, read = (
            api.create_namespaced_service_account,
            api.patch_namespaced_service_account,
            None,
        )
    else:
        api = client.RbacAuthorizationV1Api(kube.api_client())
        suffix = "role" if kind == "Role" else "role_binding"
        create = getattr(api, f"create_namespaced_{suffix}")
        replace = getattr(api, f"replace_namespaced_{suffix}")
        read = getattr(api, f"read_namespaced_{suffix}")
    try:
        create(ns, obj)
        return "created"
    except Exception as exc:
        if not _is_409(exc):
            raise
    if read is None:
        replace(name, ns, {"metadata": {"labels": md.get("labels") or {}}})
    else:
        rv = read(name, ns).metadata.resource_version
        replace(name, ns, {**obj, "metadata": {**md, "resourceVersion": rv}})
    return "configured"


def apply(kube: Any, obj: dict[str, Any]) -> str:
    """Create ``obj`` or replace the existing one; returns ``created`` or ``configured``."""
    kind = obj["kind"]
    md = obj["metadata"]
    if kind in ("Role", "RoleBinding", "ServiceAccount"):
        return _apply_access(kube, obj)
    if kind in ("Namespace", "ConfigMap"):
        core = kube.core()
        try:
            if kind == "Namespace":
                core.create_namespace(obj)
            else:
                core.create_namespaced_config_map(md["namespace"], obj)
            return "created"
        except Exception as exc:
            if not _is_409(exc):
                raise
        if kind == "Namespace":
            core.patch_namespace(md["name"], {"metadata": {"labels": md.get("labels") or {}}})
        else:
            core.replace_namespaced_config_map(md["name"], md["namespace"], obj)
        return "configured"
    custom = kube.custom()
    plural = PLURALS[kind]
    ns = md.get("namespace")
    try:
        if ns:
            custom.create_namespaced_custom_object(GROUP, VERSION, ns, plural, obj)
        else:
            custom.create_cluster_custom_object(GROUP, VERSION, plural, obj)
        return "created"
    except Exception as exc:
        if not _is_409(exc):
            raise
    current = (
        custom.get_namespaced_custom_object(GROUP, VERSION, ns, plural, md["name"])
        if ns
        else custom.get_cluster_custom_object(GROUP, VERSION, plural, md["name"])
    )
    body = {**obj, "metadata": {**md, "resourceVersion": current["metadata"]["resourceVersion"]}}
    if ns:
        custom.replace_namespaced_custom_object(GROUP, VERSION, ns, plural, md["name"], body)
    else:
        custom.replace_cluster_custom_object(GROUP, VERSION, plural, md["name"], body)
    return "configured"


def _list(kube: Any, kind: str) -> list[dict[str, Any]]:
    items = kube.custom().list_cluster_custom_object(GROUP, VERSION, PLURALS[kind])["items"]
    return list(items)


def _managed_queues(kube: Any) -> list[dict[str, Any]]:
    from hyperpod.client import governance as gov

    return [cq for cq in _list(kube, "ClusterQueue") if gov.team_of(cq["metadata"]["name"])]


# --------------------------------------------------------------------------- cluster policy


@click.command("cluster-policy", context_settings=CONTEXT_SETTINGS)
@click.option(
    "--priority-class",
    "priority_classes",
    multiple=True,
    metavar="NAME=WEIGHT",
    help="A task priority and its weight 0-100 (repeat). Creates <NAME>-priority.",
)
@click.option(
    "--fair-share",
    type=click.Choice(["enabled", "disabled"]),
    default="disabled",
    show_default=True,
    help="Admit by dominant resource share across teams instead of priority order.",
)
@click.option("--dry-run", is_flag=True, help="Print the objects instead of sending them.")
@output_option("yaml")
@click.pass_context
def create_cluster_policy(
    ctx: click.Context,
    priority_classes: tuple[str, ...],
    fair_share: str,
    dry_run: bool,
    output: str,
) -> None:
    """Set the cluster scheduling policy: task priority classes and fair sharing.

    \b
    Example:
      hyp create cluster-policy --priority-class inference=90 \\
          --priority-class experimentation=80 --priority-class training=70 \\
          --priority-class fine-tuning=50 --fair-share enabled
    """
    from hyperpod.client import governance as gov

    policy = gov.ClusterPolicy(
        [gov.parse_priority_class(p) for p in priority_classes], fair_share == "enabled"
    )
    objs = gov.policy_objects(policy)
    if dry_run:
        dump(objs, "yaml" if output == "table" else output)
        return
    kube = _kube(ctx)
    for obj in objs:
        click.echo(f"{obj['kind'].lower()}/{obj['metadata']['name']} {apply(kube, obj)}")


@click.command("cluster-policy", context_settings=CONTEXT_SETTINGS)
@output_option("table")
@click.pass_context
def describe_cluster_policy(ctx: click.Context, output: str) -> None:
    """Show the priority classes and whether fair sharing is on.

    \b
    Example:
      hyp describe cluster-policy
    """
    from hyperpod.client import governance as gov

    kube = _kube(ctx)
    classes = sorted(_list(kube, "WorkloadPriorityClass"), key=lambda o: -int(o.get("value") or 0))
    fair = "Disabled"
    try:
        cm = kube.core().read_namespaced_config_map(gov.POLICY_CONFIGMAP, gov.POLICY_NAMESPACE)
        fair = (cm.data or {}).get("fairSharing", "Disabled")
    except Exception as exc:
        if not _is_404(exc):
            raise
    rows = [{"priority_class": o["metadata"]["name"], "weight": o.get("value", 0)} for o in classes]
    if output != "table":
        dump({"fairSharing": fair, "priorityClasses": rows}, output)
        return
    fields([("Fair sharing", fair)])
    table(rows, ["priority_class", "weight"], output, empty="No priority classes.")


# --------------------------------------------------------------------------- compute quotas


@click.command("compute-quota", context_settings=CONTEXT_SETTINGS)
@click.option("--team", required=True, help="Team name; its namespace is hyperpod-ns-<team>.")
@click.option(
    "--instance-type", "instance_types", multiple=True, help="Instance type (repeat with --count)."
)
@click.option(
    "--count", "counts", multiple=True, type=int, help="Instances of the matching --instance-type."
)
@click.option(
    "--accelerators", type=int, default=None, help="GPUs (without --instance-type, or to override)."
)
@click.option("--vcpu", type=float, default=None, help="vCPUs (without --instance-type).")
@click.option("--memory", type=float, default=None, help="Memory in GiB (without --instance-type).")
@click.option(
    "--sharing",
    type=click.Choice(["Lend", "DontLend", "LendAndBorrow"]),
    default="LendAndBorrow",
    show_default=True,
    help="Lend idle quota to other teams and/or borrow theirs.",
)
@click.option(
    "--borrow-limit",
    type=int,
    default=50,
    show_default=True,
    help="Borrow up to this % of the quota.",
)
@click.option(
    "--preempt",
    type=click.Choice(["Never", "LowerPriority"]),
    default="LowerPriority",
    show_default=True,
    help="Whether the team's higher-priority tasks preempt its lower-priority ones.",
)
@click.option("--fair-share-weight", type=int, default=None, help="Fair-share weight 0-100.")
@click.option("--dry-run", is_flag=True, help="Print the objects instead of sending them.")
@click.pass_context
def create_compute_quota(
    ctx: click.Context,
    team: str,
    instance_types: tuple[str, ...],
    counts: tuple[int, ...],
    accelerators: int | None,
    vcpu: float | None,
    memory: float | None,
    sharing: str,
    borrow_limit: int,
    preempt: str,
    fair_share_weight: int | None,
    dry_run: bool,
) -> None:
    """Create or update a team's compute quota (namespace, LocalQueue, ClusterQueue).

    \b
    Example:
      hyp create compute-quota --team ml-research --instance-type ml.p5.48xlarge --count 2 \\
          --sharing LendAndBorrow --borrow-limit 50 --preempt LowerPriority --fair-share-weight 10
    """
    from hyperpod.client import governance as gov

    if len(instance_types) != len(counts):
        raise gov.InvalidGovernance(
            "--instance-type and --count must be given the same number of times",
            "for example --instance-type ml.p5.48xlarge --count 2",
        )
    quota = gov.ComputeQuota(
        team,
        list(zip(instance_types, counts, strict=True)),
        accelerators,
        vcpu,
        memory,
        sharing,
        borrow_limit,
        preempt,
        fair_share_weight,
    )
    objs = gov.quota_objects(quota)
    if dry_run:
        dump(objs, "yaml")
        return
    kube = _kube(ctx)
    for obj in objs:
        click.echo(f"{obj['kind'].lower()}/{obj['metadata']['name']} {apply(kube, obj)}")
    nodes = [n.to_dict() for n in kube.core().list_node().items]
    nodes = [_node_dict(n) for n in nodes]
    for warning in gov.quota_warnings(_managed_queues(kube), nodes):
        click.secho(f"warning: {warning}", fg="yellow", err=True)


def _node_dict(node: dict[str, Any]) -> dict[str, Any]:
    """The client's snake_case node back to the wire fields quota_warnings reads."""
    md = node.get("metadata") or {}
    st = node.get("status") or {}
    return {
        "metadata": {"labels": md.get("labels") or {}},
        "status": {
            "allocatable": st.get("allocatable") or {},
            "capacity": st.get("capacity") or {},
        },
    }


def _quota_row(cq: dict[str, Any]) -> dict[str, Any]:
    from hyperpod.client import governance as gov

    spec = cq.get("spec") or {}
    res = []
    for rg in spec.get("resourceGroups") or []:
        for f in rg.get("flavors") or []:
            res.append(
                f"{f['name']}: "
                + ", ".join(
                    f"{r['name']}={r.get('nominalQuota')}" for r in f.get("resources") or []
                )
            )
    return {
        "team": gov.team_of(cq["metadata"]["name"]),
        "cluster_queue": cq["metadata"]["name"],
        "quota": "; ".join(res),
        "preempt": (spec.get("preemption") or {}).get("withinClusterQueue", "Never"),
        "weight": (spec.get("fairSharing") or {}).get("weight", "1"),
        "pending": (cq.get("status") or {}).get("pendingWorkloads", 0),
        "admitted": (cq.get("status") or {}).get("admittedWorkloads", 0),
    }


@click.command("compute-quota", context_settings=CONTEXT_SETTINGS)
@output_option("table")
@click.pass_context
def list_compute_quota(ctx: click.Context, output: str) -> None:
    """List the teams' compute quotas.

    \b
    Example:
      hyp list compute-quota
    """
    rows = [_quota_row(cq) for cq in _managed_queues(_kube(ctx))]
    table(
        rows,
        ["team", "quota", "preempt", "weight", "pending", "admitted"],
        output,
        empty="No compute quotas. Create one with `hyp create compute-quota --team ...`.",
    )


def _get_team_queue(kube: Any, team: str) -> dict[str, Any]:
    from hyperpod.client import governance as gov
    from hyperpod.client.errors import UserError

    try:
        return dict(
            kube.custom().get_cluster_custom_object(
                GROUP, VERSION, "clusterqueues", gov.cluster_queue_name(team)
            )
        )
    except Exception as exc:
        if _is_404(exc):
            raise UserError(
                f"team {team} has no compute quota", "`hyp list compute-quota` shows the teams"
            ) from exc
        raise


@click.command("compute-quota", context_settings=CONTEXT_SETTINGS)
@click.option("--team", required=True, help="Team name.")
@output_option("table")
@click.pass_context
def describe_compute_quota(ctx: click.Context, team: str, output: str) -> None:
    """Show a team's quota, usage, borrowing and pending jobs.

    \b
    Example:
      hyp describe compute-quota --team ml-research
    """
    from hyperpod.client import governance as gov

    kube = _kube(ctx)
    cq = _get_team_queue(kube, team)
    [row] = gov.queue_rows([cq], _list(kube, "LocalQueue"), _list(kube, "Workload"))
    if output != "table":
        dump({"clusterQueue": cq, "view": row}, output)
        return
    spec = cq.get("spec") or {}
    fields(
        [
            ("Team", team),
            ("Namespace", gov.namespace_name(team)),
            ("LocalQueue", gov.local_queue_name(team)),
            ("ClusterQueue", cq["metadata"]["name"]),
            ("Cohort", spec.get("cohort", "")),
            ("Quota", row["quota"]),
            ("Used", row["used"]),
            ("Borrowed", row["borrowed"]),
            ("Preempt team tasks", (spec.get("preemption") or {}).get("withinClusterQueue")),
            ("Fair-share weight", (spec.get("fairSharing") or {}).get("weight", "1")),
            ("Admitted", row["admitted"]),
            ("Pending", len(row["pending"])),
        ]
    )
    if row["pending"]:
        table(row["pending"], ["position", "workload", "job", "priority", "reason"], "table")


@click.command("compute-quota", context_settings=CONTEXT_SETTINGS)
@click.option("--team", required=True, help="Team name.")
@click.option(
    "--delete-namespace", is_flag=True, help="Also delete hyperpod-ns-<team> and its jobs."
)
@click.pass_context
def delete_compute_quota(ctx: click.Context, team: str, delete_namespace: bool) -> None:
    """Delete a team's LocalQueue and ClusterQueue (and, if asked, its namespace).

    \b
    Example:
      hyp delete compute-quota --team ml-research
    """
    from hyperpod.client import governance as gov

    kube = _kube(ctx)
    _get_team_queue(kube, team)
    custom = kube.custom()
    ns = gov.namespace_name(team)
    try:
        custom.delete_namespaced_custom_object(
            GROUP, VERSION, ns, "localqueues", gov.local_queue_name(team)
        )
    except Exception as exc:
        if not _is_404(exc):
            raise
    custom.delete_cluster_custom_object(
        GROUP, VERSION, "clusterqueues", gov.cluster_queue_name(team)
    )
    click.echo(f"compute quota of team {team} deleted")
    if delete_namespace:
        kube.core().delete_namespace(ns)
        click.echo(f"namespace/{ns} deleted")


# --------------------------------------------------------------------------- member kubeconfig


def tenant_kubeconfig(
    ctx: click.Context, user: str, team: str, duration: int, out_file: Any | None
) -> None:
    """Issue a kubeconfig for ``user`` scoped to team ``team``'s namespace (tenants.py)."""
    import base64

    from hyperpod.client import governance as gov
    from hyperpod.client import kubeconfig as kc
    from hyperpod.client import tenants
    from hyperpod.client.errors import UserError

    tenants.check_user(user)
    kube = _kube(ctx)
    ns = gov.namespace_name(team)
    try:
        kube.core().read_namespace(ns)
    except Exception as exc:
        if not _is_404(exc):
            raise
        raise UserError(
            f"team {team!r} has no namespace {ns}",
            f"create the team first: hyp create compute-quota --team {team} ...",
        ) from exc
    for obj in tenants.team_access_objects(team, ns) + tenants.member_objects(team, user, ns):
        apply(kube, obj)
    answer = kube.core().create_namespaced_service_account_token(
        user, ns, {"spec": {"expirationSeconds": duration}}
    )
    conf = kube.api_client().configuration
    ca_data = None
    if conf.ssl_ca_cert:
        with open(conf.ssl_ca_cert, "rb") as fh:
            ca_data = base64.b64encode(fh.read()).decode()
    cluster = "hyperpod"
    try:
        from kubernetes import config as kconfig

        _, current = kconfig.list_kube_config_contexts(
            config_file=kube.kubeconfig or str(kc.default_path())
        )
        if ctx.find_root().obj and ctx.find_root().obj.get("context"):
            current = {"context": {"cluster": ctx.find_root().obj["context"]}}
        cluster = str((current or {}).get("context", {}).get("cluster") or cluster)
    except Exception:  # only the entry's name depends on it
        pass
    cfg = tenants.scoped_kubeconfig(
        cluster=cluster,
        server=kube.server(),
        ca_data=ca_data,
        insecure=not conf.verify_ssl,
        team=team,
        user=user,
        namespace=ns,
        token=answer.status.token,
    )
    expires = answer.status.expiration_timestamp
    if out_file is not None:
        kc.write(out_file, cfg)
        click.echo(
            f"Wrote {out_file}: user {user} of team {team} (namespace {ns}), expires {expires}"
        )
        return
    dump(cfg, "yaml")


# --------------------------------------------------------------------------- queue view


@click.command("queue", context_settings=CONTEXT_SETTINGS)
@output_option("table")
@click.pass_context
def list_queue(ctx: click.Context, output: str) -> None:
    """Per team: quota vs used vs borrowed, and pending jobs in order with the reason.

    \b
    Example:
      hyp list queue
    """
    from hyperpod.client import governance as gov

    kube = _kube(ctx)
    rows = gov.queue_rows(
        _list(kube, "ClusterQueue"), _list(kube, "LocalQueue"), _list(kube, "Workload")
    )
    if output != "table":
        dump(rows, output)
        return
    table(
        rows,
        ["team", "quota", "used", "borrowed", "admitted"],
        "table",
        empty="No queues. Create one with `hyp create compute-quota --team ...`.",
    )
    for row in rows:
        if row["pending"]:
            click.echo("")
            table(
                row["pending"],
                ["position", "workload", "job", "priority", "reason"],
                "table",
                title=f"pending in {row['cluster_queue']}",
            )


def register(cli: click.Group) -> None:
    """Add the governance nouns to the root ``hyp`` group's verbs."""
    verbs: dict[str, list[click.Command]] = {
        "create": [create_cluster_policy, create_compute_quota],
        "describe": [describe_cluster_policy, describe_compute_quota],
        "list": [list_compute_quota, list_queue],
        "delete": [delete_compute_quota],
    }
    for verb, commands in verbs.items():
        group = cli.commands.get(verb)
        if not isinstance(group, click.Group):
            continue
        for cmd in commands:
            group.add_command(cmd)
