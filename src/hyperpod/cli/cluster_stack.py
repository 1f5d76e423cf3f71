"""Cluster-stack commands: init, configure, validate, create, list, describe, delete, get kubeconfig."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hyperpod.cli.base import CONTEXT_SETTINGS, LazyGroup
from hyperpod.cli.output import dump, fields, output_option, table
from hyperpod.client.errors import UserError

if TYPE_CHECKING:
    from hyperpod.providers.base import Provider, StackInfo

DEFAULT_CONFIG = "config.yaml"


def config_option() -> Any:
    return click.option(
        "--config",
        "-c",
        "config_path",
        default=DEFAULT_CONFIG,
        show_default=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="The cluster-stack config file.",
    )


def get_provider(
    name: str, progress: Callable[[str], None] | None = None, region: str | None = None
) -> Provider:
    """The provider for ``provider: <name>`` (imported on demand)."""
    if name == "local":
        from hyperpod.providers.local.provider import LocalProvider

        return LocalProvider(progress=progress)
    if name == "aws":
        from hyperpod.providers.aws import AwsProvider

        if progress is not None:
            return AwsProvider(region=region, out=progress)
        return AwsProvider(region=region)
    raise UserError(f"provider: unknown provider {name!r}", "use local or aws")


def _stack_name(parsed: Any) -> str:
    """The name a stack is known by: the cluster name (local) or the CloudFormation stack (aws)."""
    return str(getattr(parsed, "stack", None) or parsed.cluster_name)


def _progress_printer() -> tuple[Callable[[str], None], Any]:
    from hyperpod.cli.output import console

    con = console(stderr=True)
    status = con.status("starting", spinner="dots")

    def say(message: str) -> None:
        status.update(message)
        con.print(f"[green]•[/green] {message}")

    return say, status


# --- init / configure / validate ------------------------------------------------------------


@click.command("init", context_settings=CONTEXT_SETTINGS)
@click.argument("template", type=click.Choice(["cluster-stack", "hyp-pytorch-job"]))
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--provider",
    type=click.Choice(["local", "aws"]),
    default="local",
    show_default=True,
    help="Where the cluster runs.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing config.yaml.")
@click.option(
    "--version", "version", default=None, help="hyp-pytorch-job: template schema (1.0 or 1.1)."
)
def init(template: str, directory: Path, provider: str, force: bool, version: str | None) -> None:
    """Write a commented config.yaml for a new cluster stack or training job.

    \b
    Example:
      hyp init cluster-stack ./my-cluster            # local cluster on this machine
      hyp init cluster-stack ./eks --provider aws    # HyperPod on Amazon EKS
      hyp init hyp-pytorch-job ./my-job              # config.yaml + k8s.jinja for a job
    """
    from hyperpod.api import cluster_config

    if template == "hyp-pytorch-job":
        from hyperpod.cli import job_template

        job_template.init(directory, version, force)
        return

    target = directory / DEFAULT_CONFIG
    if provider == "aws" and target.exists() and not force and _convert_real_cli(target):
        return
    if target.exists() and not force:
        raise UserError(
            f"{target} already exists", "edit it with `hyp configure`, or pass --force to overwrite"
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
        target.write_text(cluster_config.render(provider=provider))
    except OSError as exc:
        raise UserError(
            f"cannot write {target}: {exc.strerror or exc}", "choose a writable directory"
        ) from exc
    click.echo(
        f"Wrote {target} ({template}, provider: {provider}, template version {cluster_config.TEMPLATE_VERSION})."
    )
    cd = "" if directory == Path(".") else f"cd {directory} && "
    click.echo(f"Next: {cd}hyp configure --<field> <value>, hyp validate, hyp create")


def _convert_real_cli(target: Path) -> bool:
    """Convert a config.yaml written for the real HyperPod CLI's cluster-stack template into an
    aws config (the original is kept next to it); False when it is not such a file."""
    import yaml

    from hyperpod.api import aws_real_cli
    from hyperpod.api.aws_config import AwsClusterConfig, aws_template_yaml
    from hyperpod.cli import config_file

    try:
        data = yaml.safe_load(target.read_text())
    except (OSError, yaml.YAMLError):
        return False
    if not isinstance(data, dict) or not aws_real_cli.is_real_cli(data):
        return False
    try:
        converted, notes = aws_real_cli.convert(data)
        AwsClusterConfig.model_validate(converted)
    except aws_real_cli.NotConvertible as exc:
        raise UserError(
            f"{target} is a real HyperPod CLI config that cannot be converted: {exc}",
            "change that field in it and run `hyp init cluster-stack --provider aws` again",
        ) from exc
    except ValueError as exc:  # pydantic's ValidationError
        first = exc.errors()[0] if hasattr(exc, "errors") else {"loc": (), "msg": str(exc)}
        where = ".".join(str(p) for p in first["loc"])
        raise UserError(
            f"{target} converted from the real HyperPod CLI has a bad value: {where}: {first['msg']}",
            "fix it in the original file and run `hyp init cluster-stack --provider aws` again",
        ) from exc
    original = target.with_name("config.real-cli.yaml")
    original.write_text(target.read_text())
    target.write_text(config_file.dump_with_header(aws_template_yaml(), converted))
    click.echo(
        f"{target} was written for the real HyperPod CLI (cluster-stack v1.0): converted to a "
        f"hyp aws config; the original is in {original}."
    )
    for note in notes:
        click.echo(f"note: {note}")
    click.echo("Next: hyp validate, hyp create --dry-run, hyp create")
    return True


def _schema_options() -> list[click.Option]:
    from hyperpod.api import cluster_config

    paths: dict[str, Any] = dict(cluster_config.field_paths(cluster_config.LocalClusterConfig))
    try:
        for key, info in cluster_config.field_paths(cluster_config.schema_for("aws")).items():
            paths.setdefault(key, info)
    except ImportError:
        pass
    options = []
    for path, info in paths.items():
        if path in cluster_config.ENVELOPE:  # accepted only to be refused with a reason
            options.append(click.Option(["cfg__" + path, "--" + path], default=None, hidden=True))
            continue
        kebab = "--" + path.replace(".", "-").replace("_", "-")
        dotted = "--" + path
        dotted_kebab = "--" + path.replace("_", "-")
        decls = sorted({kebab, dotted, dotted_kebab}, key=lambda d: (d != kebab, d))
        options.append(
            click.Option(
                ["cfg__" + path.replace(".", "__"), *decls],
                default=None,
                metavar="VALUE",
                help=(info.description or path).replace("%", "%%"),
            )
        )
    return options


class SchemaCommand(click.Command):
    """A command whose ``--<field>`` options are generated from the config schema when needed."""

    _generated: dict[bool, list[click.Parameter]] | None = None

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        from hyperpod.cli import job_template

        # A hyp-pytorch-job config.yaml here (hyp init hyp-pytorch-job) has the job's fields.
        job = job_template.is_job_config(Path(DEFAULT_CONFIG))
        if self._generated is None:
            self._generated = {}
        if job not in self._generated:
            generated: list[click.Parameter] = []
            generated += job_template.options() if job else _schema_options()
            self._generated[job] = generated
        params = super().get_params(ctx)  # the last one is --help: keep it last
        return [*params[:-1], *self._generated[job], *params[-1:]]


def _typed(raw: str, info: Any) -> Any:
    """A flag's text as the field's type: text fields keep it verbatim, others parse as YAML."""
    import typing

    import yaml

    ann = info.annotation
    args = typing.get_args(ann)
    origin = typing.get_origin(ann)
    if ann is str or (str in args and origin not in (list, dict)):
        return None if raw in ("null", "~") else raw
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = raw
    if origin is list and isinstance(value, str | int | float):
        return _comma_list(str(value) if not isinstance(value, str) else value)
    if origin is dict and isinstance(value, str):
        return _comma_map(value)
    return value


def _comma_list(raw: str) -> list[str]:
    """``a,b`` (or one bare ``a``) as a list for a list field."""
    return [part.strip() for part in raw.split(",") if part.strip()]


def _comma_map(raw: str) -> dict[str, str] | str:
    """``k=v,k2=v2`` as a mapping for a map field (left as text when it is not that form)."""
    pairs = [part.strip() for part in raw.split(",") if part.strip()]
    if not pairs or not all("=" in p for p in pairs):
        return raw
    return {k.strip(): v.strip() for k, v in (p.split("=", 1) for p in pairs)}


@click.command("configure", cls=SchemaCommand, context_settings=CONTEXT_SETTINGS)
@config_option()
@click.pass_context
def configure(ctx: click.Context, config_path: Path, **values: Any) -> None:
    """Set fields of config.yaml; only the fields you pass are validated.

    Flags are generated from the schema: nested fields take dotted or kebab names
    (--addons.kueue false, --addons-kueue false). Lists take YAML.

    \b
    Example:
      hyp configure --cluster-name dev --api-port 7443
      hyp configure --instance-groups '[{name: local, kind: local}, {name: p5, instance_type: ml.p5.48xlarge, count: 4}]'
    """
    from hyperpod.api import cluster_config
    from hyperpod.cli import config_file, job_template

    if job_template.is_job_config(config_path):
        job_template.configure(config_path, values)
        return
    chosen = {
        k[len("cfg__") :].replace("__", "."): v
        for k, v in values.items()
        if k.startswith("cfg__") and v is not None
    }
    if not chosen:
        raise click.UsageError("pass at least one --<field> VALUE (see `hyp configure --help`)")
    text = config_path.read_text() if config_path.exists() else ""
    data = cluster_config.read_mapping(config_path)
    provider = str(data.get("provider", "local"))
    model = cluster_config.schema_for(provider) if provider in cluster_config.PROVIDERS else None
    if model is None:
        raise UserError(
            f"{config_path}: provider: unknown provider {provider!r}", "set provider: local or aws"
        )
    known = cluster_config.field_paths(model)
    parsed: dict[str, Any] = {}
    fixed = sorted(set(chosen) & set(cluster_config.ENVELOPE))
    if fixed:
        raise UserError(
            f"--{fixed[0]}: the template, its version and the provider are fixed by `hyp init`",
            "run `hyp init cluster-stack DIR --provider ...` for another kind of stack",
        )
    for path, raw in chosen.items():
        if path not in known:
            raise UserError(
                f"--{path}: not a field of a provider: {provider} config",
                f"see `hyp configure --help`; fields: {', '.join(sorted(known))}",
            )
        parsed[path] = _typed(raw, known[path])
        config_file.set_path(data, path.split("."), parsed[path])
    try:
        cluster_config.validate_data(data, str(config_path))
        problems: list[Any] = []
    except cluster_config.ConfigError as exc:
        problems = exc.problems
    mine = [
        p
        for p in problems
        if any(
            p.field == path or p.field.startswith(path + ".") or p.field.startswith(path + "[")
            for path in parsed
        )
    ]
    if mine:
        first = mine[0]
        raise UserError(
            f"--{first.field}: {first.message}",
            "nothing was written; fix the value"
            + (f" ({len(mine) - 1} more problems)" if len(mine) > 1 else ""),
        )
    new_text: str | None = text
    for path, value in parsed.items():
        new_text = (
            config_file.set_scalar(new_text, path.split("."), value)
            if new_text is not None
            else None
        )
    if new_text is None:
        new_text = (
            cluster_config.render(data, provider=provider)
            if provider == "local"
            else config_file.dump_with_header(text, data)
        )
    config_path.write_text(new_text)
    for path, value in parsed.items():
        click.echo(f"{path} = {value}")
    others = [p for p in problems if p not in mine]
    if others:
        click.echo(f"({len(others)} other problem(s) remain in {config_path}; run `hyp validate`)")


@click.command("validate", context_settings=CONTEXT_SETTINGS)
@config_option()
@click.option(
    "--offline", is_flag=True, help="Only check the file; skip port, directory and cloud checks."
)
@output_option()
def validate(config_path: Path, offline: bool, output: str) -> None:
    """Check config.yaml and print every problem with its field path.

    \b
    Example:
      hyp validate
      hyp validate -c ./eks/config.yaml --offline
    """
    from hyperpod.api import cluster_config
    from hyperpod.cli import job_template

    if job_template.is_job_config(config_path):
        job_template.validate(config_path)
        return

    rows: list[dict[str, Any]] = []
    try:
        parsed = cluster_config.load(config_path)
    except cluster_config.ConfigError as exc:
        rows = [
            {"field": p.field or "(file)", "severity": "error", "message": p.message, "hint": ""}
            for p in exc.problems
        ]
        if exc.problems and not exc.problems[0].field:
            rows[0]["hint"] = exc.hint
        parsed = None
    if parsed is not None:
        provider = get_provider(
            str(parsed.provider),  # type: ignore[attr-defined]
            region=getattr(parsed, "region", None),
        )
        data = parsed.model_dump(mode="json")
        rows = [
            {"field": p.field, "severity": p.severity, "message": p.message, "hint": p.hint}
            for p in provider.validate(data, online=not offline)
        ]
    errors = [r for r in rows if r["severity"] == "error"]
    if output != "table":
        dump({"valid": not errors, "problems": rows}, output)
    else:
        for row in rows:
            color = {"error": "red", "warning": "yellow"}.get(row["severity"])
            click.secho(f"{row['severity']}: {row['field']}: {row['message']}", fg=color)
            if row["hint"]:
                click.echo(f"  hint: {row['hint']}")
    if not errors:
        if output == "table":
            click.echo(f"{config_path} is valid.")
        return
    if output == "table":
        click.secho(f"{len(errors)} problem(s) in {config_path}.", fg="red", err=True)
    raise click.exceptions.Exit(1)


# --- create / delete / describe / list / get kubeconfig -----------------------------------


def _run_dir(config_path: Path) -> Path:
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return config_path.resolve().parent / "run" / stamp


def _merge_kubeconfig(provider: Provider, name: str) -> str:
    from hyperpod.client import kubeconfig

    cfg = provider.kubeconfig(name)
    target = kubeconfig.merge_into(cfg)
    return f"context {cfg.get('current-context') or name!r} in {target} (now current)"


@click.group(
    "create", cls=LazyGroup, invoke_without_command=True, context_settings=CONTEXT_SETTINGS
)
@config_option()
@click.option(
    "--dry-run", is_flag=True, help="Render what would be created under run/<timestamp>/ and stop."
)
@click.option(
    "--timeout",
    default=60.0,
    show_default=True,
    help="Seconds to wait for the cluster to be ready.",
)
@click.pass_context
def create(ctx: click.Context, config_path: Path, dry_run: bool, timeout: float) -> None:
    """Create the cluster stack described by config.yaml, or (with a noun) a training job.

    \b
    Example:
      hyp create                            # the cluster in ./config.yaml
      hyp create hyp-pytorch-job --job-name demo --image local/python \\
          --command '[python, -m, hyperpod.examples.digits]' --node-count 2 --wait
    """
    if ctx.invoked_subcommand is not None:
        return
    import time

    from hyperpod.api import cluster_config
    from hyperpod.cli import job_template

    if job_template.is_job_config(config_path):
        job_template.create(ctx, config_path, dry_run)
        return

    t0 = time.monotonic()
    parsed = cluster_config.load(config_path)
    provider_name = str(parsed.provider)  # type: ignore[attr-defined]
    say, status = _progress_printer()
    provider = get_provider(provider_name, progress=say, region=getattr(parsed, "region", None))
    if provider_name == "local":
        provider.ready_timeout = timeout  # type: ignore[attr-defined]
    data = parsed.model_dump(mode="json")
    problems = [p for p in provider.validate(data, online=not dry_run) if p.severity == "error"]
    if problems:
        first = problems[0]
        more = f" ({len(problems) - 1} more: run `hyp validate`)" if len(problems) > 1 else ""
        raise UserError(f"{first.field}: {first.message}{more}", first.hint)
    if not dry_run:
        from hyperpod.client import kubeconfig

        kubeconfig.load(kubeconfig.default_path())  # a broken file stops us before anything starts
    run_dir = _run_dir(config_path)
    with status:
        info = provider.create(data, run_dir, dry_run=dry_run)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(config_path.read_text())
    if dry_run:
        click.echo(f"Dry run: wrote what would be created to {run_dir}")
        return
    took = time.monotonic() - t0
    if provider_name != "local":
        click.echo(
            f"Stack {info.name!r} is {info.status} ({took:.0f} s). Record of this run: {run_dir}"
        )
        if info.status.endswith("COMPLETE"):
            click.echo(f"kubeconfig: {_merge_kubeconfig(provider, info.name)}")
        return
    kube = _merge_kubeconfig(provider, info.name)
    if not info.details.get("created", True):
        click.echo(
            f"Cluster {info.name!r} already exists and is {info.status.lower()} at {info.endpoint}."
        )
        click.echo(f"kubeconfig: {kube}")
        if info.details.get("config_changed"):
            click.echo(
                f"note: {config_path} changed since the cluster started; to apply it run "
                f"`hyp delete cluster-stack {info.name}` and `hyp create` (data is kept)."
            )
        return
    click.secho(
        f"Cluster {info.name!r} is ready at {info.endpoint} ({took:.1f} s).", fg="green", bold=True
    )
    click.echo(f"kubeconfig: {kube}")
    click.echo(
        "Pods run as local processes with the environment of this shell "
        f"(python: {info.details.get('python')})."
    )
    click.echo(f"Record of this run: {run_dir}")
    from hyperpod.client.dashboard import login_hint

    click.echo(login_hint())  # the live web dashboard (hyperpod.dashboard)
    click.echo(
        "Next:\n  kubectl get nodes\n"
        "  hyp create hyp-pytorch-job --job-name demo --image local/python "
        "--command '[python, -m, hyperpod.examples.digits]' --node-count 2 --wait"
    )


def _config_stack(config_path: Path) -> tuple[str, str, str | None] | None:
    """(provider, stack name, region) from a config file, if there is a readable one."""
    if not config_path.exists():
        return None
    from hyperpod.api import cluster_config

    try:
        data = cluster_config.read_mapping(config_path)
    except cluster_config.ConfigError:
        return None
    provider = str(data.get("provider", "local"))
    if provider == "local":
        return provider, str(data.get("cluster_name") or "local"), None
    try:
        parsed = cluster_config.validate_data(data, str(config_path))
    except Exception:
        return None
    return provider, _stack_name(parsed), getattr(parsed, "region", None)


def resolve_stack(
    name: str | None, config_path: Path, provider: str | None = None, region: str | None = None
) -> tuple[Provider, str]:
    """The provider and stack a command means.

    NAME (with --provider, default local) wins; without NAME, the stack of ./config.yaml;
    without either, the only local stack.
    """
    from_file = _config_stack(config_path)
    if (
        from_file is not None
        and (provider is None or provider == from_file[0])
        and (name is None or name == from_file[1])
    ):
        return get_provider(from_file[0], region=region or from_file[2]), from_file[1]
    chosen = provider or "local"
    if name is not None:
        return get_provider(chosen, region=region), name
    if chosen != "local":
        raise UserError(
            "name the stack", f"e.g. `hyp describe cluster-stack NAME --provider {chosen}`"
        )
    local = get_provider("local")
    names = local.names()  # type: ignore[attr-defined]
    if len(names) == 1:
        return local, names[0]
    if not names:
        raise UserError(
            "no cluster stack here", "create one with `hyp init cluster-stack` and `hyp create`"
        )
    raise UserError(
        f"several cluster stacks exist: {', '.join(names)}",
        "name one, e.g. `hyp describe cluster-stack NAME`",
    )


def provider_options(f: Any) -> Any:
    f = click.option("--region", default=None, help="AWS region (aws stacks).")(f)
    return click.option(
        "--provider",
        type=click.Choice(["local", "aws"]),
        default=None,
        help="Where the stack lives (default: ./config.yaml's provider, else local).",
    )(f)


def _stack_row(info: StackInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "provider": info.provider,
        "status": info.status,
        "endpoint": info.endpoint,
        "data_dir": info.details.get("data_dir"),
    }


@click.command("cluster-stack", context_settings=CONTEXT_SETTINGS)
@provider_options
@output_option()
def list_stacks(provider: str | None, region: str | None, output: str) -> None:
    """List cluster stacks: the local ones on this machine, or (--provider aws) in a region.

    \b
    Example:
      hyp list cluster-stack -o json
      hyp list cluster-stack --provider aws --region us-west-2
    """
    infos = get_provider(provider or "local", region=region).list_stacks()
    table(
        [_stack_row(i) for i in infos],
        ["name", "provider", "status", "endpoint", "data_dir"],
        output,
        empty="No cluster stacks. Create one with `hyp init cluster-stack` and `hyp create`.",
    )


@click.command("cluster-stack", context_settings=CONTEXT_SETTINGS)
@click.argument("name", required=False)
@config_option()
@provider_options
@output_option()
def describe_stack(
    name: str | None, config_path: Path, provider: str | None, region: str | None, output: str
) -> None:
    """Show a cluster stack: status, endpoint, data directory, process and nodes.

    \b
    Example:
      hyp describe cluster-stack local
    """
    prov, stack = resolve_stack(name, config_path, provider, region)
    info = prov.describe(stack)
    if info is None:
        raise UserError(f"no cluster stack named {stack!r}", "see `hyp list cluster-stack`")
    data = {
        "name": info.name,
        "provider": info.provider,
        "status": info.status,
        "endpoint": info.endpoint,
        **info.details,
    }
    if info.provider == "local" and info.status == "Running":
        data["nodes"] = _node_summary(Path(str(info.details["kubeconfig"])))
    if output != "table":
        dump(data, output)
        return
    fields([(k.replace("_", " ").capitalize(), v) for k, v in data.items() if k != "nodes"])
    runtimes = {str(n.get("runtime")) for n in data.get("nodes") or []}
    if info.provider == "local" and (
        not runtimes or any(r.startswith("process") for r in runtimes)
    ):
        click.echo(
            "Pods run as processes on this machine and inherit the environment of the shell that "
            "ran `hyp create` (its PATH and virtualenv); the image name is only a label."
        )
    if info.provider == "local" and any(r.startswith("oci") for r in runtimes):
        click.echo(
            "Pods run in containers from their images (runc); load images with "
            "`hyp load image ARCHIVE` (`hyp build python-image` makes a Python one)."
        )
    if data.get("nodes"):
        click.echo("")
        table(
            data["nodes"],
            ["name", "instance_type", "ready", "cpu", "memory", "gpu", "runtime"],
            "table",
            title=None,
        )


def _node_summary(kubeconfig_file: Path) -> list[dict[str, Any]]:
    from hyperpod.client.kube import Kube

    try:
        nodes = Kube(str(kubeconfig_file)).core().list_node(_request_timeout=5).items
    except Exception:
        return []
    rows = []
    for node in nodes:
        labels = node.metadata.labels or {}
        cap = node.status.allocatable or node.status.capacity or {}
        ready = next(
            (c.status for c in node.status.conditions or [] if c.type == "Ready"), "Unknown"
        )
        rows.append(
            {
                "name": node.metadata.name,
                "instance_type": labels.get("node.kubernetes.io/instance-type"),
                "ready": ready,
                "cpu": cap.get("cpu"),
                "memory": cap.get("memory"),
                "gpu": cap.get("nvidia.com/gpu"),
                # Set by the local kubelet: process, oci (runc x.y) or why OCI is unavailable.
                "runtime": (node.metadata.annotations or {}).get("hyperpod.local/runtime")
                or "simulated",
            }
        )
    return rows


@click.command("cluster-stack", context_settings=CONTEXT_SETTINGS)
@click.argument("name", required=False)
@config_option()
@provider_options
@click.option("--purge", is_flag=True, help="Also delete the stack's data (local: state and logs).")
@click.option(
    "--timeout", default=90.0, show_default=True, help="Seconds to wait for a graceful stop."
)
@click.option("--retain-resources", is_flag=True, help="aws: keep resources that failed to delete.")
@click.option("--yes", "-y", is_flag=True, help="aws: do not ask for confirmation.")
def delete_stack(
    name: str | None,
    config_path: Path,
    provider: str | None,
    region: str | None,
    purge: bool,
    timeout: float,
    retain_resources: bool,
    yes: bool,
) -> None:
    """Stop a cluster stack gracefully; local data is kept unless --purge.

    \b
    Example:
      hyp delete cluster-stack local
      hyp delete cluster-stack local --purge
      hyp delete cluster-stack hyp-eks-stack --provider aws --region us-west-2
    """
    from hyperpod.client import kubeconfig

    prov, stack = resolve_stack(name, config_path, provider, region)
    if prov.describe(stack) is None:
        click.echo(f"No cluster stack named {stack!r}; nothing to delete.")
        return
    say, status = _progress_printer()
    if prov.name == "local":
        prov.progress = say  # type: ignore[attr-defined]
        prov.stop_timeout = timeout  # type: ignore[attr-defined]
        with status:
            prov.delete(stack, purge=purge)
        click.echo(
            f"Cluster {stack!r} stopped"
            + (" and its data deleted." if purge else "; its data is kept (--purge deletes it).")
        )
        if kubeconfig.remove_from(stack):
            click.echo(f"Removed context {stack!r} from {kubeconfig.default_path()}.")
        return
    resources = prov.stack_resources(stack)  # type: ignore[attr-defined]
    click.echo(f"Deleting stack {stack!r} removes {len(resources)} resources:")
    for res in resources:
        click.echo(f"  {res.get('type', '')} {res.get('logical_id', '')}")
    if not yes:
        click.confirm("Delete them?", abort=True)
    prov.out = say  # type: ignore[attr-defined]
    with status:
        prov.delete(stack, purge=purge, retain_failed=retain_resources)  # type: ignore[call-arg]
    click.echo(f"Stack {stack!r} deleted.")


@click.command("kubeconfig", context_settings=CONTEXT_SETTINGS)
@click.argument("name", required=False)
@config_option()
@click.option(
    "--output",
    "-o",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to FILE instead of printing.",
)
@click.option(
    "--merge", is_flag=True, help="Merge into $KUBECONFIG or ~/.kube/config and make it current."
)
@click.option("--user", default=None, help="Issue a team member's kubeconfig (with --team).")
@click.option("--team", default=None, help="The member's team (its hyperpod-ns-<team>).")
@click.option(
    "--duration",
    type=click.IntRange(600, 172800),
    default=86400,
    show_default=True,
    help="Seconds the member's token stays valid (with --user).",
)
@provider_options
def get_kubeconfig(
    name: str | None,
    config_path: Path,
    out_file: Path | None,
    merge: bool,
    user: str | None,
    team: str | None,
    duration: int,
    provider: str | None,
    region: str | None,
) -> None:
    """Print or write the kubeconfig of a cluster stack, or a team member's scoped one.

    \b
    Example:
      hyp get kubeconfig --output ./kubeconfig && kubectl --kubeconfig ./kubeconfig get nodes
      hyp get kubeconfig --user alice --team ml-research -o alice.kubeconfig
    """
    from hyperpod.client import kubeconfig

    if user or team:
        if not (user and team):
            raise click.UsageError("--user and --team go together: --user alice --team ml-research")
        from hyperpod.cli.governance import tenant_kubeconfig

        tenant_kubeconfig(click.get_current_context(), user, team, duration, out_file)
        return

    prov, stack = resolve_stack(name, config_path, provider, region)
    cfg = prov.kubeconfig(stack)
    if merge:
        click.echo(f"Merged: {_merge_kubeconfig(prov, stack)}")
        return
    if out_file is not None:
        kubeconfig.write(out_file, cfg)
        click.echo(f"Wrote {out_file}")
        return
    dump(cfg, "yaml")
