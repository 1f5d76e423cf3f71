"""Where a training job carries its progress, for every job kind, and how to read it back.

A Kubeflow ``PyTorchJob`` has ``status.progress`` (our schema has the field). HyperPod's
``HyperPodPyTorchJob`` cannot: the real ``sagemaker-hyperpod`` SDK parses a job's status with
``extra="forbid"`` models, so an unknown status field would break its ``list``/``describe``.
Its metadata model takes any string annotations, so that kind carries the same object as
compact JSON in the annotation :data:`ANNOTATION`. :func:`read` returns it from either place.
"""

from __future__ import annotations

import json
from typing import Any

ANNOTATION = "hyperpod.local/progress"


def encode(progress: dict[str, Any]) -> str:
    """The annotation value of a progress object (compact, keys sorted: equal means unchanged)."""
    return json.dumps(progress, separators=(",", ":"), sort_keys=True)


def read(job: dict[str, Any]) -> dict[str, Any]:
    """The job's progress (percent, step, totalSteps, etaSeconds, metrics, updateTime), from
    ``status.progress`` or the :data:`ANNOTATION`; {} when it reported none (or it is garbled)."""
    status = (job.get("status") or {}).get("progress")
    if isinstance(status, dict) and status:
        return status
    text = ((job.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION)
    if not text:
        return {}
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
