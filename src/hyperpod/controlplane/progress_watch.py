"""Training progress into job status, quickly: a slow discovery pass and a fast ``stat`` pass.

:meth:`ProgressWatch.discover` (every ``observability.progressSeconds``, 1 s) lists the started
jobs of each progress kind and their pods, as before. :meth:`ProgressWatch.poll` (every
``observability.progressPollSeconds``, 0.05 s; 1 ms per watched job when that is slower) only
``stat``-s the rank-0 report of each job
(``progress_reader.job_signature``; the log, for ``PROGRESS`` lines, only once a job has
reported that way) and reads and patches a job only when its report moved, within a budget of
``observability.progressWritesPerSecond`` (20) status writes a second over all jobs. A report
therefore reaches ``status.progress`` within about 0.05 s, not up to a
second later, so a training run of a few seconds still shows its progress and ETA while it
runs; a job that never reports costs one ``stat`` per container between discoveries.

The job kinds are generic: anything whose pods carry a label naming the job and an owner
reference to it; each kind says where its progress is kept (a PyTorchJob's ``status.progress``,
a HyperPodPyTorchJob's annotation, :mod:`hyperpod.api.job_progress`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from hyperpod.apiserver.errors import ApiError
from hyperpod.apiserver.registry import Registry
from hyperpod.kubelet import progress_reader

Obj = dict[str, Any]


class Kind(Protocol):
    """A job kind that shows progress (``observability.ProgressKind``)."""

    @property
    def resource(self) -> str: ...
    @property
    def pod_label(self) -> str: ...
    @property
    def rank0_label(self) -> tuple[str, str] | None: ...
    def current(self, job: Obj) -> Obj | None: ...
    def write(self, reg: Registry, job: Obj, progress: Obj) -> None: ...


def watched(job: Obj, now: float) -> bool:
    """Started, and not finished more than a minute ago (the last report can trail the end)."""
    status = job.get("status") or {}
    if not status.get("startTime"):
        return False
    ended = status.get("completionTime")
    for c in status.get("conditions") or []:
        if c.get("type") in ("Succeeded", "Completed", "Failed") and c.get("status") == "True":
            ended = ended or c.get("lastTransitionTime")
    if not ended:
        return True
    try:
        return now - datetime.fromisoformat(ended.replace("Z", "+00:00")).timestamp() < 60
    except ValueError:
        return False


@dataclass
class _Target:
    kind: Kind
    job: Obj
    pods: list[Obj]
    shown: Obj | None  # the progress as stored (status.progress or the kind's annotation)
    signature: tuple[Any, ...] | None = None  # of the report last read
    reported: bool = False  # has reported: its log, too, is looked at on every poll


class ProgressWatch:
    """The running jobs of some kinds, and the report each one last showed."""

    def __init__(
        self, reg: Registry, data_dir: Path, kinds: list[Any], writes_per_second: float = 20.0
    ) -> None:
        self.reg = reg
        self.data_dir = Path(data_dir)
        self.kinds: list[Kind] = list(kinds)
        self._targets: dict[str, _Target] = {}
        # A token bucket over all jobs: a lone job's status follows its reports closely, a
        # thousand reporting jobs still cost the API server at most this many writes a second.
        self.rate = max(0.1, writes_per_second)
        self._tokens = self.rate
        self._refilled = time.monotonic()
        self._turn = 0

    def pace(self, fastest: float) -> float:
        """Seconds until the next poll: ``fastest``, or 1 ms per watched job when slower, so a
        thousand jobs are ``stat``-ed once a second rather than twenty times; with no job
        running, never (until the next discovery)."""
        if not self._targets:
            return float("inf")
        return max(fastest, 0.001 * len(self._targets))

    def _take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self.rate, self._tokens + (now - self._refilled) * self.rate)
        self._refilled = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def discover(self) -> int:
        """List the watched jobs and their pods; then read every one of them. Returns writes."""
        now = time.time()
        fresh: dict[str, _Target] = {}
        for kind in self.kinds:
            if self.reg.catalog.get(kind.resource) is None:
                continue
            jobs = [j for j in self.reg.list(kind.resource) if watched(j, now)]
            if not jobs:
                continue
            # One pass over the pods (not one selector query per job): pods by owning job uid.
            by_owner: dict[str, list[Obj]] = {}
            for p in self.reg.list("pods", label_selector=kind.pod_label):
                for ref in p["metadata"].get("ownerReferences") or []:
                    by_owner.setdefault(ref.get("uid", ""), []).append(p)
            for job in jobs:
                uid = job["metadata"].get("uid", "")
                pods = by_owner.get(uid, [])
                if kind.rank0_label is not None:
                    key, value = kind.rank0_label
                    pods = [
                        p for p in pods if (p["metadata"].get("labels") or {}).get(key) == value
                    ]
                shown = kind.current(job)
                target = _Target(kind, job, pods, shown)
                old = self._targets.get(uid)
                if old is not None and old.shown == shown:
                    # Unchanged since we last wrote it: no need to read an unmoved report again.
                    target.signature, target.reported = old.signature, old.reported
                fresh[uid] = target
        self._targets = fresh
        return self.poll(everyone=True)

    def poll(self, everyone: bool = False) -> int:
        """Read and write the jobs whose report moved (only those that report, unless
        ``everyone``). Returns how many statuses were written."""
        written = 0
        targets = list(self._targets.values())
        # Start one further each time, so a write budget too small for all is shared in turn.
        self._turn = (self._turn + 1) % max(1, len(targets))
        for target in targets[self._turn :] + targets[: self._turn]:
            if not (everyone or target.reported) and not progress_reader.has_progress_file(
                self.data_dir, target.pods
            ):
                continue  # stdout lines are looked for at discovery, files at once
            signature = progress_reader.job_signature(self.data_dir, target.pods)
            if signature == target.signature:
                continue
            progress = progress_reader.job_progress(self.data_dir, target.pods)
            if progress is None:
                target.signature = signature
                continue
            target.reported = True
            if progress == target.shown:
                target.signature = signature
                continue
            if not self._take():
                continue  # over the write budget: this report is read again next poll
            target.signature = signature
            try:
                target.kind.write(self.reg, target.job, progress)
            except ApiError:
                target.signature = None  # try again next time
                continue
            target.shown = progress
            written += 1
        return written
