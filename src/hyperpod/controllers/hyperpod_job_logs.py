"""Log monitoring for HyperPodPyTorchJobs: ``runPolicy.logMonitoringConfiguration`` rules.

Each rule names a ``logPattern`` that a healthy job keeps printing (for example a loss line).
For every running pod the monitor reads the tail of the current container's log (through the
kubelet's log reader, the same one ``kubectl logs`` uses) and reports a fault when no line has
matched within ``expectedStartCutOffInSeconds`` of the container's start (never started) or for
longer than ``expectedRecurringFrequencyInSeconds`` (hanging). A line matching ``stopPattern``
ends monitoring of that pod. A rule with ``metricThreshold`` and ``operator`` (gt, lt, eq,
gteq, lteq) reads a number from the pattern's first capturing group on each matching line; when
the last ``metricEvaluationDataPoints`` (default 1) values all compare true against the
threshold, the job is declared slow (``JobSlow``) and restarted like a hanging one.
"""

from __future__ import annotations

import operator as op
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from hyperpod.apiserver.errors import ApiError
from hyperpod.controllers.hyperpod_job_rules import Fault, run_policy
from hyperpod.controllers.pytorchjob_rules import parse_time, phase

Obj = dict[str, Any]
TAIL_LINES = 2000
LogReader = Callable[..., Any]
COMPARE: dict[str, Callable[[float, float], bool]] = {
    "gt": op.gt,
    "lt": op.lt,
    "eq": op.eq,
    "gteq": op.ge,
    "lteq": op.le,
}


def _slow(rule: Obj, pattern: re.Pattern[str], lines: list[tuple[float, str]]) -> str | None:
    """Why the rule's metric says the job is slow, or None."""
    threshold = rule.get("metricThreshold")
    compare = COMPARE.get(str(rule.get("operator") or "").lower())
    if not isinstance(threshold, int) or compare is None or pattern.groups < 1:
        return None
    points = rule.get("metricEvaluationDataPoints")
    points = points if isinstance(points, int) and points > 0 else 1
    values: list[float] = []
    for _, text in lines:
        found = pattern.search(text)
        if found is None or found.group(1) is None:
            continue
        try:
            values.append(float(found.group(1)))
        except ValueError:
            continue
    recent = values[-points:]
    if len(recent) < points or not all(compare(v, threshold) for v in recent):
        return None
    shown = ", ".join(f"{v:g}" for v in recent)
    return (
        f"the last {points} value(s) of {pattern.pattern!r} ({shown}) are "
        f"{rule.get('operator')} {threshold}"
    )


def _started_at(pod: Obj) -> tuple[str, datetime] | None:
    """(container name, start time) of the pod's first container while it runs."""
    containers = (pod.get("spec") or {}).get("containers") or []
    if not containers:
        return None
    name = containers[0].get("name", "")
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        if cs.get("name") == name:
            running = (cs.get("state") or {}).get("running") or {}
            started = parse_time(running.get("startedAt"))
            return (name, started) if started is not None else None
    return None


def _parse(chunk: bytes) -> list[tuple[float, str]]:
    out = []
    for line in chunk.decode(errors="replace").splitlines():
        stamp, _, text = line.partition(" ")
        moment = parse_time(stamp)
        if moment is not None:
            out.append((moment.timestamp(), text))
    return out


def check_rules(
    rules_: list[Obj], pod_name: str, lines: list[tuple[float, str]], started: float, now: float
) -> Fault | None:
    """The first rule this pod's log breaks, as a Fault; None when all hold."""
    for rule in rules_:
        pattern = re.compile(str(rule.get("logPattern") or ""))
        stop = rule.get("stopPattern")
        if stop and any(re.search(str(stop), text) for _, text in lines):
            continue
        matches = [ts for ts, text in lines if ts >= started - 1 and pattern.search(text)]
        label = f"log monitoring rule {rule.get('name')!r}"
        cut = rule.get("expectedStartCutOffInSeconds")
        every = rule.get("expectedRecurringFrequencyInSeconds")
        if not matches:
            if isinstance(cut, int) and now - started > cut:
                return Fault(
                    pod_name,
                    "JobStartTimeout",
                    f"{label}: no line matched {pattern.pattern!r} within {cut}s of start",
                )
            continue
        slow = _slow(rule, pattern, [(ts, t) for ts, t in lines if ts >= started - 1])
        if slow is not None:
            return Fault(pod_name, "JobSlow", f"{label}: {slow}")
        quiet = now - max(matches)
        if isinstance(every, int) and quiet > every:
            return Fault(
                pod_name,
                "JobHanging",
                f"{label}: no line matched {pattern.pattern!r} for {int(quiet)}s "
                f"(expected every {every}s)",
            )
    return None


class LogMonitor:
    """Checks running pods' logs against their job's rules."""

    def __init__(self, reader: Callable[[], LogReader | None]) -> None:
        self.reader = reader

    async def check(self, job: Obj, pods: list[Obj], now: datetime) -> tuple[list[Fault], bool]:
        """(faults found, whether any pod is being watched) for one job."""
        rules_ = [r for r in run_policy(job).get("logMonitoringConfiguration") or [] if r]
        read = self.reader()
        if not rules_ or read is None:
            return [], False
        faults: list[Fault] = []
        watching = False
        for pod in pods:
            if phase(pod) != "Running" or (pod.get("metadata") or {}).get("deletionTimestamp"):
                continue
            found = _started_at(pod)
            if found is None:
                continue
            container, started = found
            watching = True
            try:
                chunks = [
                    c
                    async for c in read(
                        pod, container, tail_lines=TAIL_LINES, timestamps=True, follow=False
                    )
                ]
            except ApiError:
                continue
            lines = _parse(b"".join(chunks))
            fault = check_rules(
                rules_, pod["metadata"]["name"], lines, started.timestamp(), now.timestamp()
            )
            if fault is not None:
                faults.append(fault)
        return faults, watching
