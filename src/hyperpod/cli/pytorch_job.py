"""Training-job commands (noun ``hyp-pytorch-job``): create, list, describe, list-pods, get-logs, exec, delete.

They talk to whatever cluster the kubeconfig context names (local or EKS).
"""

from __future__ import annotations

import datetime as _dt
import sys
from typing import TYPE_CHECKING, Any

import click

from hyperpod.cli.base import CONTEXT_SETTINGS
from hyperpod.cli.hyperpod_job_options import hyperpod_extra, hyperpod_options, reject_hyperpod_only
from hyperpod.cli.output import dump, fields, namespace_option, output_option, table

if TYPE_CHECKING:
    from hyperpod.client.jobs import Jobs

NOUN = "hyp-pytorch-job"


def _jobs(ctx: click.Context) -> Jobs:
    from hyperpod.client.jobs import Jobs
    from hyperpod.client.kube import Kube

    obj = ctx.find_root().obj or {}
    return Jobs(Kube(obj.get("kubeconfig"), obj.get("context")))


def job_name_option() -> Any:
    return click.option("--job-name", required=True, metavar="NAME", help="The job's name.")


def _replica_groups(job: dict[str, Any]) -> dict[str, Any]:
    """Replica groups by name for both kinds: PyTorchJob's map, HyperPodPyTorchJob's list."""
    spec = job.get("spec") or {}
    if isinstance(spec.get("replicaSpecs"), list):
        return {str(g.get("name")): g for g in spec["replicaSpecs"] if isinstance(g, dict)}
    return dict(spec.get("pytorchReplicaSpecs") or {})


def _age(timestamp: str | None) -> str:
    if not timestamp:
        return ""
    try:
        then = _dt.datetime.fromisoformat(str(timestamp).replace("Z", "+00:00"))
    except ValueError:
        return str(timestamp)
    secs = int((_dt.datetime.now(_dt.UTC) - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{max(secs, 0)}s"


@click.command(NOUN, context_settings=CONTEXT_SETTINGS)
@job_name_option()
@click.option(
    "--image", required=True, help="Container image (locally only a label, e.g. local/python)."
)
@click.option(
    "--command",
    "command",
    multiple=True,
    metavar="LIST",
    help="Entrypoint, as '[python, train.py]' or a shell-quoted string (repeats add up).",
)
@click.option(
    "--args",
    "args",
    multiple=True,
    metavar="LIST",
    help="Arguments, as '[--epochs, 3]' or a string (repeats add up).",
)
@click.option(
    "--environment",
    "environment",
    multiple=True,
    metavar="MAP",
    help='Environment variables: \'{"KEY": "value"}\' or KEY=value (repeatable).',
)
@click.option(
    "--pull-policy",
    type=click.Choice(["Always", "IfNotPresent", "Never"]),
    default=None,
    help="Image pull policy.",
)
@click.option(
    "--instance-type",
    default=None,
    metavar="TYPE",
    help="Run on nodes of this type (e.g. ml.p5.48xlarge); requests are derived from it.",
)
@click.option(
    "--node-count",
    "--replica-count",
    "node_count",
    type=int,
    default=1,
    show_default=True,
    help="Number of nodes (pods); with --kind pytorchjob one master plus node-count-1 workers.",
)
@click.option(
    "--tasks-per-node",
    default=None,
    metavar="N",
    help="Processes per node (nprocPerNode): N, auto, cpu or gpu.",
)
@click.option(
    "--accelerators",
    type=int,
    default=None,
    help="GPUs/Neuron devices per pod (default: all of the instance type's).",
)
@click.option("--vcpu", type=float, default=None, help="vCPU request per pod.")
@click.option("--memory", type=float, default=None, help="Memory request per pod, GiB.")
@click.option(
    "--accelerators-limit",
    type=int,
    default=None,
    help="Accelerator limit (must equal the request).",
)
@click.option("--vcpu-limit", type=float, default=None, help="vCPU limit per pod.")
@click.option("--memory-limit", type=float, default=None, help="Memory limit per pod, GiB.")
@click.option(
    "--efa",
    type=int,
    default=None,
    help="EFA devices per pod (default: all of the instance type's).",
)
@click.option("--efa-limit", type=int, default=None, help="EFA limit (must equal the request).")
@click.option("--queue-name", default=None, help="Kueue LocalQueue to submit to.")
@click.option("--priority", default=None, help="Kueue WorkloadPriorityClass.")
@click.option(
    "--max-retry", type=int, default=None, help="How many times the job may be restarted."
)
@click.option(
    "--auto-resume",
    is_flag=True,
    help="Restart the whole job after a node fault (HyperPod auto-resume).",
)
@click.option(
    "--restart-policy",
    type=click.Choice(["OnFailure", "Never", "ExitCode", "Always"]),
    default="OnFailure",
    show_default=True,
    help="Pod restart policy.",
)
@click.option(
    "--volume",
    "volumes",
    multiple=True,
    metavar="SPEC",
    help="name=N,type=hostPath,mount_path=/data,path=/srv/data or name=N,type=pvc,mount_path=/data,claim_name=C.",
)
@namespace_option()
@click.option(
    "--label-selector",
    "label_selector",
    multiple=True,
    metavar="MAP",
    help='Node labels the pods must match: \'{"key": "value"}\' or key=value.',
)
@click.option("--service-account-name", default=None, help="Service account of the pods.")
@click.option(
    "--kind",
    "kind",
    type=click.Choice(["hyperpodpytorchjob", "pytorchjob"]),
    default="hyperpodpytorchjob",
    show_default=True,
    help="hyperpodpytorchjob: HyperPod's own training operator (what the real HyperPod CLI "
    "creates); pytorchjob: a Kubeflow PyTorchJob.",
)
@hyperpod_options
@click.option("--dry-run", is_flag=True, help="Print the job's YAML and submit nothing.")
@click.option("--wait", is_flag=True, help="Follow the job to its end; exit non-zero if it fails.")
@click.option(
    "--timeout", type=float, default=None, help="With --wait: give up after this many seconds."
)
@click.pass_context
def create_job(ctx: click.Context, **opts: Any) -> None:
    """Submit a distributed PyTorch training job: a HyperPodPyTorchJob
    (sagemaker.amazonaws.com/v1), or a Kubeflow PyTorchJob with --kind pytorchjob.

    \b
    Example:
      hyp create hyp-pytorch-job --job-name demo --image local/python \\
          --command '[python, -m, hyperpod.examples.digits]' --node-count 2 --wait
      hyp create hyp-pytorch-job --job-name llm --image my-registry/train:1 \\
          --instance-type ml.p5.48xlarge --node-count 4 --queue-name team-a --dry-run
      hyp create hyp-pytorch-job --kind pytorchjob --job-name kf --image local/python \\
          --command '[python, -m, hyperpod.examples.digits]' --node-count 2
    """
    from hyperpod.client import pytorch_job as pj

    spec = pj.JobSpec(
        job_name=opts["job_name"],
        image=opts["image"],
        command=[part for text in opts["command"] for part in pj.parse_list("command", text)],
        args=[part for text in opts["args"] for part in pj.parse_list("args", text)],
        environment=pj.parse_mapping("environment", opts["environment"]),
        pull_policy=opts["pull_policy"],
        instance_type=opts["instance_type"],
        node_count=opts["node_count"],
        tasks_per_node=opts["tasks_per_node"],
        accelerators=opts["accelerators"],
        vcpu=opts["vcpu"],
        memory=opts["memory"],
        accelerators_limit=opts["accelerators_limit"],
        vcpu_limit=opts["vcpu_limit"],
        memory_limit=opts["memory_limit"],
        efa=opts["efa"],
        efa_limit=opts["efa_limit"],
        queue_name=opts["queue_name"],
        priority=opts["priority"],
        max_retry=opts["max_retry"],
        auto_resume=opts["auto_resume"],
        restart_policy=opts["restart_policy"],
        volumes=[pj.parse_volume(v) for v in opts["volumes"]],
        namespace=opts["namespace"],
        label_selector=pj.parse_mapping("label-selector", opts["label_selector"]),
        service_account_name=opts["service_account_name"],
    )
    extra = hyperpod_extra(opts)
    if opts["kind"] == "hyperpodpytorchjob":
        from hyperpod.client import hyperpod_job

        manifest = hyperpod_job.build(spec, extra)
    else:
        reject_hyperpod_only(opts)
        manifest = pj.build(spec)
    if opts["dry_run"]:
        click.echo(pj.to_yaml(manifest).rstrip())
        return
    jobs = _jobs(ctx)
    jobs.create(manifest)
    ns = spec.namespace
    click.echo(f"Created {manifest['kind']} {spec.job_name!r} in namespace {ns!r}.")
    if not opts["wait"]:
        click.echo(
            f"Follow it: hyp describe {NOUN} --job-name {spec.job_name} -n {ns}; "
            f"hyp get-logs {NOUN} --job-name {spec.job_name} -n {ns} -f"
        )
        return
    _follow(jobs, spec.job_name, ns, opts["timeout"])


def _follow(jobs: Jobs, name: str, namespace: str, timeout: float | None) -> None:
    import time

    from hyperpod.cli.output import console

    con = console(stderr=True)
    t0 = time.monotonic()
    status = con.status(f"{name}: Pending", spinner="dots")

    def on_change(job: dict[str, Any], state: str, summary: str) -> None:
        line = f"{name}: {state}"
        if summary:
            line += f"  ({summary})"
        status.update(line)
        con.print(f"[dim]{time.monotonic() - t0:6.1f}s[/dim] {line}")

    def on_problems(lines: list[str]) -> None:
        for line in lines:
            con.print(f"[dim]{time.monotonic() - t0:6.1f}s[/dim] [yellow]{line}[/yellow]")

    with status:
        jobs.wait(name, namespace, on_change=on_change, timeout=timeout, on_problems=on_problems)
    click.secho(f"Job {name!r} succeeded in {time.monotonic() - t0:.1f} s.", fg="green")


def _job_row(job: dict[str, Any]) -> dict[str, Any]:
    from hyperpod.client.jobs import job_state
    from hyperpod.client.monitoring import eta_text, progress_text

    meta = job.get("metadata") or {}
    specs = _replica_groups(job)
    return {
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "status": job_state(job),
        "nodes": sum(int((s or {}).get("replicas", 1)) for s in specs.values()),
        "queue": (meta.get("labels") or {}).get("kueue.x-k8s.io/queue-name"),
        "progress": progress_text(job),
        "eta": eta_text(job),
        "age": _age(meta.get("creationTimestamp")),
    }


@click.command(NOUN, context_settings=CONTEXT_SETTINGS)
@namespace_option()
@click.option("--all-namespaces", "-A", is_flag=True, help="List jobs in every namespace.")
@output_option()
@click.pass_context
def list_jobs(ctx: click.Context, namespace: str, all_namespaces: bool, output: str) -> None:
    """List training jobs.

    \b
    Example:
      hyp list hyp-pytorch-job -n default
      hyp list hyp-pytorch-job -A -o json
    """
    items = _jobs(ctx).list_jobs(None if all_namespaces else namespace)
    if output != "table":
        dump([_job_row(j) for j in items], output)
        return
    where = "any namespace" if all_namespaces else f"namespace {namespace!r}"
    table(
        [_job_row(j) for j in items],
        ["name", "namespace", "status", "nodes", "queue", "progress", "eta", "age"],
        output,
        empty=f"No training jobs in {where}.",
    )


@click.command(NOUN, context_settings=CONTEXT_SETTINGS)
@job_name_option()
@namespace_option()
@output_option()
@click.pass_context
def describe_job(ctx: click.Context, job_name: str, namespace: str, output: str) -> None:
    """Show a training job: status, conditions, replicas, pods and events.

    \b
    Example:
      hyp describe hyp-pytorch-job --job-name demo
    """
    jobs = _jobs(ctx)
    job = jobs.get(job_name, namespace)
    if output != "table":
        dump(job, output)
        return
    from hyperpod.client.jobs import event_time, job_state

    meta = job.get("metadata") or {}
    status = job.get("status") or {}
    replicas = _replica_groups(job)
    container = {}
    for rs in replicas.values():
        container = ((rs or {}).get("template", {}).get("spec", {}).get("containers") or [{}])[0]
        break
    fields(
        [
            ("Name", meta.get("name")),
            ("Kind", job.get("kind")),
            ("Namespace", meta.get("namespace")),
            ("Status", job_state(job)),
            ("Created", meta.get("creationTimestamp")),
            ("Started", status.get("startTime")),
            ("Completed", status.get("completionTime")),
            (
                "Replicas",
                ", ".join(f"{k} x{(v or {}).get('replicas', 1)}" for k, v in replicas.items()),
            ),
            ("Image", container.get("image")),
            ("Command", " ".join(container.get("command", []) + container.get("args", []))),
            ("Resources", (container.get("resources") or {}).get("requests")),
            ("Queue", (meta.get("labels") or {}).get("kueue.x-k8s.io/queue-name")),
            ("Progress", _progress_field(job)),
        ]
    )
    conds = [
        {
            "type": c.get("type"),
            "status": c.get("status"),
            "reason": c.get("reason"),
            "message": c.get("message"),
            "age": _age(c.get("lastTransitionTime")),
        }
        for c in status.get("conditions") or []
    ]
    click.echo("\nConditions:")
    table(conds, ["type", "status", "reason", "message", "age"], "table", empty="  (none yet)")
    click.echo("\nPods:")
    table(
        _pod_rows(jobs.pods(job_name, namespace, job.get("kind"))),
        ["name", "status", "node", "restarts", "age"],
        "table",
        empty="  (none yet)",
    )
    events = [
        {
            "type": e.type,
            "reason": e.reason,
            "object": f"{e.involved_object.kind}/{e.involved_object.name}",
            "message": e.message,
            "count": e.count,
            "age": _age(event_time(e)),
        }
        for e in jobs.events(job_name, namespace)
    ]
    click.echo("\nEvents:")
    table(events, ["type", "reason", "age", "object", "message"], "table", empty="  (none)")


def _progress_field(job: dict[str, Any]) -> str:
    from hyperpod.api.job_progress import read
    from hyperpod.client.monitoring import eta_text, progress_text

    p = read(job)
    if not p:
        return "-"
    metrics = ", ".join(f"{k}={v}" for k, v in (p.get("metrics") or {}).items())
    text = f"{progress_text(job)}, ETA {eta_text(job)}"
    return text + (f", {metrics}" if metrics else "") + f" (at {p.get('updateTime', '?')})"


def _pod_rows(pods: list[Any]) -> list[dict[str, Any]]:
    rows = []
    for pod in pods:
        statuses = pod.status.container_statuses or []
        restarts = sum(int(s.restart_count or 0) for s in statuses)
        created = pod.metadata.creation_timestamp
        rows.append(
            {
                "name": pod.metadata.name,
                "status": pod.status.phase,
                "node": pod.spec.node_name,
                "restarts": restarts,
                "age": _age(created.isoformat() if created is not None else None),
            }
        )
    return rows


@click.command(NOUN, context_settings=CONTEXT_SETTINGS)
@job_name_option()
@namespace_option()
@output_option()
@click.pass_context
def list_pods(ctx: click.Context, job_name: str, namespace: str, output: str) -> None:
    """List the pods of a training job.

    \b
    Example:
      hyp list-pods hyp-pytorch-job --job-name demo
    """
    jobs = _jobs(ctx)
    job = jobs.get(job_name, namespace)  # a clear error when the job does not exist
    table(
        _pod_rows(jobs.pods(job_name, namespace, job.get("kind"))),
        ["name", "status", "node", "restarts", "age"],
        output,
        empty=f"Job {job_name!r} has no pods yet.",
    )


@click.command(NOUN, context_settings=CONTEXT_SETTINGS)
@job_name_option()
@click.option(
    "--pod-name", default=None, help="Which pod (default: rank 0's: the master, or node rank 0)."
)
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the container ends.")
@click.option("--tail", type=int, default=None, help="Only the last N lines.")
@namespace_option()
@click.pass_context
def get_logs(
    ctx: click.Context,
    job_name: str,
    pod_name: str | None,
    follow: bool,
    tail: int | None,
    namespace: str,
) -> None:
    """Print the logs of a training job's pod.

    \b
    Example:
      hyp get-logs hyp-pytorch-job --job-name demo
      hyp get-logs hyp-pytorch-job --job-name demo --pod-name demo-worker-0 -f
    """
    from hyperpod.client.errors import UserError
    from hyperpod.client.jobs import CONTAINERS, rank0_pod

    jobs = _jobs(ctx)
    kind = str(jobs.get(job_name, namespace).get("kind"))
    if pod_name is None:
        import time

        pods = jobs.pods(job_name, namespace, kind)
        deadline = time.monotonic() + 60
        while follow and not pods and time.monotonic() < deadline:  # -f waits for the pods
            time.sleep(0.3)
            pods = jobs.pods(job_name, namespace, kind)
        first = rank0_pod(pods)
        if first is None:
            raise UserError(
                f"job {job_name!r} has no pods yet",
                "wait a moment, or check `hyp describe hyp-pytorch-job`",
            )
        pod_name = str(first.metadata.name)
    if follow:
        jobs.wait_started(pod_name, namespace)
    container = CONTAINERS.get(kind)
    for chunk in jobs.logs(pod_name, namespace, follow=follow, container=container, tail=tail):
        sys.stdout.write(chunk)
        sys.stdout.flush()


@click.command(NOUN, context_settings=CONTEXT_SETTINGS)
@job_name_option()
@click.option("--pod", "-p", "pod", default=None, metavar="POD", help="The pod to run in.")
@click.option("--all-pods", is_flag=True, help="Run in every pod of the job, one after another.")
@click.option(
    "--container",
    default=None,
    help="The container to run in (default: the training container, pytorch-job-container "
    "or pytorch).",
)
@namespace_option()
@click.argument("command", nargs=-1, required=True)
@click.pass_context
def exec_job(
    ctx: click.Context,
    job_name: str,
    pod: str | None,
    all_pods: bool,
    container: str | None,
    namespace: str,
    command: tuple[str, ...],
) -> None:
    """Run a command in a training job's pod (or all of them) and exit with its code.

    The command runs with the container's environment and working directory.

    \b
    Example:
      hyp exec hyp-pytorch-job --job-name demo -p demo-master-0 -- nvidia-smi
      hyp exec hyp-pytorch-job --job-name demo --all-pods -- sh -c 'echo $RANK'
    """
    from hyperpod.client.errors import UserError
    from hyperpod.client.jobs import CONTAINERS

    if (pod is None) == (not all_pods):
        raise UserError(
            "give exactly one of --pod POD and --all-pods",
            f"see the pods with `hyp list-pods {NOUN} --job-name {job_name} -n {namespace}`",
        )
    jobs = _jobs(ctx)
    kind = str(jobs.get(job_name, namespace).get("kind"))
    container = container or CONTAINERS.get(kind)
    names = [p.metadata.name for p in jobs.pods(job_name, namespace, kind)]
    if pod is not None and pod not in names:
        raise UserError(
            f"pod {pod!r} is not a pod of job {job_name!r}"
            + (f" (its pods: {', '.join(names)})" if names else " (it has no pods yet)"),
            f"see `hyp list-pods {NOUN} --job-name {job_name} -n {namespace}`",
        )
    if not names:
        raise UserError(f"job {job_name!r} has no pods yet", "wait until its pods have started")
    worst = 0
    for name in [pod] if pod is not None else names:
        if all_pods:
            click.echo(f"==> {name} <==", err=True)
        code = jobs.exec(
            name, namespace, list(command), out=sys.stdout, err=sys.stderr, container=container
        )
        worst = worst or code
    if worst:
        sys.exit(worst)


@click.command(NOUN, context_settings=CONTEXT_SETTINGS)
@job_name_option()
@namespace_option()
@click.pass_context
def delete_job(ctx: click.Context, job_name: str, namespace: str) -> None:
    """Delete a training job and its pods.

    \b
    Example:
      hyp delete hyp-pytorch-job --job-name demo
    """
    kind = _jobs(ctx).delete(job_name, namespace)
    click.echo(f"Deleted {kind} {job_name!r} from namespace {namespace!r}.")


@click.command("list-accelerator-partition-type", context_settings=CONTEXT_SETTINGS)
@click.option("--instance-type", required=True, help="The instance type to list partitions for.")
@click.pass_context
def list_accelerator_partition_type(ctx: click.Context, instance_type: str) -> None:
    """List the GPU partitions (MIG profiles) nodes of an instance type offer.

    \b
    Example:
      hyp list-accelerator-partition-type --instance-type ml.p5.48xlarge
    """
    from hyperpod.client import hyperpod_job
    from hyperpod.client.kube import Kube

    obj = ctx.find_root().obj or {}
    kube = Kube(obj.get("kubeconfig"), obj.get("context"))
    for profile in hyperpod_job.available_partitions(kube, instance_type):
        click.echo(profile)
