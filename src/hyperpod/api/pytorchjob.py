"""The Kubeflow ``PyTorchJob`` (kubeflow.org/v1): CRD, admission defaulting and validation.

The CRD's OpenAPI schema is generated from the pydantic models below (pod templates are kept
as ``x-kubernetes-preserve-unknown-fields``: they are validated as pods when pods are created).
``default`` and ``validate`` reimplement the upstream training-operator webhook (v1.9).
Label and annotation names shared with the operator live here too.
"""

from __future__ import annotations

import copy
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hyperpod.api.meta import cause

GROUP = "kubeflow.org"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "PyTorchJob"
PLURAL = "pytorchjobs"
SINGULAR = "pytorchjob"
RESOURCE = f"{PLURAL}.{GROUP}"
STATUS_RESOURCE = f"{RESOURCE}/status"

MASTER = "Master"
WORKER = "Worker"
REPLICA_TYPES = (MASTER, WORKER)

CONTAINER_NAME = "pytorch"
PORT_NAME = "pytorchjob-port"
DEFAULT_PORT = 23456

RESTART_POLICIES = ("Always", "OnFailure", "Never", "ExitCode")
DEFAULT_RESTART_POLICY = "OnFailure"
CLEAN_POD_POLICIES = ("All", "Running", "None")
DEFAULT_CLEAN_POD_POLICY = "None"
RDZV_BACKENDS = ("c10d", "etcd", "etcd-v2")
NPROC_WORDS = ("auto", "cpu", "gpu")
DEFAULT_NPROC_PER_NODE = "auto"

OPERATOR_NAME = "pytorchjob-controller"
MANAGED_BY_OPERATOR = "kubeflow.org/training-operator"
MANAGED_BY_MULTIKUEUE = "kueue.x-k8s.io/multikueue"
MANAGED_BY_US = (MANAGED_BY_OPERATOR, MANAGED_BY_MULTIKUEUE)

LABEL_OPERATOR_NAME = "training.kubeflow.org/operator-name"
LABEL_JOB_NAME = "training.kubeflow.org/job-name"
LABEL_REPLICA_TYPE = "training.kubeflow.org/replica-type"
LABEL_REPLICA_INDEX = "training.kubeflow.org/replica-index"
LABEL_JOB_ROLE = "training.kubeflow.org/job-role"

# HyperPod job auto-resume (set by users on the PyTorchJob).
ANNOTATION_AUTO_RESUME = "sagemaker.amazonaws.com/enable-job-auto-resume"
ANNOTATION_MAX_RETRY = "sagemaker.amazonaws.com/job-max-retry-count"
# Local cluster: the master port the operator chose for this job (see docs/internals.md).
ANNOTATION_MASTER_PORT = "hyperpod.local/master-port"

CONDITION_TYPES = ("Created", "Running", "Restarting", "Succeeded", "Failed", "Suspended")

_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_MESSAGE = (
    "a lowercase RFC 1035 label must consist of lower case alphanumeric characters or '-', "
    "start with an alphabetic character, and end with an alphanumeric character "
    "(e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)

_PRESERVE: dict[str, Any] = {"x-kubernetes-preserve-unknown-fields": True}
_INT_OR_STRING: dict[str, Any] = {"x-kubernetes-int-or-string": True}

RestartPolicy = Literal["Always", "OnFailure", "Never", "ExitCode"]
CleanPodPolicy = Literal["All", "Running", "None"]
RdzvBackend = Literal["c10d", "etcd", "etcd-v2"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReplicaSpec(_Model):
    """One replica type (Master or Worker)."""

    replicas: int | None = Field(None, description="Number of pods of this type (default 1).")
    template: dict[str, Any] | None = Field(
        None, description="Pod template (a core/v1 PodTemplateSpec).", json_schema_extra=_PRESERVE
    )
    restartPolicy: RestartPolicy | None = Field(
        None, description="Always, OnFailure (default), Never or ExitCode."
    )


class SchedulingPolicy(_Model):
    minAvailable: int | None = None
    queue: str | None = None
    minResources: dict[str, int | str] | None = None
    priorityClass: str | None = None
    scheduleTimeoutSeconds: int | None = None


class RunPolicy(_Model):
    cleanPodPolicy: CleanPodPolicy | None = Field(
        None, description="Pods to delete when the job finishes: All, Running or None (default)."
    )
    ttlSecondsAfterFinished: int | None = None
    activeDeadlineSeconds: int | None = None
    backoffLimit: int | None = None
    schedulingPolicy: SchedulingPolicy | None = None
    suspend: bool | None = None
    managedBy: str | None = None


class RdzvConf(_Model):
    key: str | None = None
    value: str | None = None


class ElasticPolicy(_Model):
    minReplicas: int | None = None
    maxReplicas: int | None = None
    rdzvBackend: RdzvBackend | None = None
    rdzvPort: int | None = None
    rdzvHost: str | None = None
    rdzvId: str | None = None
    rdzvConf: list[RdzvConf] | None = None
    standalone: bool | None = None
    nProcPerNode: int | None = None
    maxRestarts: int | None = None
    metrics: list[dict[str, Any]] | None = Field(None, json_schema_extra={"items": _PRESERVE})


class PyTorchJobSpec(_Model):
    runPolicy: RunPolicy | None = None
    elasticPolicy: ElasticPolicy | None = None
    pytorchReplicaSpecs: dict[str, ReplicaSpec] = Field(
        description="Replica types (Master, Worker) and their pod templates."
    )
    nprocPerNode: str | None = Field(
        None, description="Processes per pod for torchrun: auto (default), cpu, gpu or a number."
    )


class JobCondition(_Model):
    type: str
    status: str
    reason: str | None = None
    message: str | None = None
    lastUpdateTime: str | None = Field(None, json_schema_extra={"format": "date-time"})
    lastTransitionTime: str | None = Field(None, json_schema_extra={"format": "date-time"})


class ReplicaStatus(_Model):
    active: int | None = None
    succeeded: int | None = None
    failed: int | None = None
    selector: str | None = None
    labelSelector: dict[str, Any] | None = Field(None, json_schema_extra=_PRESERVE)


class JobProgress(_Model):
    """What the rank-0 container reported with hyperpod.progress (see docs/observability.md)."""

    percent: float | None = None
    step: int | None = None
    totalSteps: int | None = None
    etaSeconds: float | None = None  # two significant figures
    metrics: dict[str, str] | None = None
    updateTime: str | None = Field(None, json_schema_extra={"format": "date-time"})


class PyTorchJobStatus(_Model):
    conditions: list[JobCondition] | None = None
    replicaStatuses: dict[str, ReplicaStatus] | None = None
    startTime: str | None = Field(None, json_schema_extra={"format": "date-time"})
    completionTime: str | None = Field(None, json_schema_extra={"format": "date-time"})
    lastReconcileTime: str | None = Field(None, json_schema_extra={"format": "date-time"})
    restartCount: int | None = Field(
        None, description="HyperPod auto-resume: whole-job restarts done so far."
    )
    progress: JobProgress | None = None


# --- schema generation --------------------------------------------------------------------


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    """Turn pydantic's JSON schema into a Kubernetes structural schema (no refs, no nulls)."""
    if isinstance(node, list):
        return [_structural(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _structural(merged, defs)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        rest = {k: v for k, v in node.items() if k not in ("anyOf", "default")}
        types = {o.get("type") for o in options}
        if types == {"integer", "string"}:
            return {**_structural(rest, defs), **_INT_OR_STRING}
        if len(options) == 1:
            return _structural({**options[0], **rest}, defs)
        raise ValueError(f"cannot express {node} as a structural schema")
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("title", "default", "$defs", "additionalProperties") and not (
            key == "additionalProperties" and isinstance(value, dict)
        ):
            continue
        if key == "properties":
            out[key] = {name: _structural(sub, defs) for name, sub in value.items()}
        else:
            out[key] = _structural(value, defs)
    if out.get("x-kubernetes-preserve-unknown-fields") and "type" not in out:
        out["type"] = "object"
    if "enum" in out:
        out["type"] = "string"
    return out


def openapi_schema() -> dict[str, Any]:
    """The structural OpenAPI v3 schema of a PyTorchJob object."""
    spec = PyTorchJobSpec.model_json_schema()
    status = PyTorchJobStatus.model_json_schema()
    spec_schema = _structural(spec, spec.get("$defs", {}))
    spec_schema["required"] = ["pytorchReplicaSpecs"]
    return {
        "type": "object",
        "description": "PyTorchJob runs distributed PyTorch training (Kubeflow training operator v1).",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec_schema,
            "status": _structural(status, status.get("$defs", {})),
        },
    }


def crd() -> dict[str, Any]:
    """The ``pytorchjobs.kubeflow.org`` CustomResourceDefinition (like upstream v1.9)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": RESOURCE},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": openapi_schema()},
                    "subresources": {
                        "status": {},
                        "scale": {
                            "specReplicasPath": ".spec.pytorchReplicaSpecs.Worker.replicas",
                            "statusReplicasPath": ".status.replicaStatuses.Worker.active",
                            "labelSelectorPath": ".status.replicaStatuses.Worker.selector",
                        },
                    },
                    "additionalPrinterColumns": [
                        {
                            "name": "State",
                            "type": "string",
                            "jsonPath": ".status.conditions[-1:].type",
                        },
                        {
                            "name": "Age",
                            "type": "date",
                            "jsonPath": ".metadata.creationTimestamp",
                        },
                    ],
                }
            ],
        },
    }


def crds() -> list[dict[str, Any]]:
    return [crd()]


# --- defaulting ---------------------------------------------------------------------------


def _as_dict(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def _containers(replica: dict[str, Any]) -> list[Any]:
    template = _as_dict(replica.get("template")) or {}
    pod_spec = _as_dict(template.get("spec")) or {}
    containers = pod_spec.get("containers")
    return containers if isinstance(containers, list) else []


def default(obj: dict[str, Any]) -> None:
    """Fill in what the upstream defaulting webhook fills in (in place)."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    replicas = spec.get("pytorchReplicaSpecs")
    if isinstance(replicas, dict):
        normalised: dict[str, Any] = {}
        for key, value in replicas.items():
            canonical = next((t for t in REPLICA_TYPES if t.lower() == str(key).lower()), key)
            normalised[canonical] = value
        spec["pytorchReplicaSpecs"] = normalised
        for replica in normalised.values():
            if not isinstance(replica, dict):
                continue
            replica.setdefault("replicas", 1)
            if not replica.get("restartPolicy"):
                replica["restartPolicy"] = DEFAULT_RESTART_POLICY
            for container in _containers(replica):
                if isinstance(container, dict) and container.get("name") == CONTAINER_NAME:
                    _default_port(container)
    run_policy = spec.setdefault("runPolicy", {})
    if isinstance(run_policy, dict):
        if not run_policy.get("cleanPodPolicy"):
            run_policy["cleanPodPolicy"] = DEFAULT_CLEAN_POD_POLICY
        run_policy.setdefault("suspend", False)
        if not run_policy.get("managedBy"):
            run_policy["managedBy"] = MANAGED_BY_OPERATOR
    elastic = spec.get("elasticPolicy")
    if isinstance(elastic, dict):
        low, high = elastic.get("minReplicas"), elastic.get("maxReplicas")
        if low is None and high is not None:
            elastic["minReplicas"] = high
        elif high is None and low is not None:
            elastic["maxReplicas"] = low
        elif low is None and high is None and isinstance(replicas, dict):
            worker = _as_dict(spec["pytorchReplicaSpecs"].get(WORKER))
            if worker is not None and isinstance(worker.get("replicas"), int):
                elastic["minReplicas"] = elastic["maxReplicas"] = worker["replicas"]
    if spec.get("nprocPerNode") is None and not (
        isinstance(elastic, dict) and elastic.get("nProcPerNode") is not None
    ):
        spec["nprocPerNode"] = DEFAULT_NPROC_PER_NODE


def _default_port(container: dict[str, Any]) -> None:
    ports = container.get("ports")
    if not isinstance(ports, list):
        ports = container["ports"] = []
    if not any(isinstance(p, dict) and p.get("name") == PORT_NAME for p in ports):
        ports.append({"name": PORT_NAME, "containerPort": DEFAULT_PORT, "protocol": "TCP"})


# --- validation ---------------------------------------------------------------------------


def _invalid(field: str, value: Any, message: str) -> dict[str, str]:
    shown = f'"{value}"' if isinstance(value, str) else ("null" if value is None else value)
    return cause(field, f"Invalid value: {shown}: {message}")


def _unsupported(field: str, value: Any, allowed: tuple[str, ...]) -> dict[str, str]:
    choices = ", ".join(f'"{a}"' for a in allowed)
    return cause(
        field,
        f'Unsupported value: "{value}": supported values: {choices}',
        reason="FieldValueNotSupported",
    )


def _required(field: str, message: str) -> dict[str, str]:
    return cause(field, f"Required value: {message}", reason="FieldValueRequired")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate(obj: dict[str, Any], old: dict[str, Any] | None) -> list[dict[str, str]]:
    """Every reason the upstream webhook would reject this job; [] when it is fine."""
    causes: list[dict[str, str]] = []
    name = (obj.get("metadata") or {}).get("name")
    if name and (len(name) > 63 or not _DNS1035.match(name)):
        causes.append(_invalid("metadata.name", name, _DNS1035_MESSAGE))
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [*causes, _required("spec", "a PyTorchJob needs a spec")]
    replicas = spec.get("pytorchReplicaSpecs")
    if not isinstance(replicas, dict) or not replicas:
        causes.append(
            _required("spec.pytorchReplicaSpecs", "at least one replica type (Master or Worker)")
        )
        replicas = {}
    for rtype, replica in replicas.items():
        causes.extend(_validate_replica(str(rtype), replica))
    elastic = spec.get("elasticPolicy")
    if elastic is not None:
        causes.extend(_validate_elastic(spec, elastic, replicas))
    nproc = spec.get("nprocPerNode")
    if nproc is not None and not (
        isinstance(nproc, str) and (nproc in NPROC_WORDS or nproc.isdigit()) and nproc != "0"
    ):
        causes.append(
            _invalid("spec.nprocPerNode", nproc, "must be auto, cpu, gpu or a positive integer")
        )
    causes.extend(_validate_run_policy(spec.get("runPolicy"), old))
    causes.extend(_validate_annotations(obj))
    return causes


def _validate_replica(rtype: str, replica: Any) -> list[dict[str, str]]:
    path = f"spec.pytorchReplicaSpecs.{rtype}"
    if rtype not in REPLICA_TYPES:
        return [_unsupported("spec.pytorchReplicaSpecs", rtype, REPLICA_TYPES)]
    if not isinstance(replica, dict):
        return [_required(path, "a replica spec with a pod template")]
    causes: list[dict[str, str]] = []
    count = replica.get("replicas", 1)
    if not _is_int(count):
        causes.append(_invalid(f"{path}.replicas", count, "must be an integer"))
    elif count > 2**31 - 1:  # replicas is an int32, as upstream
        causes.append(_invalid(f"{path}.replicas", count, "must be at most 2147483647"))
    elif rtype == MASTER and count != 1:
        causes.append(_invalid(f"{path}.replicas", count, "must be 1"))
    elif rtype == WORKER and count < 1:
        causes.append(_invalid(f"{path}.replicas", count, "must be at least 1"))
    policy = replica.get("restartPolicy")
    if policy is not None and policy not in RESTART_POLICIES:
        causes.append(_unsupported(f"{path}.restartPolicy", policy, RESTART_POLICIES))
    containers = _containers(replica)
    if not containers:
        causes.append(
            _required(f"{path}.template.spec.containers", "must have at least one container")
        )
        return causes
    has_pytorch = False
    for index, container in enumerate(containers):
        field = f"{path}.template.spec.containers[{index}]"
        if not isinstance(container, dict):
            causes.append(_invalid(field, container, "must be an object"))
            continue
        if container.get("name") == CONTAINER_NAME:
            has_pytorch = True
        if not container.get("image"):
            causes.append(_required(f"{field}.image", "must be set"))
    if not has_pytorch:
        causes.append(
            _required(
                f"{path}.template.spec.containers",
                f'one container must be named "{CONTAINER_NAME}"',
            )
        )
    return causes


def _validate_elastic(
    spec: dict[str, Any], elastic: Any, replicas: dict[str, Any]
) -> list[dict[str, str]]:
    path = "spec.elasticPolicy"
    if not isinstance(elastic, dict):
        return [_invalid(path, elastic, "must be an object")]
    causes: list[dict[str, str]] = []
    if WORKER not in replicas:
        causes.append(
            _required(
                f"spec.pytorchReplicaSpecs.{WORKER}", "must be set when elasticPolicy is used"
            )
        )
    low: Any = elastic.get("minReplicas")
    high: Any = elastic.get("maxReplicas")
    for field, value in (("minReplicas", low), ("maxReplicas", high)):
        if value is not None and (not _is_int(value) or value < 1):
            causes.append(_invalid(f"{path}.{field}", value, "must be a positive integer"))
    if _is_int(low) and _is_int(high) and low > high:
        causes.append(_invalid(f"{path}.minReplicas", low, "must not exceed maxReplicas"))
    backend = elastic.get("rdzvBackend")
    if backend is not None and backend not in RDZV_BACKENDS:
        causes.append(_unsupported(f"{path}.rdzvBackend", backend, RDZV_BACKENDS))
    port = elastic.get("rdzvPort")
    if port is not None and (not _is_int(port) or not 0 < port < 65536):
        causes.append(_invalid(f"{path}.rdzvPort", port, "must be between 1 and 65535"))
    if elastic.get("nProcPerNode") is not None and spec.get("nprocPerNode") is not None:
        causes.append(
            _invalid(
                "spec.nprocPerNode",
                spec["nprocPerNode"],
                "must not be used with elasticPolicy.nProcPerNode (deprecated); set only one",
            )
        )
    return causes


def _validate_run_policy(run_policy: Any, old: dict[str, Any] | None) -> list[dict[str, str]]:
    path = "spec.runPolicy"
    if run_policy is None:
        return []
    if not isinstance(run_policy, dict):
        return [_invalid(path, run_policy, "must be an object")]
    causes: list[dict[str, str]] = []
    clean = run_policy.get("cleanPodPolicy")
    if clean is not None and clean not in CLEAN_POD_POLICIES:
        causes.append(_unsupported(f"{path}.cleanPodPolicy", clean, CLEAN_POD_POLICIES))
    for field in ("ttlSecondsAfterFinished", "activeDeadlineSeconds", "backoffLimit"):
        value = run_policy.get(field)
        if value is not None and (not _is_int(value) or value < 0):
            causes.append(_invalid(f"{path}.{field}", value, "must be greater than or equal to 0"))
    if old is not None:
        before = ((old.get("spec") or {}).get("runPolicy") or {}).get("managedBy")
        if before != run_policy.get("managedBy"):
            causes.append(
                _invalid(f"{path}.managedBy", run_policy.get("managedBy"), "field is immutable")
            )
    return causes


def _validate_annotations(obj: dict[str, Any]) -> list[dict[str, str]]:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    causes: list[dict[str, str]] = []
    enabled = annotations.get(ANNOTATION_AUTO_RESUME)
    if enabled is not None and enabled not in ("true", "false"):
        causes.append(
            _invalid(
                f"metadata.annotations[{ANNOTATION_AUTO_RESUME}]",
                enabled,
                'must be "true" or "false"',
            )
        )
    retries = annotations.get(ANNOTATION_MAX_RETRY)
    if retries is not None and not (isinstance(retries, str) and retries.isdigit()):
        causes.append(
            _invalid(
                f"metadata.annotations[{ANNOTATION_MAX_RETRY}]",
                retries,
                "must be a non-negative integer",
            )
        )
    return causes


# --- helpers shared with the operator -----------------------------------------------------


def defaulted(obj: dict[str, Any]) -> dict[str, Any]:
    """A defaulted deep copy (for dry runs and tests)."""
    out = copy.deepcopy(obj)
    default(out)
    return out
