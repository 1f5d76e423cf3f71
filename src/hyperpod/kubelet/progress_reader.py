"""Reading what a training container reported with ``hyperpod.progress`` (file or stdout lines).

The kubelet gives each container ``HYPERPOD_PROGRESS_FILE=<sandbox>/<container>/progress.json``
(:func:`progress_path`). :func:`read_container` prefers that file and otherwise looks for
``PROGRESS <step>/<total> ...`` lines in the container's newest log (the first such line in its
head, the last in its tail; the log's timestamps date them). :func:`summarize` turns a report
into the ``status.progress`` of a job; :func:`job_progress` does both for a job's rank-0 pod,
for any job kind whose pods are known.
"""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hyperpod.kubelet import processes
from hyperpod.progress import ENV, parse_line

Obj = dict[str, Any]
FILE_NAME = "progress.json"
_HEAD = 256 * 1024
_TAIL = 64 * 1024

__all__ = [
    "ENV",
    "has_progress_file",
    "job_progress",
    "job_signature",
    "progress_path",
    "read_container",
    "summarize",
]


def progress_path(sandbox: Path, container: str) -> Path:
    return Path(sandbox) / container / FILE_NAME


def container_progress_dir(sandbox: Path, container: str) -> Path:
    """The directory a container's runtime binds at its progress directory (kubelet/oci_start.py)."""
    return Path(sandbox) / container / "progress.d"


def _report_paths(cdir: Path, container: str) -> tuple[Path, ...]:
    """Where a container's report may be, in the order read: the pod-user file, the one a
    container runtime's bind holds, the plain process's."""
    return (
        pod_user_progress_path(cdir.parent, container),
        container_progress_dir(cdir.parent, container) / FILE_NAME,
        cdir / FILE_NAME,
    )


def pod_user_progress_path(sandbox: Path, container: str) -> Path:
    """Where a pod run as its namespace's user writes (kubelet/podusers.py): a sticky dir."""
    return Path(sandbox) / "progress" / f"{container}.json"


def _read_own_file(path: Path, limit: int = 1 << 20) -> str:
    """A regular file's text, never through a symlink the pod may have planted."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a regular file")
        return os.read(fd, limit).decode()
    finally:
        os.close(fd)


def _cri_time(ts: str) -> float | None:
    # RFC3339Nano: trim to microseconds for fromisoformat.
    try:
        head, _, frac = ts.rstrip("Z").partition(".")
        text = head + ("." + frac[:6] if frac else "") + "+00:00"
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def _progress_lines(chunk: bytes) -> list[tuple[float, int, int, dict[str, float]]]:
    out = []
    for raw in chunk.split(b"\n"):
        parts = raw.decode("utf-8", "replace").split(" ", 3)
        if len(parts) < 4 or parts[1] != "stdout" or "PROGRESS" not in parts[3]:
            continue
        parsed = parse_line(parts[3])
        t = _cri_time(parts[0])
        if parsed is not None and t is not None:
            out.append((t, *parsed))
    return out


def _from_log(container_dir: Path) -> Obj | None:
    attempt = processes.latest(container_dir)
    if attempt is None:
        return None
    try:
        with open(attempt.log_path, "rb") as fh:
            head = fh.read(_HEAD)
            size = os.fstat(fh.fileno()).st_size
            if size > _HEAD:
                fh.seek(max(_HEAD, size - _TAIL))
                tail = fh.read()
            else:
                tail = b""
    except OSError:
        return None
    first = _progress_lines(head)
    last = _progress_lines(tail) or first
    if not last:
        return None
    t0, s0 = first[0][0], first[0][1]
    t, step, total, metrics = last[-1]
    return {
        "step": step,
        "totalSteps": total,
        "metrics": metrics,
        "time": t,
        "firstStep": s0,
        "firstTime": t0,
    }


def _container_dir(data_dir: Path, pod: Obj, container: str) -> Path:
    return Path(data_dir) / "pods" / pod["metadata"].get("uid", "") / container


def _stat(path: Path) -> tuple[int, int, int]:
    # The inode too: hyperpod.progress replaces the file on every report (a new inode), so a
    # change shows even within the file system's timestamp granularity.
    try:
        st = path.lstat()  # never through a link the pod may have planted
    except OSError:
        return (0, 0, -1)
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def container_signature(data_dir: Path, pod: Obj, container: str) -> tuple[int, int, int]:
    """A cheap change marker of what a container reported: (inode, mtime, size) of its progress
    file (in :func:`read_container`'s order), else of its newest log (where ``PROGRESS`` lines
    would be); size -1 for neither."""
    cdir = _container_dir(data_dir, pod, container)
    for path in _report_paths(cdir, container):
        sig = _stat(path)
        if sig[2] >= 0:
            return sig
    attempt = processes.latest(cdir)
    return _stat(attempt.log_path) if attempt is not None else (0, 0, -1)


def read_container(data_dir: Path, pod: Obj, container: str) -> Obj | None:
    """The raw last report of one container, or None when it reported nothing."""
    cdir = _container_dir(data_dir, pod, container)
    for path in _report_paths(cdir, container):
        try:
            data = json.loads(_read_own_file(path))
            if isinstance(data, dict) and "step" in data and "totalSteps" in data:
                return data
        except (OSError, ValueError):
            pass
    return _from_log(cdir)


def _rfc3339(t: float) -> str:
    # Microseconds, like metav1.MicroTime: ETAs of short jobs are compared against it.
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _two_figures(seconds: float) -> float:
    """Two significant figures (whole seconds from 100 s): a short run's remaining 0.8 s must
    not read as 1 s, a long run's ETA is not worth more than that."""
    if seconds >= 100:
        return float(round(seconds))
    return float(f"{seconds:.2g}")


def summarize(raw: Obj) -> Obj:
    """``status.progress`` from a raw report: percent, step, totalSteps, etaSeconds, metrics, updateTime."""
    step, total = int(raw["step"]), max(1, int(raw["totalSteps"]))
    out: Obj = {
        "percent": round(min(100.0, 100.0 * step / total), 1),
        "step": step,
        "totalSteps": total,
        "updateTime": _rfc3339(float(raw.get("time") or 0)),
    }
    first_step, first_time = raw.get("firstStep"), raw.get("firstTime")
    if first_step is not None and first_time is not None and step > int(first_step):
        rate = (step - int(first_step)) / max(1e-6, float(raw["time"]) - float(first_time))
        out["etaSeconds"] = _two_figures(max(0, total - step) / rate)
    elif step >= total:
        out["etaSeconds"] = 0
    metrics = raw.get("metrics") or {}
    if isinstance(metrics, dict) and metrics:
        out["metrics"] = {str(k): str(v) for k, v in metrics.items()}
    return out


def rank0(pods: list[Obj]) -> Obj | None:
    """The pod of rank 0: replica type Master (else the lowest Worker), index 0, not terminal."""

    def order(p: Obj) -> tuple[int, int, str]:
        labels = p["metadata"].get("labels") or {}
        rtype = (labels.get("training.kubeflow.org/replica-type") or "").lower()
        try:
            index = int(labels.get("training.kubeflow.org/replica-index") or 0)
        except ValueError:
            index = 0
        return (0 if rtype == "master" else 1, index, p["metadata"]["name"])

    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    return min(live, key=order) if live else None


def job_signature(data_dir: Path, pods: list[Obj]) -> tuple[Any, ...]:
    """What :func:`job_progress` reads, as a cheap change marker: equal markers, equal progress.

    A few ``stat`` calls, so a watcher can look often and read only when something moved.
    """
    pod = rank0(pods)
    if pod is None:
        return ()
    names = [c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or []]
    return (
        pod["metadata"].get("uid", ""),
        *(container_signature(data_dir, pod, n) for n in names),
    )


def has_progress_file(data_dir: Path, pods: list[Obj]) -> bool:
    """Whether the rank-0 pod has a progress file yet (one ``stat`` per container)."""
    pod = rank0(pods)
    return pod is not None and any(
        (_container_dir(data_dir, pod, c.get("name", "")) / FILE_NAME).exists()
        for c in (pod.get("spec") or {}).get("containers") or []
    )


def job_progress(data_dir: Path, pods: list[Obj]) -> Obj | None:
    """``status.progress`` of the job these pods belong to, from its rank-0 pod's first container."""
    pod = rank0(pods)
    if pod is None:
        return None
    for c in (pod.get("spec") or {}).get("containers") or []:
        raw = read_container(data_dir, pod, c.get("name", ""))
        if raw is not None:
            try:
                return summarize(raw)
            except (KeyError, TypeError, ValueError):
                return None
    return None
