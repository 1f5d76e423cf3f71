"""Training progress for the cluster to show: ``hyperpod.progress.report(step, total_steps, **m)``.

Dependency-free (standard library only) so any training script can import it. Two ways to
report, both read by the control plane for the job's rank-0 container:

1. **The file.** In a pod the kubelet sets ``HYPERPOD_PROGRESS_FILE`` for every container;
   :func:`report` rewrites that file atomically with one JSON object
   ``{"step", "totalSteps", "metrics", "time", "firstStep", "firstTime"}``. ``first*`` is the
   report the rate (and so the ETA) is measured from: the latest report made at least half of
   this process's reporting time ago, so warm-up (slow first steps, compilation, a filling data
   loader) weighs less and less as the run goes on.
2. **A stdout line**, for scripts that cannot import this module. One line, exactly::

       PROGRESS <step>/<total_steps> [<name>=<number> ...]

   e.g. ``PROGRESS 120/400 loss=0.4123 accuracy=0.91``. :func:`report` prints this line when
   no progress file is set (outside a pod, or with ``echo=True``). The log's own timestamps
   date each line.

The job shows ``status.progress`` (percent, step, totalSteps, etaSeconds, metrics, updateTime).
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import time

ENV = "HYPERPOD_PROGRESS_FILE"
LINE = re.compile(
    r"^PROGRESS (\d+)/(\d+)((?:\s+[A-Za-z_][A-Za-z0-9_.-]*=[-+0-9.eE]+|\s+[A-Za-z_][A-Za-z0-9_.-]*=(?:nan|inf))*)\s*$"
)
_first: tuple[int, float] | None = None  # this process's first report (step, time)
_samples: list[tuple[int, float]] = []  # earlier reports, thinned: where the rate is measured from


def format_line(step: int, total_steps: int, metrics: dict[str, float]) -> str:
    """The documented stdout form of one report."""
    parts = [f"PROGRESS {step}/{total_steps}"]
    parts += [f"{k}={_num(v)}" for k, v in metrics.items()]
    return " ".join(parts)


def parse_line(line: str) -> tuple[int, int, dict[str, float]] | None:
    """(step, total_steps, metrics) of a ``PROGRESS`` line; None for any other line."""
    m = LINE.match(line.strip())
    if m is None:
        return None
    metrics: dict[str, float] = {}
    for pair in m.group(3).split():
        key, _, value = pair.partition("=")
        try:
            metrics[key] = float(value)
        except ValueError:
            continue
    return int(m.group(1)), int(m.group(2)), metrics


def _num(v: float) -> str:
    f = float(v)
    if math.isnan(f) or math.isinf(f):
        return "nan" if math.isnan(f) else "inf"
    return f"{f:.6g}"


def _rate_start(step: int, now: float) -> tuple[int, float]:
    """The (step, time) the rate is measured from: the latest report at least half of the
    elapsed reporting time old. Keeps about a hundred samples however long the run."""
    global _first
    if _first is None or step < _first[0]:  # first report, or the script started over
        _first = (step, now)
        _samples.clear()
    half = now - (now - _first[1]) / 2
    if not _samples or now - _samples[-1][1] >= (now - _first[1]) / 100:
        _samples.append((step, now))
    while len(_samples) > 1 and _samples[1][1] <= half:
        _samples.pop(0)
    start = _samples[0] if _samples[0][1] <= half else _first
    return start if start[1] < now else _first


def report(step: int, total_steps: int, *, echo: bool = False, **metrics: float) -> None:
    """Record that ``step`` of ``total_steps`` is done, with optional scalar metrics.

    Cheap enough to call every step (one small file write). Raises ValueError on a negative
    step or a total below 1, so a wrong call is seen at once rather than shown as 0 %.
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be at least 1, got {total_steps}")
    if step < 0:
        raise ValueError(f"step must not be negative, got {step}")
    clean = {str(k): float(v) for k, v in metrics.items()}
    now = time.time()
    start = _rate_start(step, now)
    path = os.environ.get(ENV)
    if path:
        record = {
            "step": int(step),
            "totalSteps": int(total_steps),
            "metrics": {k: v for k, v in clean.items() if math.isfinite(v)},
            "time": now,
            "firstStep": start[0],
            "firstTime": start[1],
        }
        tmp = f"{path}.{os.getpid()}.tmp"
        try:
            with open(tmp, "w") as fh:
                json.dump(record, fh)
            os.replace(tmp, path)
        except OSError:
            pass  # progress is best effort: never fail the training step for it
    if echo or not path:
        print(format_line(step, total_steps, clean), file=sys.stdout, flush=True)
