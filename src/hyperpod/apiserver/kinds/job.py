"""batch/v1 Job: defaults (generated selector and labels), validation and kubectl's columns
(the controller is ``controllers/job.py``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from hyperpod.apiserver import errors, tables
from hyperpod.apiserver.kinds import Cause, Obj, Row, Strategy
from hyperpod.apiserver.kinds import columns as cols
from hyperpod.apiserver.kinds import podtemplates as pt
from hyperpod.apiserver.resources import ALL_VERBS, ResourceType

CONTROLLER_UID = "batch.kubernetes.io/controller-uid"
JOB_NAME = "batch.kubernetes.io/job-name"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
MAX_INT32 = 2**31 - 1
_IMMUTABLE = ("completions", "completionMode", "podFailurePolicy", "backoffLimitPerIndex")


def job_state(job: Obj) -> str:
    """kubectl's STATUS column: Complete, Failed, Suspended, Running, ..."""
    conds = {
        str(cols.d(c).get("type")): cols.d(c).get("status")
        for c in cols.d(job.get("status")).get("conditions") or []
    }
    for typ in ("Complete", "Failed", "FailureTarget", "SuccessCriteriaMet", "Suspended"):
        if conds.get(typ) == "True":
            return typ
    return "Running"


def _completions(job: Obj) -> str:
    spec, st = cols.d(job.get("spec")), cols.d(job.get("status"))
    done = st.get("succeeded", 0)
    if spec.get("completions") is not None:
        return f"{done}/{spec['completions']}"
    return f"{done}/1 of {spec.get('parallelism', 1)}"


def _duration(job: Obj, now: datetime) -> str:
    st = cols.d(job.get("status"))
    start = tables.parse_time(st.get("startTime"))
    if start is None:
        return ""
    end = tables.parse_time(st.get("completionTime")) or now
    return tables.human_age((end - start).total_seconds())


class JobStrategy(Strategy):
    def resource_type(self) -> ResourceType:
        return ResourceType(
            "batch", "v1", "Job", "jobs", "job", True, [], ["all"], list(ALL_VERBS), ["status"]
        )

    def default(self, obj: Obj) -> None:
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        if spec.get("completions") is None and spec.get("parallelism") is None:
            spec["completions"] = 1
        spec.setdefault("parallelism", 1)
        spec.setdefault(
            "backoffLimit", MAX_INT32 if spec.get("backoffLimitPerIndex") is not None else 6
        )
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
        spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
        pt.default_template(spec.get("template"), restart_policy="Never")

    def prepare_for_create(self, obj: Obj) -> None:
        obj.pop("status", None)
        spec = obj.get("spec")
        md = cols.d(obj.get("metadata"))
        if not isinstance(spec, dict) or spec.get("manualSelector"):
            return
        uid, name = str(md.get("uid") or ""), str(md.get("name") or "")
        spec["selector"] = {"matchLabels": {CONTROLLER_UID: uid}}
        template = spec.get("template")
        if isinstance(template, dict):
            tmd = template.setdefault("metadata", {})
            if isinstance(tmd, dict):
                labels = tmd.setdefault("labels", {})
                if isinstance(labels, dict):
                    labels.update(
                        {
                            CONTROLLER_UID: uid,
                            JOB_NAME: name,
                            "controller-uid": uid,
                            "job-name": name,
                        }
                    )

    def validate(self, obj: Obj, old: Obj | None) -> list[Cause]:
        spec = cols.d(obj.get("spec"))
        causes: list[Cause] = []
        for field in (
            "completions",
            "parallelism",
            "backoffLimit",
            "activeDeadlineSeconds",
            "ttlSecondsAfterFinished",
            "backoffLimitPerIndex",
            "maxFailedIndexes",
        ):
            causes += pt.non_negative(obj, "spec", field)
        mode = spec.get("completionMode")
        if mode not in ("NonIndexed", "Indexed"):
            causes.append(
                errors.cause(
                    "spec.completionMode",
                    f'Unsupported value: "{mode}": supported values: "NonIndexed", "Indexed"',
                    "FieldValueNotSupported",
                )
            )
        if spec.get("backoffLimitPerIndex") is not None and mode != "Indexed":
            causes.append(
                errors.cause(
                    "spec.backoffLimitPerIndex",
                    "Forbidden: requires indexed completion mode",
                    "FieldValueForbidden",
                )
            )
        if spec.get("maxFailedIndexes") is not None and spec.get("backoffLimitPerIndex") is None:
            causes.append(
                errors.cause(
                    "spec.maxFailedIndexes",
                    "Required value: when maxFailedIndexes is specified, backoffLimitPerIndex "
                    "must also be specified",
                    "FieldValueRequired",
                )
            )
        if mode == "Indexed" and spec.get("completions") is None:
            causes.append(
                errors.cause(
                    "spec.completions",
                    "Required value: when completion mode is Indexed",
                    "FieldValueRequired",
                )
            )
        causes += pt.validate_template(
            spec.get("template"), spec.get("selector"), restart_policies=("OnFailure", "Never")
        )
        if old is not None:
            ospec = cols.d(old.get("spec"))
            for field in (*_IMMUTABLE, "selector"):
                if spec.get(field) != ospec.get(field):
                    causes.append(
                        errors.cause(f"spec.{field}", "Invalid value: field is immutable")
                    )
            # Like Kubernetes: the template may change only while the job is suspended (Kueue
            # injects and restores scheduling directives in the update that flips suspend).
            suspended = ospec.get("suspend") or spec.get("suspend")
            if spec.get("template") != ospec.get("template") and not suspended:
                causes.append(
                    errors.cause(
                        "spec.template",
                        "Invalid value: field is immutable (unless the job is suspended)",
                    )
                )
        return causes

    def table(self) -> tuple[list[Obj], Row]:
        defs = [
            tables.NAME_COLUMN,
            tables.column("Status"),
            tables.column("Completions"),
            tables.column("Duration"),
            tables.AGE_COLUMN,
            tables.column("Containers", priority=1),
            tables.column("Images", priority=1),
            tables.column("Selector", priority=1),
        ]

        def row(obj: Obj, now: datetime) -> list[Any]:
            md = cols.d(obj.get("metadata"))
            return [
                md.get("name", ""),
                job_state(obj),
                _completions(obj),
                _duration(obj, now),
                tables.age(md.get("creationTimestamp"), now),
                cols.containers(obj),
                cols.images(obj),
                cols.selector(obj),
            ]

        return defs, row

    def selectable_fields(self) -> dict[str, Callable[[Obj], str]]:
        return {"status.successful": lambda o: str(cols.d(o.get("status")).get("succeeded", 0))}


STRATEGY = JobStrategy()
