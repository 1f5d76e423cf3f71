"""Container attempts as processes on this machine: start through the shim, signal, poll, adopt.

Each run of a container is an *attempt* numbered from 0 (the restart count), kept in the
container's sandbox directory ``<data_dir>/pods/<uid>/<container>/`` as ``<n>.json`` (the shim's
record) and ``<n>.log`` (its output, CRI format). The shim runs in a session of its own, so a
control-plane restart leaves containers running; a new kubelet finds them again from these
files (:func:`latest`) and keeps watching them exactly as if it had started them.

Escapes: a container may start processes in a session of their own (``setsid``), out of reach
of its process group. The shim is their child subreaper and ends every descendant with the
container; and each container's environment carries ``HYPERPOD_SANDBOX=<sandbox dir>``, so
:func:`kill_marked` finds what is left (even after the shim itself was killed) by scanning
``/proc/*/environ`` when the pod is deleted or the cluster stopped. A process that clears its
environment *and* outlives a killed shim is the one case this cannot catch without cgroups.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from hyperpod.kubelet import oci

MARKER_ENV = "HYPERPOD_SANDBOX"


@dataclass
class Attempt:
    """One run of one container."""

    container_dir: Path
    number: int
    shim: subprocess.Popen[bytes] | None = None  # set when this process started it
    _adopted_pid: int = 0

    @property
    def record_path(self) -> Path:
        return self.container_dir / f"{self.number}.json"

    @property
    def log_path(self) -> Path:
        return self.container_dir / f"{self.number}.log"

    @property
    def shim_path(self) -> Path:
        return self.container_dir / f"{self.number}.shim"

    def record(self) -> dict[str, Any] | None:
        """The shim's record; before the shim has written it, what the kubelet noted at start."""
        try:
            data = json.loads(self.record_path.read_text())
        except (OSError, ValueError):
            try:
                pid, started = self.shim_path.read_text().split()
            except (OSError, ValueError):
                return None
            return {"shimPid": int(pid), "startedAt": float(started)}
        return data if isinstance(data, dict) else None

    def _shim_alive(self, rec: dict[str, Any] | None) -> bool:
        if self.shim is not None:
            return self.shim.poll() is None
        pid = (rec or {}).get("shimPid")
        if not pid:
            return False
        try:
            proc = psutil.Process(int(pid))
            if proc.status() == psutil.STATUS_ZOMBIE:
                return False
            # A recycled pid belongs to a process created after our shim started.
            alive = bool(proc.create_time() <= float(rec.get("startedAt", 0)) + 1.0)  # type: ignore[union-attr]
        except psutil.Error:
            return False
        if alive and rec is not None and "pgid" in rec:
            self._adopted_pid = int(pid)  # verified once; later checks are a cheap signal 0
        return alive

    def finished(self) -> dict[str, Any] | None:
        """The record once the attempt has ended (synthesised if the shim died silently)."""
        if self.shim is not None and self.shim.poll() is None:
            return None  # our own shim is still running: no need to read its record
        if self._adopted_pid and pid_running(self._adopted_pid):
            return None
        rec = self.record()
        if rec is not None and "finishedAt" in rec:
            if self.shim is not None:
                self.shim.poll()  # reap
            return rec
        if self._shim_alive(rec):
            return None
        if rec is None and self.shim is None:
            return None  # not started by us and never recorded: nothing to say
        rec = rec or self.record() or {}
        if "finishedAt" in rec:
            return rec
        rec.update(
            exitCode=137,
            reason="Error",
            message="the container's shim process disappeared",
            finishedAt=time.time(),
        )
        rec.setdefault("startedAt", rec["finishedAt"])
        tmp = self.record_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(rec))
        os.replace(tmp, self.record_path)
        return rec

    def pgid(self) -> int | None:
        rec = self.record()
        return int(rec["pgid"]) if rec and rec.get("pgid") else None

    def signal(self, sig: int) -> bool:
        """Signal the container's process group; False when there is none (yet or any more).

        An OCI container's processes live in their own session inside the container: runc
        forwards catchable signals to them, and SIGKILL goes through ``runc kill``.
        """
        pgid = self.pgid()
        if pgid is None:
            return False
        if sig == signal.SIGKILL:
            info = oci.marker(self.container_dir, self.number)
            if info is not None:
                oci.kill(info, sig)
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    async def stop(self, grace_seconds: float, poll_s: float = 0.05) -> dict[str, Any]:
        """SIGTERM, wait up to the grace period, then SIGKILL; returns the final record."""
        deadline = time.monotonic() + max(grace_seconds, 0.0)
        # The shim may not have recorded its child yet: wait for the group to exist.
        while self.pgid() is None and self.finished() is None:
            if time.monotonic() > deadline + 5:
                break
            await asyncio.sleep(poll_s)
        if grace_seconds > 0:
            self.signal(signal.SIGTERM)
        while time.monotonic() < deadline:
            rec = self.finished()
            if rec is not None:
                return rec
            await asyncio.sleep(poll_s)
        self.signal(signal.SIGKILL)
        while True:
            rec = self.finished()
            if rec is not None:
                return rec
            await asyncio.sleep(poll_s)


def pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie still answers signal 0
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def attempt_numbers(container_dir: Path) -> list[int]:
    """The attempt numbers present in a container directory, oldest first."""
    found: set[int] = set()
    with contextlib.suppress(OSError):
        for entry in os.scandir(container_dir):
            stem, _, ext = entry.name.partition(".")
            if ext in ("json", "log") and stem.isdigit():
                found.add(int(stem))
    return sorted(found)


def latest(container_dir: Path) -> Attempt | None:
    nums = attempt_numbers(container_dir)
    return Attempt(container_dir, nums[-1]) if nums else None


def start(
    container_dir: Path,
    number: int,
    argv: list[str],
    env: dict[str, str],
    cwd: Path,
    memory_limit: int | None = None,
) -> Attempt:
    """Start attempt ``number`` of a container through the shim, detached from this process."""
    container_dir.mkdir(parents=True, exist_ok=True)
    attempt = Attempt(container_dir, number)
    # -E -P: the container's PYTHONHOME/PYTHONPATH and the files in its working directory
    # belong to the container's command, not to the shim (they reach the command unchanged).
    cmd = [sys.executable, "-E", "-P", "-m", "hyperpod.kubelet.shim", str(attempt.record_path)]
    cmd.append(str(attempt.log_path))
    if memory_limit:
        cmd += ["--memory-limit", str(memory_limit)]
    cmd += ["--", *argv]
    attempt.log_path.touch()
    attempt.shim = subprocess.Popen(
        cmd,
        cwd=str(cwd),
        env={**env, MARKER_ENV: str(container_dir.parent)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
    # Noted at once so a kubelet restarted in the next instant still finds the shim.
    attempt.shim_path.write_text(f"{attempt.shim.pid} {time.time()}")
    return attempt


def running_attempts(data_dir: Path) -> list[Attempt]:
    """Every container attempt still running under ``<data_dir>/pods``."""
    out: list[Attempt] = []
    root = Path(data_dir) / "pods"
    if not root.is_dir():
        return out
    for sandbox in root.iterdir():
        if not sandbox.is_dir():
            continue
        for cdir in sandbox.iterdir():
            if not cdir.is_dir():
                continue
            for n in attempt_numbers(cdir):
                attempt = Attempt(cdir, n)
                if attempt.finished() is None and attempt.record() is not None:
                    out.append(attempt)
    return out


def stop_all(data_dir: Path, grace_seconds: float = 5.0) -> int:
    """Stop every container of a cluster (for deleting a cluster or cleaning up after tests).

    Containers outlive the control plane on purpose; this is how a whole cluster's processes
    are ended. Returns how many were running. Safe to call without a running control plane.
    """
    attempts = running_attempts(data_dir)

    async def stop() -> None:
        await asyncio.gather(*(a.stop(grace_seconds) for a in attempts))
        for a in attempts:
            oci.release_attempt(a.container_dir, a.number)

    if attempts:
        asyncio.run(stop())
    kill_marked(Path(data_dir) / "pods")
    return len(attempts)


def kill_marked(sandbox: Path | str) -> int:
    """SIGKILL every process whose ``HYPERPOD_SANDBOX`` is ``sandbox`` or below it."""
    root = str(sandbox).rstrip("/")
    want = f"{MARKER_ENV}={root}".encode()
    me = os.getpid()
    killed = 0
    try:
        entries = os.listdir("/proc")
    except OSError:
        return 0
    for entry in entries:
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                environ = fh.read()
        except OSError:
            continue
        for var in environ.split(b"\0"):
            if var == want or var.startswith(want + b"/"):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(entry), signal.SIGKILL)
                    killed += 1
                break
    return killed
