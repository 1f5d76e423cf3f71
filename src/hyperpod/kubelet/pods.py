"""The pod worker: one asyncio task per pod bound to the local node, driving its containers.

It prepares the sandbox (``<data_dir>/pods/<uid>/``: volumes, device allocation), runs init
containers in order and then the app containers through the shim, restarts them by
``restartPolicy`` with Kubernetes' CrashLoopBackOff (first restart at once, then 10 s doubling
to 5 min, reset after 10 min of running), runs probes (``pod_probes.py``), and reports status
exactly in the Kubernetes shape (``pod_status.py``). Containers start as processes
(``process_start.py``) or in runc bundles (``oci_start.py``). On deletion it sends SIGTERM to every container's process group, waits the
grace period, SIGKILLs, and removes the pod (``delete(..., grace_period_seconds=0)``).
On start it re-adopts containers left running by an earlier control plane from the sandbox.

Resources: ``limits.memory`` is enforced by the shim polling the resident set of the
container's process group (OOMKilled, exit 137); cpu requests and limits are used for
scheduling only (no throttling on the local machine).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hyperpod.api.meta import rfc3339
from hyperpod.apiserver.errors import ApiError, NotFound
from hyperpod.apiserver.patching import PatchType
from hyperpod.kubelet import devices as devmod
from hyperpod.kubelet import oci, pod_probes, pod_status, process_start, processes
from hyperpod.kubelet import serviceaccount as sa_mod
from hyperpod.kubelet.container import Container
from hyperpod.kubelet.env import EnvError
from hyperpod.kubelet.volumes import VolumeError, prepare
from hyperpod.runtime.machinery import record_event

if TYPE_CHECKING:
    from hyperpod.kubelet.host import KubeletHost

log = logging.getLogger(__name__)
Obj = dict[str, Any]
COMPONENT = "kubelet"
RESET_AFTER_S = 600.0
TICK_S = 0.15


def backoff_delay(step: int, base: float, cap: float) -> float:
    """Delay before restart number ``step`` (0-based): 0, base, 2*base, ... up to cap."""
    return 0.0 if step == 0 else min(cap, base * 2 ** (step - 1))


class PodWorker:
    """Drives one pod until it is gone."""

    def __init__(self, kubelet: KubeletHost, pod: Obj) -> None:
        self.kl = kubelet
        md = pod["metadata"]
        self.key = f"{md['namespace']}/{md['name']}"
        self.uid = str(md["uid"])
        self.pod = pod
        self.sandbox = kubelet.data_dir / "pods" / self.uid
        spec = pod.get("spec") or {}
        self.policy = spec.get("restartPolicy") or "Always"
        self.inits = [Container(c, True) for c in spec.get("initContainers") or []]
        self.apps = [Container(c, False) for c in spec.get("containers") or []]
        if self.inits:
            for c in self.apps:
                c.state = {"waiting": {"reason": "PodInitializing"}}
        self.prepared = False
        self.sa_dir: Path | None = None
        self.sa_renew: float | None = None
        self.volumes: dict[str, str] = {}
        self.ip: str | None = None  # the pod IP (kubelet/podnet.py), once the sandbox exists
        self.allocation: devmod.Allocation = {}
        self.next_prepare = 0.0
        self.failed = False
        self.failed_reason = ""
        self.failed_message = ""
        self.start_time: str | None = None
        self.wake = asyncio.Event()
        self.last_status: Obj | None = None
        self.task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ plumbing
    def event(self, type_: str, reason: str, message: str) -> None:
        record_event(
            self.kl.reg, self.pod, type_, reason, message, COMPONENT, host=self.kl.node_name
        )

    def cid(self, c: Container) -> str:
        return f"hyperpod://{self.uid}/{c.name}/{c.restart_count}"

    def all(self) -> list[Container]:
        return self.inits + self.apps

    # ------------------------------------------------------------------ adoption
    def adopt(self) -> None:
        """Rebuild container state from the sandbox (after a control-plane restart)."""
        if not self.sandbox.exists():
            return
        started_app = False
        for c in self.all():
            cdir = self.sandbox / c.name
            nums = processes.attempt_numbers(cdir)
            if not nums:
                continue
            c.pulled = True
            c.restart_count = nums[-1]
            if len(nums) > 1:
                prev = processes.Attempt(cdir, nums[-2]).record()
                if prev and "finishedAt" in prev:
                    c.last_state = pod_status.terminated(
                        prev, f"hyperpod://{self.uid}/{c.name}/{nums[-2]}"
                    )
            att = processes.Attempt(cdir, nums[-1])
            rec = att.finished()
            if rec is None and att.record() is not None:
                c.attempt, c.running = att, True
                started = float((att.record() or {}).get("startedAt", time.time()))
                c.state = {"running": {"startedAt": rfc3339(started)}}
                c.ready = not self._readiness(c)
                c.started = not c.spec.get("startupProbe")
            elif rec is not None:
                c.attempt = att
                self._exited(c, rec, announce=False)
            if not c.init:
                started_app = True
        if started_app:
            for c in self.inits:
                if not c.done:
                    c.done = c.succeeded = True
                    c.state = (
                        c.state
                        if "terminated" in c.state
                        else {"terminated": {"exitCode": 0, "reason": "Completed"}}
                    )
        if any(c.pulled for c in self.all()):
            self.prepared_volumes_only()

    def prepared_volumes_only(self) -> None:
        try:
            self._prepare(allocate=False)
        except (VolumeError, EnvError, devmod.InsufficientDevices):
            pass

    def _readiness(self, c: Container) -> bool:
        """Whether readiness waits for a probe (readiness or startup) rather than the start."""
        return bool(c.spec.get("readinessProbe") or c.spec.get("startupProbe"))

    # ------------------------------------------------------------------ main loop
    async def run(self) -> None:
        try:
            self.adopt()
            for c in self.all():
                if c.running and c.attempt is not None:
                    pod_probes.start_probes(self, c, c.attempt)
            while True:
                pod = self.kl.current(self.key)
                if pod is None or str(pod["metadata"].get("uid")) != self.uid:
                    await self._stop_all(grace=2.0, announce=False)
                    self.remove_sandbox()
                    return
                self.pod = pod
                if pod["metadata"].get("deletionTimestamp"):
                    await self._terminate()
                    return
                phase = (pod.get("status") or {}).get("phase")
                if phase in ("Succeeded", "Failed") and self.last_status is None:
                    # Finished before this kubelet started: nothing to run, just wait.
                    await self._idle()
                    continue
                if not self._terminal():
                    if self._past_deadline():
                        await self._deadline_exceeded()
                    else:
                        await self._step()
                self._flush_status()
                await self._idle()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("pod worker %s crashed", self.key)
            with contextlib.suppress(Exception):  # say so on the pod; never fail twice
                self.event("Warning", "FailedSync", f"kubelet error: {type(exc).__name__}: {exc}")
            raise
        finally:
            for c in self.all():
                c.cancel_probes()
            self.kl.worker_done(self)

    async def _idle(self) -> None:
        self.wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), TICK_S if not self._terminal() else 5.0)

    def finished(self) -> bool:
        """No container of this pod will run again (its devices are free)."""
        return self._terminal() and not any(c.running for c in self.all())

    def _terminal(self) -> bool:
        if self.failed:
            return True
        return bool(self.apps) and all(c.done for c in self.apps)

    # ------------------------------------------------------------------ preparation
    def _prepare(self, allocate: bool = True) -> None:
        self.sandbox.mkdir(parents=True, exist_ok=True)
        self.ip = self.kl.pod_address(self)
        self.allocation = devmod.allocation_of(self.pod)
        needs = any(devmod.device_requests(c.spec) for c in self.all())
        if needs and not self.allocation and allocate:
            self.allocation = devmod.allocate(
                self.pod, self.kl.devices, self.kl.devices_in_use(self.uid)
            )
            self.kl.allocated[self.uid] = self.allocation
            md = self.kl.reg.patch(
                "pods",
                self.pod["metadata"]["name"],
                {
                    "metadata": {
                        "annotations": {
                            devmod.ANNOTATION: json.dumps(self.allocation, sort_keys=True)
                        }
                    }
                },
                PatchType.MERGE,
                self.pod["metadata"]["namespace"],
            )
            self.pod = md
        self.volumes = prepare(self.pod, self.sandbox, self.kl.data_dir, self.kl.lookup)
        self._project_token()
        self.own_files()

    def own_files(self) -> None:
        """With per-namespace pod users, hand the sandbox to the pod's user (podusers.py)."""
        users = self.kl.pod_users
        if not users.enabled or self.kl.runtime_for(self.pod) != "process":
            return
        users.lock_data_dir()
        claims = {
            str(v.get("name", ""))
            for v in (self.pod.get("spec") or {}).get("volumes") or []
            if isinstance(v, dict) and "persistentVolumeClaim" in v
        }
        extra = [p for n, p in self.volumes.items() if n in claims and users.under_data_dir(p)]
        users.own_sandbox(self.pod, self.sandbox, extra)

    def _project_token(self) -> None:
        """The ServiceAccount token files and their renewal time (kubelet/serviceaccount.py)."""
        gate = self.kl.ctx.services.get("gate")
        if gate is None:
            return
        self.sa_dir, renew = sa_mod.project(
            self.pod, self.sandbox, self.kl.data_dir, self.kl.lookup, gate.issuer
        )
        self.sa_renew = sa_mod.renew_at(renew) if self.sa_dir else None

    async def _step(self) -> None:
        now = time.monotonic()
        if self.sa_renew is not None and now >= self.sa_renew:
            try:
                self._project_token()
            except (VolumeError, OSError) as exc:  # the account is gone: keep the old token
                log.warning("pod %s: token renewal failed: %s", self.key, exc)
                self.sa_renew = now + 60.0
        if not self.prepared:
            if now < self.next_prepare:
                return
            try:
                self._prepare()
                self.prepared = True
            except devmod.InsufficientDevices as exc:
                self.failed, self.failed_reason, self.failed_message = (
                    True,
                    "UnexpectedAdmissionError",
                    str(exc),
                )
                self.event("Warning", "UnexpectedAdmissionError", str(exc))
                return
            except (VolumeError, EnvError) as exc:
                reason = getattr(exc, "reason", "CreateContainerConfigError")
                for c in self.all():
                    c.state = {"waiting": {"reason": reason, "message": str(exc)}}
                self.event(
                    "Warning",
                    "FailedMount" if reason == "ContainerCreating" else "Failed",
                    f"Error: {exc}" if reason != "ContainerCreating" else str(exc),
                )
                self.next_prepare = now + 2.0
                return
            except ApiError as exc:
                log.warning("pod %s: preparing failed: %s", self.key, exc)
                self.next_prepare = now + 1.0
                return
        for c in self.inits:
            if c.done and c.succeeded:
                continue
            await self._drive(c, now)
            return
        for c in self.apps:
            await self._drive(c, now)

    async def _drive(self, c: Container, now: float) -> None:
        if c.running and c.attempt is not None:
            rec = c.attempt.finished()
            if rec is not None:
                self._exited(c, rec)
            return
        if c.done or self.failed:
            return
        if now >= c.next_start:
            await self._start(c)

    # ------------------------------------------------------------------ starting
    def downward_pod(self) -> Obj:
        """The pod as the downward API sees it: ``status.podIP`` is this pod's address."""
        if self.ip is None:
            return self.pod
        status = {**(self.pod.get("status") or {}), "podIP": self.ip, "podIPs": [{"ip": self.ip}]}
        return {**self.pod, "status": status}

    def start_error(self, c: Container, message: str) -> None:
        """A container that could not be started: recorded like an attempt that ended."""
        cdir = self.sandbox / c.name
        cdir.mkdir(parents=True, exist_ok=True)
        att = processes.Attempt(cdir, c.restart_count)
        now = time.time()
        rec = {
            "exitCode": 128,
            "reason": "StartError",
            "message": message,
            "startedAt": now,
            "finishedAt": now,
        }
        att.log_path.touch()
        att.record_path.write_text(json.dumps(rec))
        c.attempt = att
        self.event("Warning", "Failed", f"Error: RunContainerError: {message}")
        self._exited(c, rec, start_error=True)

    async def _start(self, c: Container) -> None:
        if c.attempt is not None and (c.attempt.record() or {}).get("finishedAt") is not None:
            c.restart_count = c.attempt.number + 1
        if self.kl.runtime_for(self.pod) == "oci":
            from hyperpod.kubelet import oci_start

            await oci_start.start(self, c)
            return
        await process_start.start(self, c)

    def container_started(
        self, c: Container, attempt: processes.Attempt, env: dict[str, str], cwd: Path
    ) -> None:
        c.attempt, c.running, c.env, c.cwd = attempt, True, env, cwd
        if self.start_time is None:
            self.start_time = rfc3339(time.time())
        c.state = {"running": {"startedAt": rfc3339(time.time())}}
        c.ready = not self._readiness(c)
        c.started = not c.spec.get("startupProbe")
        self.event("Normal", "Started", f"Started container {c.name}")
        pod_probes.start_probes(self, c, attempt)

    # ------------------------------------------------------------------ exits
    def _exited(
        self, c: Container, rec: Obj, *, announce: bool = True, start_error: bool = False
    ) -> None:
        c.running, c.ready = False, False
        c.cancel_probes()
        # release_attempt: True when an OCI container ran into its memory cgroup limit.
        oom = c.attempt is not None and oci.release_attempt(
            c.attempt.container_dir, c.attempt.number
        )
        if oom and int(rec.get("exitCode", 0)) == 137:
            rec = {**rec, "reason": "OOMKilled"}
        term = pod_status.terminated(rec, self.cid(c))
        code = int(rec.get("exitCode", 0))
        if (
            code != 0
            and not start_error
            and c.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError"
            and c.attempt is not None
        ):
            tail = log_tail(c.attempt)
            if tail:
                term["terminated"]["message"] = tail
        ran = float(rec.get("finishedAt", 0)) - float(rec.get("startedAt", 0))
        if c.init:
            restart = code != 0 and self.policy != "Never"
        elif self.policy == "Always":
            restart = True
        else:
            restart = self.policy == "OnFailure" and code != 0
        if not restart:
            c.state, c.done, c.succeeded = term, True, code == 0
            if c.init and code != 0:
                self.failed = True
            return
        if ran >= RESET_AFTER_S:
            c.backoff_step = 0
        delay = backoff_delay(c.backoff_step, self.kl.backoff_base, self.kl.backoff_max)
        c.backoff_step += 1
        c.last_state = term
        c.next_start = time.monotonic() + delay
        if start_error:
            c.state = {
                "waiting": {"reason": "RunContainerError", "message": str(rec.get("message", ""))}
            }
        elif delay > 0:
            c.state = {
                "waiting": {"reason": "CrashLoopBackOff", "message": self._backoff_text(c, delay)}
            }
            if announce:
                md = self.pod["metadata"]
                self.event(
                    "Warning",
                    "BackOff",
                    f"Back-off restarting failed container {c.name} in pod "
                    f"{md['name']}_{md['namespace']}({self.uid})",
                )
        else:
            c.state = term

    def _backoff_text(self, c: Container, delay: float) -> str:
        md = self.pod["metadata"]
        return (
            f"back-off {int(delay)}s restarting failed container={c.name} "
            f"pod={md['name']}_{md['namespace']}({self.uid})"
        )

    # ------------------------------------------------------------------ activeDeadlineSeconds
    def _past_deadline(self) -> bool:
        limit = (self.pod.get("spec") or {}).get("activeDeadlineSeconds")
        started = self.start_time or (self.pod.get("status") or {}).get("startTime")
        if limit is None or not started:
            return False
        begun = datetime.strptime(started, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
        return time.time() - begun >= float(limit)

    async def _deadline_exceeded(self) -> None:
        message = "Pod was active on the node longer than the specified deadline"
        self.event("Normal", "DeadlineExceeded", message)
        grace = float((self.pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30))
        await self._stop_all(grace)
        self.failed, self.failed_reason, self.failed_message = True, "DeadlineExceeded", message

    # ------------------------------------------------------------------ termination
    async def _stop_all(self, grace: float, announce: bool = True) -> None:
        running = [c for c in self.all() if c.running and c.attempt is not None]
        for c in running:
            c.cancel_probes()
            if announce:
                self.event("Normal", "Killing", f"Stopping container {c.name}")
        results = await asyncio.gather(*(c.attempt.stop(grace) for c in running if c.attempt))
        for c, rec in zip(running, results, strict=True):
            c.running, c.ready, c.done = False, False, True
            c.state = pod_status.terminated(rec, self.cid(c))

    async def _terminate(self) -> None:
        md = self.pod["metadata"]
        grace = md.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = (self.pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
        await self._stop_all(float(grace))
        for c in self.all():
            if not c.done and "waiting" in c.state:
                c.done = True
        with contextlib.suppress(ApiError):
            self._flush_status()
        try:
            self.kl.reg.delete(
                "pods",
                md["name"],
                md["namespace"],
                grace_period_seconds=0,
                preconditions={"uid": self.uid},
            )
        except (NotFound, ApiError):
            pass
        self.remove_sandbox()

    def remove_sandbox(self) -> None:
        """Drop the pod's directory (logs, emptyDirs) once the pod is gone, as Kubernetes does.

        Processes of the pod that escaped its process groups (``setsid``) go first, and the
        root filesystems of its OCI containers are unmounted.
        """
        processes.kill_marked(self.sandbox)
        oci.release_all(self.sandbox)
        shutil.rmtree(self.sandbox, ignore_errors=True)
        self.kl.release_address(self.uid)

    # ------------------------------------------------------------------ status
    def build_status(self) -> Obj:
        return pod_status.build(self)

    def _flush_status(self) -> None:
        status = self.build_status()
        comparable = {k: v for k, v in status.items() if k != "conditions"}
        comparable["conds"] = [(c["type"], c["status"]) for c in status["conditions"]]
        if comparable == self.last_status:
            return
        md = self.pod["metadata"]
        try:
            fresh = self.kl.reg.get("pods", md["name"], md["namespace"])
        except NotFound:
            return
        if str(fresh["metadata"].get("uid")) != self.uid:
            return
        fresh["status"] = status
        self.pod = self.kl.reg.update("pods/status", fresh, md["namespace"])
        self.last_status = comparable


def log_tail(attempt: processes.Attempt, max_lines: int = 80, max_bytes: int = 2048) -> str:
    """The end of an attempt's output, for ``terminationMessagePolicy: FallbackToLogsOnError``."""
    try:
        with open(attempt.log_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * max_bytes))
            raw = f.read().splitlines()
    except OSError:
        return ""
    texts = []
    for line in raw[-max_lines:]:
        parts = line.split(b" ", 3)
        if len(parts) == 4:
            texts.append(parts[3].decode(errors="replace") + ("\n" if parts[2] == b"F" else ""))
    return "".join(texts)[-max_bytes:]


WorkerFactory = Callable[["KubeletHost", Obj], PodWorker]
