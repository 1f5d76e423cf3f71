"""Pure builders for ``kubeflow.org/v1`` PyTorchJobs from the ``hyp create hyp-pytorch-job`` flags.

No I/O here: ``--dry-run`` prints exactly what :func:`build` returns, and tests need no server.
Requests derived from an instance type leave the system-pod reserve the real HyperPod CLI
leaves, never ask for zero accelerators, and ask for every EFA device the type has.
"""

from __future__ import annotations

import json
import math
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

import yaml

from hyperpod.api import instance_types
from hyperpod.client import job_kinds as jk
from hyperpod.client.errors import InvalidJobSpec

GROUP = jk.PT_GROUP
VERSION = jk.PT_VERSION
PLURAL = jk.PT_PLURAL
KIND = jk.PT_KIND
CONTAINER = jk.PT_CONTAINER
JOB_NAME_LABEL = jk.PT_JOB_NAME_LABEL
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
PRIORITY_LABEL = "kueue.x-k8s.io/priority-class"
AUTO_RESUME = "sagemaker.amazonaws.com/enable-job-auto-resume"
MAX_RETRY = "sagemaker.amazonaws.com/job-max-retry-count"
# Simulated nodes of a local cluster carry this taint; a job that names an instance type may
# land on them (on EKS nothing has the taint, so the toleration changes nothing).
SIMULATED_TOLERATION = {
    "key": "hyperpod.local/simulated",
    "operator": "Exists",
    "effect": "NoSchedule",
}
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
RESTART_POLICIES = ("OnFailure", "Never", "ExitCode", "Always")

_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


@dataclass
class Volume:
    """A ``--volume``: a host path or a persistent volume claim mounted into the container."""

    name: str
    type: str  # "hostPath" | "pvc"
    mount_path: str
    path: str | None = None
    claim_name: str | None = None
    read_only: bool = False


@dataclass
class JobSpec:
    """Everything ``hyp create hyp-pytorch-job`` can say; :func:`build` turns it into a manifest."""

    job_name: str
    image: str
    command: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    pull_policy: str | None = None
    instance_type: str | None = None
    node_count: int = 1
    tasks_per_node: str | None = None
    accelerators: int | None = None
    vcpu: float | None = None
    memory: float | None = None  # GiB
    accelerators_limit: int | None = None
    vcpu_limit: float | None = None
    memory_limit: float | None = None  # GiB
    efa: int | None = None
    efa_limit: int | None = None
    queue_name: str | None = None
    priority: str | None = None
    max_retry: int | None = None
    auto_resume: bool = False
    restart_policy: str = "OnFailure"
    volumes: list[Volume] = field(default_factory=list)
    namespace: str = "default"
    label_selector: dict[str, str] = field(default_factory=dict)
    service_account_name: str | None = None


# --- system reserve (what the real CLI leaves for kubelet, OS and system pods) -------------


def _tiered(amount: float, tiers: list[tuple[float, float]], rest: float) -> float:
    reserved, left = 0.0, amount
    for size, rate in tiers:
        take = min(left, size)
        reserved += take * rate
        left -= take
        if left <= 0:
            return reserved
    return reserved + left * rest


def memory_reserve_gib(memory_gib: float) -> float:
    """0.5 GiB + 30 % of the first 4 GiB, 25 % of the next 4, 20 % of the next 8, 17 % of the next 112, 7 % above."""
    return 0.5 + _tiered(memory_gib, [(4, 0.30), (4, 0.25), (8, 0.20), (112, 0.17)], 0.07)


def cpu_reserve_cores(vcpu: float) -> float:
    """0.1 core + 30 % of core 1, 15 % of core 2, 10 % of cores 3-4, 6 % of each core after."""
    return 0.1 + _tiered(vcpu, [(1, 0.30), (1, 0.15), (2, 0.10)], 0.06)


def allocatable(itype: instance_types.InstanceType) -> tuple[float, float]:
    """(cores, GiB) a pod may ask for on one node of ``itype``."""
    return (
        itype.vcpu - cpu_reserve_cores(itype.vcpu),
        itype.memory_gib - memory_reserve_gib(itype.memory_gib),
    )


def cpu_quantity(cores: float) -> str:
    millis = math.floor(cores * 1000 + 1e-6)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def memory_quantity(gib: float) -> str:
    mib = math.floor(gib * 1024 + 1e-6)
    return f"{mib // 1024}Gi" if mib % 1024 == 0 else f"{mib}Mi"


# --- requests ---------------------------------------------------------------------------


def _positive(flag: str, value: float | None, *, allow_zero: bool = False) -> None:
    if value is None:
        return
    if value < 0 or (value == 0 and not allow_zero):
        raise InvalidJobSpec(f"--{flag} must be {'>= 0' if allow_zero else '> 0'}, got {value:g}")


def resources(spec: JobSpec) -> tuple[dict[str, str], dict[str, str], str | None]:
    """(requests, limits, accelerator count for nprocPerNode) for the ``pytorch`` container."""
    for flag, value in (
        ("vcpu", spec.vcpu),
        ("memory", spec.memory),
        ("vcpu-limit", spec.vcpu_limit),
        ("memory-limit", spec.memory_limit),
    ):
        _positive(flag, value)
    for flag, ivalue in (
        ("accelerators", spec.accelerators),
        ("accelerators-limit", spec.accelerators_limit),
        ("efa", spec.efa),
        ("efa-limit", spec.efa_limit),
    ):
        _positive(flag, ivalue, allow_zero=True)

    itype = None
    if spec.instance_type:
        itype = instance_types.get(spec.instance_type)
        if itype is None:
            raise InvalidJobSpec(
                f"--instance-type: unknown instance type {spec.instance_type!r}",
                "known types: " + ", ".join(instance_types.names()),
            )
    acc_key = (itype.accelerator_resource if itype else None) or instance_types.GPU
    requests: dict[str, float] = {}
    cpu = spec.vcpu
    mem = spec.memory
    acc = spec.accelerators
    efa = spec.efa
    if itype is not None:
        alloc_cpu, alloc_mem = allocatable(itype)
        total = itype.accelerators
        if acc is not None and acc > total:
            raise InvalidJobSpec(
                f"--accelerators {acc}: {itype.name} has {total} accelerator{'s' if total != 1 else ''}",
                f"ask for at most {total}, or choose a larger --instance-type",
            )
        share = acc / total if (acc is not None and total) else 1.0
        if acc is None and total:
            acc = total
        if cpu is None:
            cpu = alloc_cpu * share
        elif cpu > alloc_cpu:
            raise InvalidJobSpec(
                f"--vcpu {cpu:g}: one {itype.name} leaves {alloc_cpu:.2f} vCPU for pods after the system reserve",
                f"ask for at most {math.floor(alloc_cpu * 100) / 100:g}; a whole-node request never schedules",
            )
        if mem is None:
            mem = alloc_mem * share
        elif mem > alloc_mem:
            raise InvalidJobSpec(
                f"--memory {mem:g}: one {itype.name} leaves {alloc_mem:.2f} GiB for pods after the system reserve",
                f"ask for at most {math.floor(alloc_mem * 100) / 100:g} GiB; a whole-node request never schedules",
            )
        if efa is None and itype.efa:
            efa = itype.efa if share >= 1 else max(1, math.floor(itype.efa * share))
        elif efa is not None and efa > itype.efa:
            raise InvalidJobSpec(f"--efa {efa}: {itype.name} has {itype.efa} EFA devices")
    if cpu is not None:
        requests["cpu"] = cpu
    if mem is not None:
        requests["memory"] = mem

    req: dict[str, str] = {}
    lim: dict[str, str] = {}
    if "cpu" in requests:
        req["cpu"] = cpu_quantity(requests["cpu"])
    if "memory" in requests:
        req["memory"] = memory_quantity(requests["memory"])
    if spec.vcpu_limit is not None:
        if cpu is not None and spec.vcpu_limit < cpu:
            raise InvalidJobSpec(
                f"--vcpu-limit {spec.vcpu_limit:g} is below the request of {cpu:g}"
            )
        lim["cpu"] = cpu_quantity(spec.vcpu_limit)
    if spec.memory_limit is not None:
        if mem is not None and spec.memory_limit < mem:
            raise InvalidJobSpec(
                f"--memory-limit {spec.memory_limit:g} is below the request of {mem:g} GiB"
            )
        lim["memory"] = memory_quantity(spec.memory_limit)
    # Extended resources (accelerators, EFA) need request == limit; zero is never asked for.
    acc_limit = spec.accelerators_limit if spec.accelerators_limit is not None else acc
    if acc and acc_limit != acc:
        raise InvalidJobSpec(
            "--accelerators-limit must equal --accelerators (devices are not shared)"
        )
    if acc:
        req[acc_key] = lim[acc_key] = str(acc)
    efa_limit = spec.efa_limit if spec.efa_limit is not None else efa
    if efa and efa_limit != efa:
        raise InvalidJobSpec("--efa-limit must equal --efa (devices are not shared)")
    if efa:
        req[instance_types.EFA] = lim[instance_types.EFA] = str(efa)
    return req, lim, (str(acc) if acc else None)


# --- the manifest -----------------------------------------------------------------------


def _check(spec: JobSpec) -> None:
    if not spec.job_name or not _DNS1035.match(spec.job_name) or len(spec.job_name) > 50:
        raise InvalidJobSpec(
            f"--job-name {spec.job_name!r} is not a valid name",
            "use lowercase letters, digits and '-', starting with a letter, at most 50 characters",
        )
    if not spec.image:
        raise InvalidJobSpec(
            "--image is required", "locally the image is only a label, e.g. --image local/python"
        )
    if not _DNS1123.match(spec.namespace) or len(spec.namespace) > 63:
        raise InvalidJobSpec(f"--namespace {spec.namespace!r} is not a valid namespace name")
    if spec.node_count < 1:
        raise InvalidJobSpec(f"--node-count must be >= 1, got {spec.node_count}")
    if spec.pull_policy is not None and spec.pull_policy not in PULL_POLICIES:
        raise InvalidJobSpec(f"--pull-policy must be one of {', '.join(PULL_POLICIES)}")
    if spec.restart_policy not in RESTART_POLICIES:
        raise InvalidJobSpec(f"--restart-policy must be one of {', '.join(RESTART_POLICIES)}")
    if spec.max_retry is not None and spec.max_retry < 0:
        raise InvalidJobSpec(f"--max-retry must be >= 0, got {spec.max_retry}")
    tpn = spec.tasks_per_node
    if (
        tpn is not None
        and tpn not in ("auto", "cpu", "gpu")
        and not (tpn.isdigit() and int(tpn) > 0)
    ):
        raise InvalidJobSpec(
            f"--tasks-per-node must be a positive integer, auto, cpu or gpu; got {tpn!r}"
        )
    for key in spec.environment:
        if not _ENV_NAME.match(key):
            raise InvalidJobSpec(f"--environment: {key!r} is not a valid variable name")
    seen: set[str] = set()
    for vol in spec.volumes:
        if vol.name in seen:
            raise InvalidJobSpec(f"--volume: name {vol.name!r} is used twice")
        seen.add(vol.name)


def _volume(vol: Volume) -> dict[str, Any]:
    if vol.type == "hostPath":
        return {"name": vol.name, "hostPath": {"path": vol.path}}
    return {
        "name": vol.name,
        "persistentVolumeClaim": {"claimName": vol.claim_name, "readOnly": vol.read_only},
    }


def build(spec: JobSpec) -> dict[str, Any]:
    """The PyTorchJob manifest for ``spec`` (raises :class:`InvalidJobSpec` naming the flag)."""
    _check(spec)
    requests, limits, accelerators = resources(spec)
    container: dict[str, Any] = {"name": CONTAINER, "image": spec.image}
    if spec.command:
        container["command"] = list(spec.command)
    if spec.args:
        container["args"] = list(spec.args)
    if spec.environment:
        container["env"] = [{"name": k, "value": str(v)} for k, v in spec.environment.items()]
    if spec.pull_policy:
        container["imagePullPolicy"] = spec.pull_policy
    if requests or limits:
        container["resources"] = {
            k: v for k, v in (("requests", requests), ("limits", limits)) if v
        }
    if spec.volumes:
        container["volumeMounts"] = [
            {
                "name": v.name,
                "mountPath": v.mount_path,
                **({"readOnly": True} if v.read_only else {}),
            }
            for v in spec.volumes
        ]
    pod: dict[str, Any] = {"containers": [container]}
    node_selector: dict[str, str] = {}
    if spec.instance_type:
        itype = instance_types.get(spec.instance_type)
        node_selector[INSTANCE_TYPE_LABEL] = itype.name if itype else spec.instance_type
    node_selector.update(spec.label_selector)
    if node_selector:
        pod["nodeSelector"] = node_selector
    if spec.instance_type:
        pod["tolerations"] = [dict(SIMULATED_TOLERATION)]
    if spec.service_account_name:
        pod["serviceAccountName"] = spec.service_account_name
    if spec.volumes:
        pod["volumes"] = [_volume(v) for v in spec.volumes]

    labels: dict[str, str] = {}
    if spec.queue_name:
        labels[QUEUE_LABEL] = spec.queue_name
    if spec.priority:
        labels[PRIORITY_LABEL] = spec.priority
    template: dict[str, Any] = {"spec": pod}
    if labels:
        template["metadata"] = {"labels": dict(labels)}

    def replica(count: int) -> dict[str, Any]:
        return {
            "replicas": count,
            "restartPolicy": spec.restart_policy,
            "template": json.loads(json.dumps(template)),
        }

    replica_specs = {"Master": replica(1)}
    if spec.node_count > 1:
        replica_specs["Worker"] = replica(spec.node_count - 1)
    job_spec: dict[str, Any] = {"pytorchReplicaSpecs": replica_specs}
    nproc = spec.tasks_per_node or accelerators
    if nproc:
        job_spec["nprocPerNode"] = nproc
    if spec.max_retry is not None:
        job_spec["runPolicy"] = {"backoffLimit": spec.max_retry}

    metadata: dict[str, Any] = {"name": spec.job_name, "namespace": spec.namespace}
    if labels:
        metadata["labels"] = labels
    if spec.auto_resume:
        metadata["annotations"] = {
            AUTO_RESUME: "true",
            MAX_RETRY: str(spec.max_retry if spec.max_retry is not None else 1),
        }
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": metadata,
        "spec": job_spec,
    }


# --- flag parsing (pure) ----------------------------------------------------------------


def parse_list(flag: str, text: str) -> list[str]:
    """``[python, train.py]`` (the real CLI's form) or a shell-quoted string."""
    text = text.strip()
    if text.startswith("["):
        try:
            # BaseLoader keeps every scalar a string: true, yes, null and 010 stay as typed.
            value = yaml.load(text, Loader=yaml.BaseLoader)
        except yaml.YAMLError:
            value = None
        if not isinstance(value, list):
            raise InvalidJobSpec(
                f"--{flag}: {text!r} is not a list", f"write it as --{flag} '[python, train.py]'"
            )
        return [str(v) for v in value]
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise InvalidJobSpec(f"--{flag}: {exc}", "check the quotes") from exc


def parse_mapping(flag: str, values: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``'{"A": "1"}'`` (JSON or YAML mapping) or ``A=1`` / ``A=1,B=2``, repeatable."""
    out: dict[str, str] = {}
    for text in values:
        text = text.strip()
        if text.startswith("{"):
            try:
                value = yaml.load(text, Loader=yaml.BaseLoader)
            except yaml.YAMLError:
                value = None
            if not isinstance(value, dict):
                raise InvalidJobSpec(
                    f"--{flag}: {text!r} is not a mapping",
                    f'write it as --{flag} \'{{"KEY": "value"}}\'',
                )
            out.update({str(k): "" if v is None else str(v) for k, v in value.items()})
            continue
        for part in text.split(","):
            if not part.strip():
                continue
            key, sep, val = part.partition("=")
            if not sep or not key.strip():
                raise InvalidJobSpec(
                    f"--{flag}: {part!r} is not KEY=VALUE", f"write it as --{flag} KEY=VALUE"
                )
            out[key.strip()] = val
    return out


def parse_volume(text: str) -> Volume:
    """``name=data,type=hostPath,mount_path=/data,path=/srv/data`` or ``...,type=pvc,claim_name=c[,read_only=true]``."""
    fields = parse_mapping("volume", [text])
    unknown = set(fields) - {"name", "type", "mount_path", "path", "claim_name", "read_only"}
    if unknown:
        raise InvalidJobSpec(
            f"--volume: unknown key {sorted(unknown)[0]!r}",
            "keys: name, type, mount_path, path, claim_name, read_only",
        )
    for key in ("name", "type", "mount_path"):
        if not fields.get(key):
            raise InvalidJobSpec(
                f"--volume: {key}= is required",
                "e.g. --volume name=data,type=hostPath,mount_path=/data,path=/srv/data",
            )
    kind = {"hostpath": "hostPath", "pvc": "pvc"}.get(fields["type"].lower())
    if kind is None:
        raise InvalidJobSpec(f"--volume: type must be hostPath or pvc, got {fields['type']!r}")
    if not _DNS1123.match(fields["name"]):
        raise InvalidJobSpec(
            f"--volume: name {fields['name']!r} must be lowercase letters, digits and '-'"
        )
    if kind == "hostPath" and not fields.get("path"):
        raise InvalidJobSpec("--volume: a hostPath volume needs path=", "e.g. path=/srv/data")
    if kind == "pvc" and not fields.get("claim_name"):
        raise InvalidJobSpec("--volume: a pvc volume needs claim_name=")
    read_only = fields.get("read_only", "false").lower()
    if read_only not in ("true", "false"):
        raise InvalidJobSpec("--volume: read_only must be true or false")
    return Volume(
        name=fields["name"],
        type=kind,
        mount_path=fields["mount_path"],
        path=fields.get("path"),
        claim_name=fields.get("claim_name"),
        read_only=read_only == "true",
    )


def to_yaml(manifest: dict[str, Any]) -> str:
    return yaml.safe_dump(manifest, sort_keys=False, default_flow_style=False)
