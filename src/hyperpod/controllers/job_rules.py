"""Pure decisions of the Job controller: counting finished pods, completion indexes,
pod failure policy, and what to create next."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from hyperpod.apiserver.kinds.job import COMPLETION_INDEX
from hyperpod.controllers.workloads import d

Obj = dict[str, Any]


def index_of(pod: Obj) -> int | None:
    md = d(pod.get("metadata"))
    raw = d(md.get("annotations")).get(COMPLETION_INDEX) or d(md.get("labels")).get(
        COMPLETION_INDEX
    )
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def parse_indexes(text: str | None) -> set[int]:
    """``"1,3-5"`` -> {1, 3, 4, 5} (the form of ``status.completedIndexes``)."""
    out: set[int] = set()
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def format_indexes(indexes: set[int]) -> str:
    """{1, 3, 4, 5} -> ``"1,3-5"``."""
    out: list[str] = []
    run: list[int] = []
    for i in sorted(indexes):
        if run and i == run[-1] + 1:
            run.append(i)
            continue
        if run:
            out.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
        run = [i]
    if run:
        out.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
    return ",".join(out)


def _exit_codes(pod: Obj, container: str | None) -> list[int]:
    codes = []
    for cs in d(pod.get("status")).get("containerStatuses") or []:
        cs = d(cs)
        if container and cs.get("name") != container:
            continue
        term = d(d(cs.get("state")).get("terminated"))
        if "exitCode" in term:
            codes.append(int(term["exitCode"]))
    return codes


def failure_action(job: Obj, pod: Obj) -> str:
    """What the pod failure policy says about a failed pod: FailJob, Ignore, FailIndex or Count."""
    policy = d(d(job.get("spec")).get("podFailurePolicy"))
    for rule in policy.get("rules") or []:
        rule = d(rule)
        on_codes = d(rule.get("onExitCodes"))
        if on_codes:
            codes = [c for c in _exit_codes(pod, on_codes.get("containerName")) if c != 0]
            values = set(on_codes.get("values") or [])
            if on_codes.get("operator") == "In" and any(c in values for c in codes):
                return str(rule.get("action"))
            if on_codes.get("operator") == "NotIn" and any(c not in values for c in codes):
                return str(rule.get("action"))
        for pattern in rule.get("onPodConditions") or []:
            pattern = d(pattern)
            for c in d(pod.get("status")).get("conditions") or []:
                c = d(c)
                if c.get("type") == pattern.get("type") and c.get("status") == pattern.get(
                    "status", "True"
                ):
                    return str(rule.get("action"))
    return "Count"


def restarts(pod: Obj) -> int:
    return sum(
        int(d(cs).get("restartCount") or 0)
        for cs in d(pod.get("status")).get("containerStatuses") or []
    )


def count_failures(job: Obj, failed_pods: list[Obj]) -> tuple[str, str, int]:
    """(reason, message) when a FailJob rule matched, and the failures that count."""
    reason = message = ""
    counted = 0
    for pod in failed_pods:
        action = failure_action(job, pod)
        if action == "FailJob" and not reason:
            reason = "PodFailurePolicy"
            message = (
                f"Container of pod {d(pod.get('metadata')).get('name')} matched a FailJob rule "
                "of the pod failure policy"
            )
        if action != "Ignore":
            counted += 1
    return reason, message, counted


def failed_indexes(job: Obj, failed_pods: list[Obj]) -> set[int]:
    """Indexes that failed more than ``backoffLimitPerIndex`` times (or matched FailIndex)."""
    limit = d(job.get("spec")).get("backoffLimitPerIndex")
    if limit is None:
        return set()
    counts: Counter[int] = Counter()
    out: set[int] = set()
    for pod in failed_pods:
        index = index_of(pod)
        action = failure_action(job, pod)
        if index is None or action == "Ignore":
            continue
        counts[index] += 1
        if action == "FailIndex" or counts[index] > int(limit):
            out.add(index)
    return out


def job_failure(
    job: Obj, status: Obj, failed_idx: set[int], restarts: int, running_for: timedelta
) -> tuple[str, str]:
    """Why the job fails now (backoff limit, too many failed indexes, deadline), or ("", "")."""
    spec = d(job.get("spec"))
    if spec.get("backoffLimitPerIndex") is None:
        if int(status.get("failed") or 0) + restarts > int(spec.get("backoffLimit", 6)):
            return "BackoffLimitExceeded", "Job has reached the specified backoff limit"
    elif spec.get("maxFailedIndexes") is not None and len(failed_idx) > int(
        spec["maxFailedIndexes"]
    ):
        return (
            "MaxFailedIndexesExceeded",
            "Job has exceeded the specified maximal number of failed indexes",
        )
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and running_for.total_seconds() >= int(deadline):
        return "DeadlineExceeded", "Job was active longer than specified deadline"
    return "", ""
