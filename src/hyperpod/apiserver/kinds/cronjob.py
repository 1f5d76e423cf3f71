"""batch/v1 CronJob: defaults, validation (schedule, time zone, job template) and kubectl's
columns (controller: ``controllers/cronjob.py``)."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime

from hyperpod.api import cron
from hyperpod.apiserver import errors, tables
from hyperpod.apiserver.kinds import Cause, Obj, Row, Strategy
from hyperpod.apiserver.kinds import columns as cols
from hyperpod.apiserver.kinds import podtemplates as pt
from hyperpod.apiserver.resources import ALL_VERBS, ResourceType

POLICIES = ("Allow", "Forbid", "Replace")


class CronJobStrategy(Strategy):
    def resource_type(self) -> ResourceType:
        return ResourceType(
            "batch",
            "v1",
            "CronJob",
            "cronjobs",
            "cronjob",
            True,
            ["cj"],
            ["all"],
            list(ALL_VERBS),
            ["status"],
        )

    def default(self, obj: Obj) -> None:
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        spec.setdefault("concurrencyPolicy", "Allow")
        spec.setdefault("suspend", False)
        spec.setdefault("successfulJobsHistoryLimit", 3)
        spec.setdefault("failedJobsHistoryLimit", 1)
        job_spec = cols.d(cols.d(spec.get("jobTemplate")).get("spec"))
        if job_spec:
            pt.default_template(job_spec.get("template"), restart_policy="Never")

    def prepare_for_create(self, obj: Obj) -> None:
        obj.pop("status", None)

    def validate(self, obj: Obj, old: Obj | None) -> list[Cause]:
        spec = cols.d(obj.get("spec"))
        causes: list[Cause] = []
        schedule = spec.get("schedule")
        if not isinstance(schedule, str) or not schedule:
            causes.append(errors.cause("spec.schedule", "Required value", "FieldValueRequired"))
        else:
            try:
                cron.parse(schedule)
            except ValueError as exc:
                causes.append(errors.cause("spec.schedule", f'Invalid value: "{schedule}": {exc}'))
        tz = spec.get("timeZone")
        if tz is not None:
            try:
                zoneinfo.ZoneInfo(str(tz))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                causes.append(
                    errors.cause("spec.timeZone", f'Invalid value: "{tz}": unknown time zone {tz}')
                )
        policy = spec.get("concurrencyPolicy")
        if policy not in POLICIES:
            causes.append(
                errors.cause(
                    "spec.concurrencyPolicy",
                    f'Unsupported value: "{policy}": supported values: "Allow", "Forbid", "Replace"',
                    "FieldValueNotSupported",
                )
            )
        for field in (
            "startingDeadlineSeconds",
            "successfulJobsHistoryLimit",
            "failedJobsHistoryLimit",
        ):
            causes += pt.non_negative(obj, "spec", field)
        job_spec = cols.d(cols.d(spec.get("jobTemplate")).get("spec"))
        causes += [
            {**c, "field": "spec.jobTemplate." + c["field"]}
            for c in pt.validate_template(
                job_spec.get("template"),
                None,
                restart_policies=("OnFailure", "Never"),
                selector_required=False,
            )
        ]
        return causes

    def table(self) -> tuple[list[Obj], Row]:
        def last(o: Obj) -> str:
            value = cols.d(o.get("status")).get("lastScheduleTime")
            return tables.age(value, datetime.now(UTC)) if value else "<none>"

        return cols.name_age_table(
            [
                ("Schedule", "string", lambda o: cols.d(o.get("spec")).get("schedule", "")),
                ("Timezone", "string", lambda o: cols.d(o.get("spec")).get("timeZone") or "<none>"),
                ("Suspend", "boolean", lambda o: bool(cols.d(o.get("spec")).get("suspend"))),
                ("Active", "integer", lambda o: len(cols.d(o.get("status")).get("active") or [])),
                ("Last Schedule", "string", last),
            ]
        )


STRATEGY = CronJobStrategy()
