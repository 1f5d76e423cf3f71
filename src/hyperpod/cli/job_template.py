"""The real HyperPod CLI's template flow for training jobs, as a second ``hyp init`` template.

``hyp init hyp-pytorch-job [DIR]`` writes, like the real CLI (template ``hyp-pytorch-job``,
schema 1.1): ``config.yaml`` (``# template:`` / ``# version:`` header lines, then one commented
key per field, every value null), ``k8s.jinja`` (the HyperPodPyTorchJob manifest as a Jinja
template), ``README.md`` and the ``.hyp`` lockfile naming the template. In that directory
``hyp configure --<field> VALUE`` sets fields, ``hyp validate`` checks them (building the same
manifest ``hyp create hyp-pytorch-job`` would), ``hyp create``
renders ``k8s.jinja`` into ``run/<YYYYmmddTHHMMSS>/k8s.yaml`` (with a copy of ``config.yaml``)
and submits it, and ``hyp reset`` sets every field back to null. A ``config.yaml`` of a cluster
stack is untouched by all of this: the commands tell the two apart by the header.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from hyperpod.cli.base import CONTEXT_SETTINGS
from hyperpod.client.errors import UserError

TEMPLATE = "hyp-pytorch-job"
VERSION = "1.1"
CONFIG = "config.yaml"
LOCKFILE = ".hyp"
JINJA = "k8s.jinja"
RUN_DIR = "run"


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # str, int, float, bool, list, int_list, map, volumes
    help: str


FIELDS: tuple[Field, ...] = (
    Field("job_name", "str", "Job name (required)"),
    Field("image", "str", "Docker image for training (required)"),
    Field("namespace", "str", "Kubernetes namespace (default: default)"),
    Field("command", "list", "Command to run in the container"),
    Field("args", "list", "Arguments for the entry script"),
    Field("environment", "map", "Environment variables as key_value pairs"),
    Field("pull_policy", "str", "Image pull policy"),
    Field("instance_type", "str", "Instance type for training"),
    Field("node_count", "int", "Number of nodes"),
    Field("replica_count", "int", "Number of replicas (pods); exclusive with node_count"),
    Field("tasks_per_node", "str", "Number of tasks per node (auto, cpu, gpu or a number)"),
    Field("label_selector", "map", "Node label selector as key_value pairs"),
    Field("deep_health_check_passed_nodes_only", "bool", "Schedule pods only on nodes that "
          "passed deep health check"),
    Field("scheduler_type", "str", "Scheduler that places the pods"),
    Field("queue_name", "str", "Queue name for job scheduling"),
    Field("priority", "str", "Priority class for job scheduling"),
    Field("accelerators", "int", "Number of accelerators a.k.a GPUs or Trainium Chips"),
    Field("vcpu", "float", "Number of vCPUs"),
    Field("memory", "float", "Amount of memory in GiB"),
    Field("accelerators_limit", "int", "Limit for the number of accelerators"),
    Field("vcpu_limit", "float", "Limit for the number of vCPUs"),
    Field("memory_limit", "float", "Limit for the amount of memory in GiB"),
    Field("efa", "int", "Number of EFA interfaces"),
    Field("efa_limit", "int", "Limit for the number of EFA interfaces"),
    Field("accelerator_partition_type", "str", "Type of accelerator partition"),
    Field("accelerator_partition_count", "int", "Number of accelerator partitions to request"),
    Field("accelerator_partition_limit", "int", "Limit for the number of accelerator partitions"),
    Field("max_retry", "int", "Maximum number of job retries"),
    Field("volume", "volumes", "List of volumes: name=N,type=hostPath,mount_path=/data,path=/d"),
    Field("service_account_name", "str", "Service account name"),
    Field("preferred_topology", "str", "Preferred topology annotation for scheduling"),
    Field("required_topology", "str", "Required topology annotation for scheduling"),
    Field("elastic_replica_increment_step", "int", "Scaling step size for elastic training"),
    Field("max_replica_count", "int", "Maximum number of replicas for elastic training"),
    Field("elastic_graceful_shutdown_timeout_in_seconds", "int", "Graceful shutdown timeout in "
          "seconds for elastic scaling operations"),
    Field("elastic_scaling_timeout_in_seconds", "int", "Scaling timeout for elastic training"),
    Field("elastic_scale_up_snooze_time_in_seconds", "int", "Timeout period after job restart "
          "during which no scale up/workload admission is allowed"),
    Field("elastic_replica_discrete_values", "int_list", "Exact replica counts to scale to"),
)  # fmt: skip
BY_NAME = {f.name: f for f in FIELDS}

K8S_JINJA = """\
{#- HyperPodPyTorchJob rendered by `hyp create` from config.yaml (template hyp-pytorch-job).
    Values are computed from config.yaml exactly as `hyp create hyp-pytorch-job` computes them
    from flags; edit freely, `hyp create` renders this file into run/<timestamp>/k8s.yaml. #}
apiVersion: sagemaker.amazonaws.com/v1
kind: HyperPodPyTorchJob
metadata:
  name: {{ job_name | tojson }}
  namespace: {{ namespace | tojson }}
{%- if labels %}
  labels: {{ labels | tojson }}
{%- endif %}
spec:
  nprocPerNode: {{ nproc_per_node | tojson }}
{%- if run_policy %}
  runPolicy: {{ run_policy | tojson }}
{%- endif %}
{%- if elastic_policy %}
  elasticPolicy: {{ elastic_policy | tojson }}
{%- endif %}
  replicaSpecs:
    - name: pod
      replicas: {{ replicas }}
{%- if max_replicas %}
      maxReplicas: {{ max_replicas }}
{%- endif %}
      template:
{%- if template_metadata %}
        metadata: {{ template_metadata | tojson }}
{%- endif %}
        spec:
          containers:
            - name: pytorch-job-container
              image: {{ image | tojson }}
{%- for key, value in container.items() %}
              {{ key }}: {{ value | tojson }}
{%- endfor %}
{%- for key, value in pod.items() %}
          {{ key }}: {{ value | tojson }}
{%- endfor %}
"""

README = """\
# hyp-pytorch-job

Written by `hyp init hyp-pytorch-job` (schema {version}).

    hyp configure --job-name demo --image local/python \\
        --command '[python, -m, hyperpod.examples.digits]' --node-count 2
    hyp validate        # check config.yaml
    hyp create          # render k8s.jinja into run/<timestamp>/k8s.yaml and submit it
    hyp reset           # set every field of config.yaml back to null

`config.yaml` holds the values, `k8s.jinja` the manifest they are rendered into; both can be
edited. Do not edit the `# template:` line: `.hyp` records which template this directory holds.
"""


# --- config.yaml ------------------------------------------------------------------------------


def header_of(path: Path) -> tuple[str | None, str | None]:
    """(template, version) from the ``# template:`` / ``# version:`` lines of a config file."""
    template = version = None
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None, None
    for line in lines[:5]:
        text = line.strip()
        if text.startswith("# template:"):
            template = text.split(":", 1)[1].strip()
        elif text.startswith("# version:"):
            version = text.split(":", 1)[1].strip()
    return template, version


def is_job_config(path: Path) -> bool:
    return header_of(path)[0] == TEMPLATE


def render_config(values: dict[str, Any], version: str = VERSION) -> str:
    out = [f"# template: {TEMPLATE}", f"# version: {version}", ""]
    for f in FIELDS:
        out.append(f"# {f.help}")
        value = values.get(f.name)
        # JSON is YAML: lists and maps stay on one line, strings are never re-typed.
        out.append(f"{f.name}: {json.dumps(value)}")
    return "\n".join(out) + "\n"


def load_values(path: Path) -> tuple[dict[str, Any], str]:
    import yaml

    template, version = header_of(path)
    if template != TEMPLATE:
        raise UserError(f"{path} is not a {TEMPLATE} config", f"run `hyp init {TEMPLATE} DIR`")
    lock = path.parent / LOCKFILE
    if lock.is_file() and lock.read_text().strip() != TEMPLATE:
        raise UserError(
            f"{path} says template {TEMPLATE} but {lock} says {lock.read_text().strip()!r}",
            "do not edit the '# template:' line; run `hyp init` in a new directory",
        )
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise UserError(f"{path} must be a mapping of fields")
    unknown = sorted(set(data) - set(BY_NAME))
    if unknown:
        raise UserError(
            f"{path}: {unknown[0]}: not a field of {TEMPLATE} {version}",
            "see `hyp configure --help` in this directory",
        )
    return data, version or VERSION


def parse_value(f: Field, raw: str) -> Any:
    """A ``--<field>`` text as the field's type; raises UserError naming the flag."""
    flag = "--" + f.name.replace("_", "-")
    if raw in ("null", "~"):
        return None
    try:
        if f.kind == "str":
            return raw
        if f.kind == "int":
            return int(raw)
        if f.kind == "float":
            return float(raw)
        if f.kind == "bool":
            if raw.lower() not in ("true", "false"):
                raise ValueError("expected true or false")
            return raw.lower() == "true"
        if f.kind in ("list", "int_list"):
            from hyperpod.client import pytorch_job as pj

            items = pj.parse_list(f.name, raw)
            return [int(x) for x in items] if f.kind == "int_list" else items
        if f.kind == "map":
            from hyperpod.client import pytorch_job as pj

            return pj.parse_mapping(f.name, [raw])
        if f.kind == "volumes":
            return [_volume_text(part) for part in raw.split(";") if part.strip()]
    except UserError as exc:
        raise UserError(f"{flag}: {exc.message}", exc.hint) from exc
    except ValueError as exc:
        raise UserError(f"{flag} {raw!r}: {exc}") from exc
    raise UserError(f"{flag}: unsupported field type {f.kind}")


def _volume_text(raw: str) -> dict[str, Any]:
    from hyperpod.client import pytorch_job as pj

    vol = pj.parse_volume(raw.strip())
    out: dict[str, Any] = {"name": vol.name, "type": vol.type, "mount_path": vol.mount_path}
    if vol.path:
        out["path"] = vol.path
    if vol.claim_name:
        out["claim_name"] = vol.claim_name
    if vol.read_only:
        out["read_only"] = True
    return out


# --- the manifest ----------------------------------------------------------------------------


def manifest(values: dict[str, Any]) -> dict[str, Any]:
    """The HyperPodPyTorchJob the values describe (raises InvalidJobSpec naming the field)."""
    from hyperpod.client import hyperpod_job
    from hyperpod.client import pytorch_job as pj
    from hyperpod.client.errors import InvalidJobSpec

    v = dict(values)
    for required in ("job_name", "image"):
        if not v.get(required):
            raise InvalidJobSpec(
                f"{required}: required", f"hyp configure --{required.replace('_', '-')} VALUE"
            )
    if v.get("node_count") is not None and v.get("replica_count") is not None:
        raise InvalidJobSpec(
            "node_count and replica_count: only one of them", "set the other to null"
        )
    volumes = []
    for vol in v.get("volume") or []:
        text = ",".join(
            f"{k}={str(x).lower() if isinstance(x, bool) else x}" for k, x in vol.items()
        )
        volumes.append(pj.parse_volume(text))
    spec = pj.JobSpec(
        job_name=str(v["job_name"]),
        image=str(v["image"]),
        command=[str(x) for x in v.get("command") or []],
        args=[str(x) for x in v.get("args") or []],
        environment={str(k): str(x) for k, x in (v.get("environment") or {}).items()},
        pull_policy=v.get("pull_policy"),
        instance_type=v.get("instance_type"),
        node_count=int(v.get("replica_count") or v.get("node_count") or 1),
        tasks_per_node=None if v.get("tasks_per_node") is None else str(v["tasks_per_node"]),
        accelerators=v.get("accelerators"),
        vcpu=v.get("vcpu"),
        memory=v.get("memory"),
        accelerators_limit=v.get("accelerators_limit"),
        vcpu_limit=v.get("vcpu_limit"),
        memory_limit=v.get("memory_limit"),
        efa=v.get("efa"),
        efa_limit=v.get("efa_limit"),
        queue_name=v.get("queue_name"),
        priority=v.get("priority"),
        max_retry=v.get("max_retry"),
        volumes=volumes,
        namespace=str(v.get("namespace") or "default"),
        label_selector={str(k): str(x) for k, x in (v.get("label_selector") or {}).items()},
        service_account_name=v.get("service_account_name"),
    )
    extra = hyperpod_job.HyperPodOptions(
        deep_health_check_passed_nodes_only=bool(v.get("deep_health_check_passed_nodes_only")),
        scheduler_type=v.get("scheduler_type"),
        preferred_topology=v.get("preferred_topology"),
        required_topology=v.get("required_topology"),
        max_replica_count=v.get("max_replica_count"),
        elastic_replica_increment_step=v.get("elastic_replica_increment_step"),
        elastic_replica_discrete_values=list(v.get("elastic_replica_discrete_values") or []),
        elastic_graceful_shutdown_timeout_in_seconds=v.get(
            "elastic_graceful_shutdown_timeout_in_seconds"
        ),
        elastic_scaling_timeout_in_seconds=v.get("elastic_scaling_timeout_in_seconds"),
        elastic_scale_up_snooze_time_in_seconds=v.get("elastic_scale_up_snooze_time_in_seconds"),
        accelerator_partition_type=v.get("accelerator_partition_type"),
        accelerator_partition_count=v.get("accelerator_partition_count"),
        accelerator_partition_limit=v.get("accelerator_partition_limit"),
    )
    return hyperpod_job.build(spec, extra)


def jinja_context(job: dict[str, Any]) -> dict[str, Any]:
    """The variables ``k8s.jinja`` is rendered with, taken from the built manifest."""
    group = job["spec"]["replicaSpecs"][0]
    template = group["template"]
    pod = dict(template["spec"])
    container = dict(pod.pop("containers")[0])
    container.pop("name", None)
    image = container.pop("image")
    return {
        "job_name": job["metadata"]["name"],
        "namespace": job["metadata"]["namespace"],
        "labels": job["metadata"].get("labels"),
        "nproc_per_node": job["spec"]["nprocPerNode"],
        "run_policy": job["spec"].get("runPolicy"),
        "elastic_policy": job["spec"].get("elasticPolicy"),
        "replicas": group["replicas"],
        "max_replicas": group.get("maxReplicas"),
        "template_metadata": template.get("metadata"),
        "image": image,
        "container": container,
        "pod": pod,
    }


def render(directory: Path, values: dict[str, Any]) -> str:
    import jinja2

    source = (directory / JINJA).read_text()
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    try:
        return env.from_string(source).render(**jinja_context(manifest(values)))
    except jinja2.TemplateError as exc:
        raise UserError(
            f"{directory / JINJA}: {exc}", "fix the template or re-run `hyp init`"
        ) from exc


# --- the commands ----------------------------------------------------------------------------


def init(directory: Path, version: str | None, force: bool) -> None:
    version = version or VERSION
    if version not in ("1.0", "1.1"):
        raise UserError(f"--version {version}: {TEMPLATE} has schema versions 1.0 and 1.1")
    config = directory / CONFIG
    if config.exists() and not force:
        template, _ = header_of(config)
        raise UserError(
            f"{config} already exists (template {template or 'cluster-stack'})",
            "use a new directory, or pass --force to overwrite it",
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
        config.write_text(render_config({}, version))
        (directory / JINJA).write_text(K8S_JINJA)
        readme = directory / "README.md"
        if not readme.exists():
            readme.write_text(README.format(version=version))
        (directory / LOCKFILE).write_text(TEMPLATE)
    except OSError as exc:
        raise UserError(f"cannot write {directory}: {exc.strerror or exc}") from exc
    click.echo(f"{TEMPLATE} for schema version={version!r} is initialized in {directory}")
    cd = "" if directory == Path(".") else f"cd {directory} && "
    click.echo(f"Next: {cd}hyp configure --job-name NAME --image IMAGE, hyp validate, hyp create")


def options() -> list[click.Option]:
    """``--<field>`` for each field (kebab case, and the snake name too)."""
    out = []
    for f in FIELDS:
        kebab = "--" + f.name.replace("_", "-")
        decls = [kebab] if f.name.replace("_", "-") == f.name else [kebab, "--" + f.name]
        out.append(
            click.Option(["job__" + f.name, *decls], default=None, metavar="VALUE", help=f.help)
        )
    return out


def configure(config: Path, values: dict[str, Any]) -> None:
    chosen = {k[len("job__") :]: v for k, v in values.items() if k.startswith("job__") and v}
    if not chosen:
        raise click.UsageError("pass at least one --<field> VALUE (see `hyp configure --help`)")
    from hyperpod.client.errors import InvalidJobSpec

    data, version = load_values(config)
    for name, raw in chosen.items():
        data[name] = parse_value(BY_NAME[name], str(raw))
    try:
        manifest({"job_name": "check", "image": "check", **{k: v for k, v in data.items() if v}})
    except InvalidJobSpec as exc:
        flags = ["--" + name.replace("_", "-") for name in chosen]
        if any(flag in exc.message for flag in flags):
            raise UserError(exc.message, exc.hint or "nothing was written; fix the value") from exc
    config.write_text(render_config(data, version))
    for name in chosen:
        click.echo(f"{name} = {json.dumps(data[name])}")


def validate(config: Path) -> None:
    from hyperpod.client.errors import InvalidJobSpec

    data, _ = load_values(config)
    try:
        manifest(data)
    except InvalidJobSpec as exc:
        raise UserError(f"{config}: {exc.message}", exc.hint) from exc
    click.echo(f"✔️  {config} is valid!")


def create(ctx: click.Context, config: Path, dry_run: bool) -> None:
    import yaml

    from hyperpod.client.errors import InvalidJobSpec

    data, _ = load_values(config)
    directory = config.parent
    try:
        text = render(directory, data)
    except InvalidJobSpec as exc:
        raise UserError(f"{config}: {exc.message}", exc.hint) from exc
    try:
        job = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UserError(f"{directory / JINJA} rendered invalid YAML: {exc}") from exc
    stamp = _dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    out = directory / RUN_DIR / stamp
    out.mkdir(parents=True, exist_ok=True)
    (out / CONFIG).write_text(config.read_text())
    (out / "k8s.yaml").write_text(text)
    click.echo(f"Rendered {out / 'k8s.yaml'}")
    if dry_run:
        return
    from hyperpod.client.jobs import Jobs
    from hyperpod.client.kube import Kube

    obj = ctx.find_root().obj or {}
    Jobs(Kube(obj.get("kubeconfig"), obj.get("context"))).create(job)
    ns = job["metadata"].get("namespace", "default")
    click.echo(f"Created {job['kind']} {job['metadata']['name']!r} in namespace {ns!r}.")


@click.command("reset", context_settings=CONTEXT_SETTINGS)
def reset() -> None:
    """Set every field of this directory's hyp-pytorch-job config.yaml back to null.

    \b
    Example:
      cd my-job && hyp reset
    """
    config = Path(CONFIG)
    if not config.exists():
        raise UserError("no config.yaml in this directory", f"run `hyp init {TEMPLATE}` first")
    _, version = load_values(config)
    config.write_text(render_config({}, version))
    click.echo("config.yaml reset: all fields set to default values.")
