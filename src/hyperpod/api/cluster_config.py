"""The cluster-stack ``config.yaml``: schema, loading with field-path errors, and the commented template.

A config is an envelope (``template``, ``version``, ``provider``) plus the provider's
fields. ``provider: local`` is :class:`LocalClusterConfig` (below); ``provider: aws`` is the model
``AwsClusterConfig`` in :mod:`hyperpod.api.aws_config`, imported only when a file asks for it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from hyperpod.api import instance_types
from hyperpod.api.health import HealthConfig

TEMPLATE = "cluster-stack"
TEMPLATE_VERSION = "1.0"
PROVIDERS = ("local", "aws")
DEFAULT_API_PORT = 7443
ENVELOPE = ("template", "version", "provider")  # keys every provider's config starts with

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class ConfigProblem(BaseModel):
    """One problem in a config file: the dotted field path and what is wrong."""

    field: str
    message: str


class ConfigError(Exception):
    """A config that cannot be read or does not match the schema; ``problems`` lists them all."""

    def __init__(self, problems: list[ConfigProblem], source: str = "config.yaml") -> None:
        self.problems = problems
        self.source = source
        first = problems[0] if problems else ConfigProblem(field="", message="invalid")
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        where = f"{first.field}: " if first.field else ""
        super().__init__(f"{source}: {where}{first.message}{more}")
        self.hint = "run `hyp validate` to see every problem"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class InstanceGroup(_Model):
    """A group of nodes: the machine itself (``local``) or kwok-like ``simulated`` nodes."""

    name: str = Field(
        description="Instance-group name (node label sagemaker.amazonaws.com/instance-group-name)"
    )
    kind: Literal["local", "simulated"] = Field(
        "simulated",
        description="local: this machine, pods run as real processes; simulated: nodes that run no process",
    )
    instance_type: str | None = Field(
        None,
        validate_default=True,
        description="Instance type, e.g. ml.p5.48xlarge (simulated groups need one; the local node defaults to 'local')",
    )
    tainted: bool = Field(
        True,
        description="simulated groups: taint the nodes (hyperpod.local/simulated) so only jobs that ask "
        "for their instance type land there, never a job meant to run for real",
    )
    count: int = Field(
        1,
        ge=1,
        le=1000,
        validate_default=True,
        description="Number of nodes (the local group has exactly 1)",
    )

    @field_validator("name")
    @classmethod
    def _name_is_dns_label(cls, v: str) -> str:
        if not _DNS_LABEL.match(v) or len(v) > 63:
            raise ValueError(
                "must be lowercase letters, digits and '-', starting and ending with a letter or digit"
            )
        return v

    @field_validator("instance_type")
    @classmethod
    def _known_type(cls, v: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("kind") == "simulated":
            if not v:
                raise ValueError("a simulated group needs an instance_type, e.g. ml.p5.48xlarge")
            if instance_types.get(v) is None:
                known = ", ".join(instance_types.names())
                raise ValueError(f"unknown instance type {v!r}; known types: {known}")
        return v

    @field_validator("count")
    @classmethod
    def _local_count(cls, v: int, info: ValidationInfo) -> int:
        if info.data.get("kind") == "local" and v != 1:
            raise ValueError("the local group is this machine: count must be 1")
        return v


class Addons(_Model):
    """What the control plane runs besides the API server, scheduler and kubelet."""

    training_operator: bool = Field(True, description="Kubeflow PyTorchJob training operator")
    kueue: bool = Field(True, description="Kueue job queueing and task governance")
    device_plugins: bool = Field(True, description="NVIDIA GPU and EFA device plugins")
    health_agent: bool = Field(True, description="Node health monitoring agent")


def _default_groups() -> list[InstanceGroup]:
    return [InstanceGroup(name="local", kind="local", instance_type=None, tainted=True, count=1)]


class LocalClusterConfig(_Model):
    """A local cluster: one process on this machine serving the Kubernetes API on loopback."""

    template: Literal["cluster-stack"] = Field(
        "cluster-stack", description="Template name (do not edit)"
    )
    version: str = Field(TEMPLATE_VERSION, description="Template version (do not edit)")
    provider: Literal["local"] = Field("local", description="Where the cluster runs: local | aws")
    cluster_name: str = Field(
        "local", description="Cluster name; also the kubeconfig context name [Required]"
    )
    data_dir: str | None = Field(
        None, description="Where the cluster keeps its state (default ~/.hyperpod/<cluster_name>)"
    )
    api_port: int = Field(
        DEFAULT_API_PORT, ge=1, le=65535, description="Loopback port of the Kubernetes API server"
    )
    instance_groups: list[InstanceGroup] = Field(
        default_factory=_default_groups,
        description="Node groups: exactly one 'local' group (this machine) plus optional simulated groups",
        examples=[
            [{"name": "p5", "kind": "simulated", "instance_type": "ml.p5.48xlarge", "count": 4}]
        ],
    )
    addons: Addons = Field(
        default_factory=lambda: Addons.model_validate({}), description="Add-ons to install"
    )
    runtime: Literal["process", "oci", "auto"] = Field(
        "process",
        description="How the local node runs containers: process (a process per container, the "
        "image is a label), oci (runc runs each container from its image) or auto (oci when a "
        "probe container starts here, else process); a pod's hyperpod.local/runtime annotation "
        "overrides it",
    )
    pod_users: Literal["shared", "perNamespace"] = Field(
        "shared",
        description="shared: pods run as the user who runs the cluster; perNamespace (root only): "
        "each namespace's process pods run as Unix ids of their own, so a team cannot read the "
        "admin kubeconfig, the state store or another team's files (see docs/security.md)",
    )
    node_recovery: Literal["Automatic", "None"] = Field(
        "Automatic",
        description="Automatic: faulty nodes are rebooted or replaced; None: only labelled",
    )
    health: HealthConfig = Field(
        default_factory=lambda: HealthConfig.model_validate({}),
        description="Health monitoring agent thresholds and which faults mean reboot or replace",
    )

    @field_validator("version")
    @classmethod
    def _known_version(cls, v: str) -> str:
        if str(v) != TEMPLATE_VERSION:
            raise ValueError(
                f"unsupported template version {v!r}; this hyp writes {TEMPLATE_VERSION}"
            )
        return str(v)

    @field_validator("cluster_name")
    @classmethod
    def _cluster_name(cls, v: str) -> str:
        if not _DNS_LABEL.match(v) or len(v) > 63:
            raise ValueError("must be lowercase letters, digits and '-' (at most 63), e.g. 'local'")
        return v

    @field_validator("instance_groups")
    @classmethod
    def _groups(cls, v: list[InstanceGroup]) -> list[InstanceGroup]:
        locals_ = [g for g in v if g.kind == "local"]
        if len(locals_) != 1:
            raise ValueError("needs exactly one group with kind: local (this machine)")
        names = [g.name for g in v]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"group names must be unique; repeated: {', '.join(dupes)}")
        return v

    def resolved_data_dir(self, home: Path) -> Path:
        """The data directory, with ``~`` expanded; by default ``<home>/<cluster_name>``."""
        if self.data_dir:
            return Path(self.data_dir).expanduser().resolve()
        return (home / self.cluster_name).resolve()


def schema_for(provider: str) -> type[BaseModel]:
    """The model for one provider's config (the aws one is imported on demand)."""
    if provider == "local":
        return LocalClusterConfig
    if provider == "aws":
        from hyperpod.api import aws_config

        model: type[BaseModel] = aws_config.AwsClusterConfig
        return model
    raise ValueError(provider)


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _problems(exc: ValidationError) -> list[ConfigProblem]:
    problems = []
    for err in exc.errors():
        # Drop the union/validator tags pydantic adds to locations ("function-after[...]").
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
        path = _loc(loc)
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling; `hyp init cluster-stack` writes every field)"
        problems.append(ConfigProblem(field=path, message=msg))
    return problems


def validate_data(data: Any, source: str = "config.yaml") -> BaseModel:
    """Validate a parsed config; raise :class:`ConfigError` listing every problem."""
    if not isinstance(data, dict):
        raise ConfigError(
            [ConfigProblem(field="", message="the file must be a YAML mapping of fields")], source
        )
    problems: list[ConfigProblem] = []
    if data.get("template", TEMPLATE) != TEMPLATE:
        problems.append(
            ConfigProblem(
                field="template",
                message=f"must be {TEMPLATE!r} (this file is not a cluster-stack config)",
            )
        )
    provider = data.get("provider")
    if provider not in PROVIDERS:
        msg = "required" if provider is None else f"unknown provider {provider!r}"
        problems.append(ConfigProblem(field="provider", message=f"{msg}; one of: local, aws"))
        raise ConfigError(problems, source)
    model = schema_for(str(provider))
    payload = dict(data)
    if isinstance(payload.get("version"), int | float):
        payload["version"] = str(payload["version"])
    try:
        parsed = model.model_validate(payload)
    except ValidationError as exc:
        raise ConfigError(problems + _problems(exc), source) from None
    if problems:
        raise ConfigError(problems, source)
    return parsed


def read_yaml(path: Path) -> Any:
    """Parse a config file; missing or malformed files raise :class:`ConfigError`."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        err = ConfigError([ConfigProblem(field="", message="file not found")], str(path))
        err.hint = "create one with `hyp init cluster-stack` (or pass --config FILE)"
        raise err from None
    except OSError as exc:
        raise ConfigError(
            [ConfigProblem(field="", message=exc.strerror or str(exc))], str(path)
        ) from exc
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        err = ConfigError(
            [ConfigProblem(field="", message=f"not valid YAML: {where}{problem}")], str(path)
        )
        err.hint = "fix the YAML syntax (indentation, a missing ':' or quote)"
        raise err from exc


def read_mapping(path: Path) -> dict[str, Any]:
    """Parse a config file that must hold a mapping (:class:`ConfigError` otherwise)."""
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(
            [ConfigProblem(field="", message="the file must be a YAML mapping of fields")],
            str(path),
        )
    return data


def load(path: Path) -> BaseModel:
    """Read and validate ``config.yaml``."""
    return validate_data(read_mapping(path), str(path))


# --- the commented template -------------------------------------------------------------


def yaml_scalar(value: Any) -> str:
    """``value`` as it is written after ``key: `` on one line of YAML."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return text.removesuffix("...").strip()


def _default_of(info: Any) -> Any:
    if info.default_factory is not None:
        return info.default_factory()
    return info.default


def _render_model(
    model: type[BaseModel], values: dict[str, Any], indent: int, lines: list[str]
) -> None:
    pad = " " * indent
    for name, info in model.model_fields.items():
        desc = info.description or ""
        default = _default_of(info)
        value = values.get(name, default)
        if isinstance(default, BaseModel):
            default = default.model_dump(mode="json")
        if isinstance(value, BaseModel):
            value = value.model_dump(mode="json")
        sub = _nested_model(info.annotation)
        if sub is not None and isinstance(value, dict):
            lines.append(f"{pad}# {desc}")
            lines.append(f"{pad}{name}:")
            _render_model(sub, value, indent + 2, lines)
            continue
        note = ""
        if not isinstance(default, list | dict) and not any(
            w in desc for w in ("[Required]", "default")
        ):
            note = f" (default: {yaml_scalar(default)})"
        lines.append(f"{pad}# {desc}{note}")
        if isinstance(value, list | dict) and value:
            item = _list_item_model(info.annotation)
            if item is not None:
                lines.append(f"{pad}# Each item has:")
                lines.extend(
                    f"{pad}#   {k}: {v.description or ''}" for k, v in item.model_fields.items()
                )
            for example in info.examples or []:
                lines.append(f"{pad}# For example, add:")
                text = yaml.safe_dump(example, sort_keys=False, default_flow_style=False)
                lines.extend(f"{pad}#   {line}" for line in text.rstrip().splitlines())
            dumped = yaml.safe_dump(
                [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
                if isinstance(value, list)
                else value,
                sort_keys=False,
                default_flow_style=False,
            )
            lines.append(f"{pad}{name}:")
            lines.extend(f"{pad}  {line}" for line in dumped.rstrip().splitlines())
        else:
            lines.append(f"{pad}{name}: {yaml_scalar(value)}")


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _list_item_model(annotation: Any) -> type[BaseModel] | None:
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _nested_model(arg)
        if found is not None:
            return found
    return None


def render(values: dict[str, Any] | None = None, provider: str = "local") -> str:
    """The commented ``config.yaml`` for ``provider``, filled with ``values`` (defaults otherwise)."""
    model = schema_for(provider)
    vals = dict(values or {})
    vals["provider"] = provider
    if provider == "aws" and not values:
        from hyperpod.api import aws_config

        return aws_config.aws_template_yaml()
    lines = [
        f"# template: {TEMPLATE}",
        f"# version: {TEMPLATE_VERSION}",
        "# A local cluster: one process on this machine serving the Kubernetes API on loopback.",
        "# Edit with `hyp configure --<field> <value>`, check with `hyp validate`, then `hyp create`.",
        "# Fields marked [Required] must be set; every other field shows its default.",
        "",
    ]
    _render_model(model, vals, 0, lines)
    return "\n".join(lines) + "\n"


def field_paths(model: type[BaseModel], prefix: str = "") -> dict[str, Any]:
    """Every settable field as ``dotted.path -> FieldInfo`` (nested models flattened)."""
    out: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        sub = _nested_model(info.annotation)
        if sub is not None:
            out.update(field_paths(sub, f"{prefix}{name}."))
        else:
            out[prefix + name] = info
    return out
