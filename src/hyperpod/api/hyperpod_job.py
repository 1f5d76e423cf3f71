"""HyperPod's own ``HyperPodPyTorchJob`` (sagemaker.amazonaws.com/v1): CRD, defaulting, validation.

Field names follow the public ``sagemaker-hyperpod`` SDK (3.12), which parses what the server
returns with ``extra="forbid"`` models: defaulting adds only fields that SDK knows, and the
operator writes only status fields it knows (conditions carry no ``lastUpdateTime``).
The structural schema is generated from the pydantic models below with the same generator as
the Kubeflow PyTorchJob (``hyperpod.api.pytorchjob``).
"""

from __future__ import annotations

import copy
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hyperpod.api.meta import cause
from hyperpod.api.pytorchjob import _structural as structural

GROUP = "sagemaker.amazonaws.com"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "HyperPodPyTorchJob"
PLURAL = "hyperpodpytorchjobs"
SINGULAR = "hyperpodpytorchjob"
SHORT_NAMES = ["hpjob"]
RESOURCE = f"{PLURAL}.{GROUP}"
STATUS_RESOURCE = f"{RESOURCE}/status"

# The label the real CLI and SDK find a job's pods by.
LABEL_JOB = "HPJob"
LABEL_REPLICA_SPEC = "sagemaker.amazonaws.com/replica-spec-name"
LABEL_NODE_RANK = "sagemaker.amazonaws.com/node-rank"
# The operator's own pod: namespace and label key the real CLI's get-operator-logs looks up.
OPERATOR_NAMESPACE = "aws-hyperpod"
OPERATOR_LABEL = "hp-training-control-plane"
# Local cluster: the master port the operator chose for this job (same key as PyTorchJob).
ANNOTATION_MASTER_PORT = "hyperpod.local/master-port"

NPROC_WORDS = ("auto", "cpu", "gpu")
CLEAN_POD_POLICIES = ("All", "Running", "None")
DEFAULT_CLEAN_POD_POLICY = "Running"
DEFAULT_MASTER_PORT = 23456
CONDITION_TYPES = ("Created", "Running", "Restarting", "Completed", "Failed", "Suspended")

_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_PRESERVE: dict[str, Any] = {"x-kubernetes-preserve-unknown-fields": True}
_INT_OR_STRING: dict[str, Any] = {"x-kubernetes-int-or-string": True}

CleanPodPolicy = Literal["All", "Running", "None"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReplicaSpec(_Model):
    name: str = Field(description="The name of this group of pods (e.g. pod, worker).")
    replicas: int | None = Field(None, description="Pods (nodes) in this group (default 1).")
    maxReplicas: int | None = Field(None, description="Upper bound for elastic scaling.")
    spares: int | None = Field(None, description="Extra ready pods that stand in for a failed one.")
    template: dict[str, Any] | None = Field(
        None, description="Pod template (a core/v1 PodTemplateSpec).", json_schema_extra=_PRESERVE
    )


class ElasticPolicy(_Model):
    minReplicas: int | None = None
    maxReplicas: int | None = None
    replicaIncrementStep: int | None = None
    replicaDiscreteValues: list[int] | None = None
    scalingTimeoutInSeconds: int | None = None
    gracefulShutdownTimeoutInSeconds: int | None = None
    faultyScaleDownTimeoutInSeconds: int | None = None


class LogMonitoringConfiguration(_Model):
    name: str = Field(description="Name of the rule.")
    logPattern: str = Field(description="Regular expression a progress log line matches.")
    stopPattern: str | None = Field(None, description="A line matching this ends monitoring.")
    expectedStartCutOffInSeconds: int | None = Field(
        None, description="The first matching line must appear within this many seconds."
    )
    expectedRecurringFrequencyInSeconds: int | None = Field(
        None, description="Matching lines must keep appearing at least this often."
    )
    metricThreshold: int | None = None
    operator: str | None = None
    metricEvaluationDataPoints: int | None = None


class RestartPolicy(_Model):
    evalPeriodSeconds: int = Field(description="The window restarts are counted in.")
    maxFullJobRestarts: int | None = None
    numRestartBeforeFullJobRestart: int | None = None
    maxNumRepeatOffendersToAvoid: int | None = None
    scaleUpSnoozeTimeInSeconds: int | None = None


class RunPolicy(_Model):
    activeDeadlineSeconds: int | None = None
    cleanPodPolicy: CleanPodPolicy | None = Field(
        None, description="Pods to delete when the job finishes: All, Running (default), None."
    )
    faultDeadlineSeconds: int | None = None
    jobMaxRetryCount: int | None = Field(None, description="Restarts allowed in all (default 0).")
    logMonitoringConfiguration: list[LogMonitoringConfiguration] | None = None
    restartPolicy: RestartPolicy | None = None
    startupDeadlineSeconds: int | None = None
    suspend: bool | None = None
    ttlSecondsAfterFinished: int | None = None
    workloadMode: str | None = None


class HyperPodPyTorchJobSpec(_Model):
    nprocPerNode: str | None = Field(
        None, description="Processes per pod: auto (default), cpu, gpu or a number."
    )
    replicaSpecs: list[ReplicaSpec] = Field(description="Named groups of pods.")
    runPolicy: RunPolicy | None = None
    elasticPolicy: ElasticPolicy | None = None


class Condition(_Model):
    type: str
    status: str
    reason: str | None = None
    message: str | None = None
    lastProbeTime: str | None = Field(None, json_schema_extra={"format": "date-time"})
    lastTransitionTime: str | None = Field(None, json_schema_extra={"format": "date-time"})


class ObjectRef(_Model):
    apiVersion: str | None = None
    fieldPath: str | None = None
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    resourceVersion: str | None = None
    uid: str | None = None


class RestartStatus(_Model):
    currentEvalPeriod: int = Field(description="Start of the current window (Unix seconds).")
    fullJobRestartCount: int = Field(description="Full-job restarts so far.")
    restartCount: int = Field(description="Restarts in the window since the last full restart.")


class FaultyPodInstanceList(_Model):
    restartType: str | None = None
    faultyInstanceIdList: list[str] | None = None
    faultyPodList: list[str] | None = None
    faultyRankList: list[str] | None = None


class HyperPodPyTorchJobStatus(_Model):
    conditions: list[Condition] | None = None
    startTime: str | None = Field(None, json_schema_extra={"format": "date-time"})
    completionTime: str | None = Field(None, json_schema_extra={"format": "date-time"})
    restartCount: int | None = None
    restartStatus: RestartStatus | None = None
    latestFaultyPodInstanceList: FaultyPodInstanceList | None = None
    masterAddr: str | None = None
    masterPort: str | None = None
    jobPods: list[ObjectRef] | None = None
    managerPods: ObjectRef | None = None
    podManagerStatuses: list[ObjectRef] | None = None
    podSets: list[dict[str, Any]] | None = Field(None, json_schema_extra={"items": _PRESERVE})
    podSetInfos: list[dict[str, Any]] | None = Field(None, json_schema_extra={"items": _PRESERVE})
    elasticScalingStatus: dict[str, Any] | None = Field(None, json_schema_extra=_PRESERVE)
    elasticWorkloadRef: dict[str, str] | None = None


def openapi_schema() -> dict[str, Any]:
    """The structural OpenAPI v3 schema of a HyperPodPyTorchJob object."""
    spec = HyperPodPyTorchJobSpec.model_json_schema()
    status = HyperPodPyTorchJobStatus.model_json_schema()
    spec_schema = structural(spec, spec.get("$defs", {}))
    spec_schema["required"] = ["replicaSpecs"]
    # Users write nprocPerNode: 2 as often as "2"; defaulting turns it into a string.
    spec_schema["properties"]["nprocPerNode"] = {
        "description": spec_schema["properties"]["nprocPerNode"].get("description", ""),
        **_INT_OR_STRING,
    }
    return {
        "type": "object",
        "description": "HyperPodPyTorchJob runs PyTorch training under HyperPod's operator.",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec_schema,
            "status": structural(status, status.get("$defs", {})),
        },
    }


def crd() -> dict[str, Any]:
    """The ``hyperpodpytorchjobs.sagemaker.amazonaws.com`` CustomResourceDefinition."""
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
                "shortNames": SHORT_NAMES,
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": openapi_schema()},
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {
                            "name": "State",
                            "type": "string",
                            "jsonPath": ".status.conditions[-1:].type",
                        },
                        {"name": "Restarts", "type": "integer", "jsonPath": ".status.restartCount"},
                        {"name": "Master", "type": "string", "jsonPath": ".status.masterAddr"},
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


def default(obj: dict[str, Any]) -> None:
    """Fill in defaults (in place), only with fields the SDK's models know."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    nproc = spec.get("nprocPerNode")
    if nproc is None:
        spec["nprocPerNode"] = "auto"
    elif isinstance(nproc, int) and not isinstance(nproc, bool):
        spec["nprocPerNode"] = str(nproc)
    for replica in spec.get("replicaSpecs") or []:
        if isinstance(replica, dict) and replica.get("replicas") in (None, 0):
            replica["replicas"] = 1
    run_policy = spec.setdefault("runPolicy", {})
    if isinstance(run_policy, dict):
        run_policy.setdefault("cleanPodPolicy", DEFAULT_CLEAN_POD_POLICY)
        run_policy.setdefault("suspend", False)


# --- validation ---------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _invalid(field: str, value: Any, message: str) -> dict[str, str]:
    shown = f'"{value}"' if isinstance(value, str) else value
    return cause(field, f"Invalid value: {shown}: {message}")


def _required(field: str, message: str) -> dict[str, str]:
    return cause(field, f"Required value: {message}", reason="FieldValueRequired")


def validate(obj: dict[str, Any], old: dict[str, Any] | None) -> list[dict[str, str]]:
    """Every reason to refuse this job; [] when it is fine."""
    causes: list[dict[str, str]] = []
    name = (obj.get("metadata") or {}).get("name")
    if name and (len(name) > 63 or not _DNS1035.match(name)):
        causes.append(
            _invalid("metadata.name", name, "must be a lowercase RFC 1035 label (e.g. my-job)")
        )
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [*causes, _required("spec", "a HyperPodPyTorchJob needs a spec")]
    replicas = spec.get("replicaSpecs")
    if not isinstance(replicas, list) or not replicas:
        causes.append(_required("spec.replicaSpecs", "at least one named group of pods"))
        replicas = []
    seen: set[str] = set()
    for index, replica in enumerate(replicas):
        causes.extend(_validate_replica(index, replica, seen))
    nproc = spec.get("nprocPerNode")
    if nproc is not None and not (
        isinstance(nproc, str) and (nproc in NPROC_WORDS or (nproc.isdigit() and nproc != "0"))
    ):
        causes.append(
            _invalid("spec.nprocPerNode", nproc, "must be auto, cpu, gpu or a positive integer")
        )
    causes.extend(_validate_run_policy(spec.get("runPolicy")))
    return causes


def _validate_replica(index: int, replica: Any, seen: set[str]) -> list[dict[str, str]]:
    path = f"spec.replicaSpecs[{index}]"
    if not isinstance(replica, dict):
        return [_required(path, "a replica spec with a name and a pod template")]
    causes: list[dict[str, str]] = []
    name = replica.get("name")
    if not isinstance(name, str) or not _DNS1035.match(name):
        causes.append(_invalid(f"{path}.name", name, "must be a lowercase RFC 1035 label"))
    elif name in seen:
        causes.append(
            cause(f"{path}.name", f'Duplicate value: "{name}"', reason="FieldValueDuplicate")
        )
    else:
        seen.add(name)
    for field in ("replicas", "spares", "maxReplicas"):
        value = replica.get(field)
        if value is not None and (not _is_int(value) or value < 0):
            causes.append(_invalid(f"{path}.{field}", value, "must be a non-negative integer"))
    containers = ((replica.get("template") or {}).get("spec") or {}).get("containers")
    if not isinstance(containers, list) or not containers:
        causes.append(_required(f"{path}.template.spec.containers", "at least one container"))
    return causes


def _validate_run_policy(run_policy: Any) -> list[dict[str, str]]:
    path = "spec.runPolicy"
    if run_policy is None:
        return []
    if not isinstance(run_policy, dict):
        return [_invalid(path, run_policy, "must be an object")]
    causes: list[dict[str, str]] = []
    for field in (
        "activeDeadlineSeconds",
        "ttlSecondsAfterFinished",
        "jobMaxRetryCount",
        "faultDeadlineSeconds",
        "startupDeadlineSeconds",
    ):
        value = run_policy.get(field)
        if value is not None and (not _is_int(value) or value < 0):
            causes.append(_invalid(f"{path}.{field}", value, "must be a non-negative integer"))
    restart = run_policy.get("restartPolicy")
    if isinstance(restart, dict):
        period: Any = restart.get("evalPeriodSeconds")
        if not _is_int(period) or period < 1:
            causes.append(
                _invalid(f"{path}.restartPolicy.evalPeriodSeconds", period, "must be at least 1")
            )
    for index, rule in enumerate(run_policy.get("logMonitoringConfiguration") or []):
        pattern = rule.get("logPattern") if isinstance(rule, dict) else None
        try:
            re.compile(str(pattern))
        except re.error as err:
            causes.append(
                _invalid(
                    f"{path}.logMonitoringConfiguration[{index}].logPattern",
                    pattern,
                    f"not a regular expression: {err}",
                )
            )
    return causes


def defaulted(obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    default(out)
    return out
