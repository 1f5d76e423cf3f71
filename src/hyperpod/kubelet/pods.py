"""The pod worker: one asyncio task per pod bound to the local node, driving its containers.

It prepares the sandbox (``<data_dir>/pods/<uid>/``: volumes, device allocation), runs init
containers in order and then the app containers through the shim, restarts them by
``restartPolicy`` with Kubernetes' CrashLoopBackOff (first restart at once, then 10 s doubling
to 5 min, reset after 10 min of running), runs probes, and reports status exactly in the
Kubernetes shape. On deletion it sends SIGTERM to every container's process group, waits the
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
from hyperpod.apiserver.quantity import bytes_of
from hyperpod.kubelet import devices as devmod
from hyperpod.kubelet import oci, podnet, podusers, processes, progress_reader
from hyperpod.kubelet import serviceaccount as sa_mod
from hyperpod.kubelet.container import Container
from hyperpod.kubelet.env import EnvError, container_env
from hyperpod.kubelet.probes import run_probe
from hyperpod.kubelet.volumes import Mount, VolumeError, mounts_for, prepare
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


def _terminated(rec: Obj, container_id: str) -> Obj:
    term: Obj = {
        "exitCode": int(rec.get("exitCode", 0)),
        "reason": rec.get("reason") or ("Completed" if rec.get("exitCode") == 0 else "Error"),
        "startedAt": rfc3339(float(rec.get("startedAt") or rec.get("finishedAt") or time.time())),
        "finishedAt": rfc3339(float(rec.get("finishedAt") or time.time())),
        "containerID": container_id,
    }
    if rec.get("signal"):
        term["signal"] = int(rec["signal"])
    if rec.get("message"):
        term["message"] = str(rec["message"])
    return {"terminated": term}


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
                    c.last_state = _terminated(prev, f"hyperpod://{self.uid}/{c.name}/{nums[-2]}")
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
                    self._start_probes(c, c.attempt)
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
                self.kl.merge,
                self.pod["metadata"]["namespace"],
            )
            self.pod = md
        self.volumes = prepare(self.pod, self.sandbox, self.kl.data_dir, self.kl.lookup)
        self._project_token()
        self._own_files()

    def _own_files(self) -> None:
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
    def _resolve(self, c: Container) -> tuple[list[str], dict[str, str], Path, list[Mount]]:
        self.ip = self.kl.pod_address(self)  # refreshes the hosts file too
        mounts = mounts_for(c.spec, self.volumes)
        if self.sa_dir is not None:
            mounts = sorted([*mounts, sa_mod.mount(self.sa_dir)], key=lambda m: -len(m.mount_path))
        ns = self.pod["metadata"]["namespace"]
        env, argv = container_env(
            self.downward_pod(),
            c.spec,
            base=self.kl.base_env,
            lookup=self.kl.lookup,
            services={ns: self.kl.service_addresses(ns)},
            mounts=mounts,
            devices=devmod.device_env(self.allocation.get(c.name, {}), self.kl.devices),
            node_allocatable=self.kl.allocatable,
        )
        # Where hyperpod.progress.report() writes (kubelet/progress_reader.py reads it).
        if not any(e.get("name") == progress_reader.ENV for e in c.spec.get("env") or []):
            env[progress_reader.ENV] = str(progress_reader.progress_path(self.sandbox, c.name))
        if self.sa_dir is not None:
            for k, v in sa_mod.incluster_env(self.kl.data_dir, self.sa_dir).items():
                env.setdefault(k, v)  # what the pod sets itself wins
        # Written by the health agent before an eviction (controllers/health_eviction.py).
        env["HYPERPOD_EVICTION_FILE"] = str(self.sandbox / "eviction.json")
        wd = c.spec.get("workingDir")
        from hyperpod.kubelet.volumes import substitute

        cwd = Path(substitute(wd, mounts)) if wd else self.sandbox
        return argv, env, cwd, mounts

    def downward_pod(self) -> Obj:
        """The pod as the downward API sees it: ``status.podIP`` is this pod's address."""
        if self.ip is None:
            return self.pod
        status = {**(self.pod.get("status") or {}), "podIP": self.ip, "podIPs": [{"ip": self.ip}]}
        return {**self.pod, "status": status}

    def _start_error(self, c: Container, message: str) -> None:
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
        try:
            argv, env, cwd, _ = self._resolve(c)
        except (EnvError, VolumeError) as exc:
            c.state = {"waiting": {"reason": "CreateContainerConfigError", "message": str(exc)}}
            self.event("Warning", "Failed", f"Error: {exc}")
            c.next_start = time.monotonic() + 5.0
            return
        image = c.spec.get("image") or ""
        if not c.pulled:
            c.pulled = True
            self.event(
                "Normal",
                "Pulled",
                f'Container image "{image}" is recorded, not pulled: on the local cluster '
                "containers run as processes of this machine",
            )
        if not argv:
            self._start_error(c, "no command specified: the local cluster needs command or args")
            return
        if not cwd.is_dir():
            self._start_error(
                c, f'chdir to cwd ("{cwd}") set in config.json failed: no such file or directory'
            )
            return
        exe = argv[0]
        found = (
            exe
            if os.sep in exe and os.access(cwd / exe, os.X_OK)
            else shutil.which(exe, path=env.get("PATH"))
        )
        if not found:
            self._start_error(c, f'exec: "{exe}": executable file not found in $PATH')
            return
        limits = (c.spec.get("resources") or {}).get("limits") or {}
        memory = bytes_of(limits["memory"]) if "memory" in limits else None
        self.event("Normal", "Created", f"Created container: {c.name}")
        if self.kl.pod_users.enabled:
            try:
                argv, env, cwd = self._as_pod_user(c, argv, env, cwd)
            except podusers.PodUserError as exc:
                c.state = {"waiting": {"reason": "CreateContainerConfigError", "message": str(exc)}}
                self.event("Warning", "Failed", f"Error: {exc}")
                c.next_start = time.monotonic() + 5.0
                return
        argv = sa_mod.wrap(argv, self.sa_dir)  # own mount namespace with the token (root)
        if self.kl.unshare and not podnet.host_network(self.pod):
            argv = podnet.with_hosts(self.sandbox / podnet.HOSTS_FILE, argv, self.kl.unshare)
        attempt = processes.start(self.sandbox / c.name, c.restart_count, argv, env, cwd, memory)
        self._started(c, attempt, env, cwd)

    def _as_pod_user(
        self, c: Container, argv: list[str], env: dict[str, str], cwd: Path
    ) -> tuple[list[str], dict[str, str], Path]:
        """The command run as the namespace's user (innermost, after the root-only wrappers)."""
        users = self.kl.pod_users
        problem = users.reachable()
        if problem is not None:
            raise podusers.PodUserError(problem)
        ident = users.identity(self.pod, c.spec)
        (self.sandbox / c.name).mkdir(parents=True, exist_ok=True)
        self._own_files()  # container directories made since the sandbox was prepared
        own = {e.get("name") for e in c.spec.get("env") or []}
        work = self.sandbox / "work"
        env = dict(env)
        if "HOME" not in own:
            env["HOME"] = str(work)  # the host user's HOME is not theirs
        if progress_reader.ENV not in own:
            env[progress_reader.ENV] = str(
                progress_reader.pod_user_progress_path(self.sandbox, c.name)
            )
        if not c.spec.get("workingDir"):
            cwd = work  # the sandbox itself is root's: the pod may not write where root does
        return users.wrap(argv, ident), env, cwd

    def _started(
        self, c: Container, attempt: processes.Attempt, env: dict[str, str], cwd: Path
    ) -> None:
        c.attempt, c.running, c.env, c.cwd = attempt, True, env, cwd
        if self.start_time is None:
            self.start_time = rfc3339(time.time())
        c.state = {"running": {"startedAt": rfc3339(time.time())}}
        c.ready = not self._readiness(c)
        c.started = not c.spec.get("startupProbe")
        self.event("Normal", "Started", f"Started container {c.name}")
        self._start_probes(c, attempt)

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
        term = _terminated(rec, self.cid(c))
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

    # ------------------------------------------------------------------ probes
    def _start_probes(self, c: Container, attempt: processes.Attempt) -> None:
        if not c.env:
            try:
                _, c.env, c.cwd, _ = self._resolve(c)
            except (EnvError, VolumeError):
                return
        c.probes.append(asyncio.get_running_loop().create_task(self._probes(c, attempt)))

    async def _probes(self, c: Container, attempt: processes.Attempt) -> None:
        """The startup probe first (if any); then liveness and readiness side by side."""
        startup = c.spec.get("startupProbe")
        if startup:
            c.started = False
            if not await self._probe_loop(c, attempt, "startupProbe", startup):
                return
        c.started = True
        if not c.spec.get("readinessProbe"):
            c.ready = True
        self.wake.set()
        loops = [
            self._probe_loop(c, attempt, kind, c.spec[kind])
            for kind in ("livenessProbe", "readinessProbe")
            if c.spec.get(kind)
        ]
        await asyncio.gather(*loops)

    async def _probe_loop(
        self, c: Container, attempt: processes.Attempt, kind: str, probe: Obj
    ) -> bool:
        """Probe until the container ends; a startup probe returns True on its first success."""
        await asyncio.sleep(float(probe.get("initialDelaySeconds") or 0))
        period = float(probe.get("periodSeconds") or 10)
        need_ok = int(probe.get("successThreshold") or 1)
        need_bad = int(probe.get("failureThreshold") or 3)
        oks = bads = 0
        label = {"livenessProbe": "Liveness", "readinessProbe": "Readiness"}.get(kind, "Startup")
        while c.attempt is attempt and c.running:
            info = oci.marker(attempt.container_dir, attempt.number)
            wrap = oci.exec_argv(info, [], tty=False) if info else []
            if not info and self.kl.pod_users.enabled:  # the probe runs as the container does
                try:
                    wrap = self.kl.pod_users.wrap([], self.kl.pod_users.identity(self.pod, c.spec))
                except podusers.PodUserError:
                    return False
            host = self.ip or "127.0.0.1"  # OCI containers share the node network too
            ok, message = await run_probe(probe, c.spec, c.env, c.cwd, wrap=wrap, host=host)
            if not (c.attempt is attempt and c.running):
                return False
            if ok:
                oks, bads = oks + 1, 0
                if kind == "startupProbe":
                    return True
                if kind == "readinessProbe" and oks >= need_ok and not c.ready:
                    c.ready = True
                    self.wake.set()
            else:
                oks, bads = 0, bads + 1
                self.event("Warning", "Unhealthy", f"{label} probe failed: {message}")
                if bads >= need_bad:
                    if kind == "readinessProbe":
                        if c.ready:
                            c.ready = False
                            self.wake.set()
                    else:
                        self.event(
                            "Normal",
                            "Killing",
                            f"Container {c.name} failed {label.lower()} probe, will be restarted",
                        )
                        grace = float(
                            (self.pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
                        )
                        await attempt.stop(grace)
                        self.wake.set()
                        return False
            await asyncio.sleep(period)
        return False

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
            c.state = _terminated(rec, self.cid(c))

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
    def _conditions(self, phase: str) -> list[Obj]:
        old = {c.get("type"): c for c in (self.pod.get("status") or {}).get("conditions") or []}
        now = rfc3339(time.time())

        def cond(type_: str, ok: bool, reason: str = "", message: str = "") -> Obj:
            status = "True" if ok else "False"
            prev = old.get(type_) or {}
            out: Obj = {
                "type": type_,
                "status": status,
                "lastProbeTime": None,
                "lastTransitionTime": prev.get("lastTransitionTime", now)
                if prev.get("status") == status
                else now,
            }
            if not ok and reason:
                out["reason"] = reason
                if message:
                    out["message"] = message
            return out

        pending_init = [c.name for c in self.inits if not (c.done and c.succeeded)]
        unready = [c.name for c in self.apps if not c.ready]
        done = phase in ("Succeeded", "Failed")
        initialized = not pending_init or (phase == "Succeeded")
        ready_reason = "PodCompleted" if done else "ContainersNotReady"
        ready_msg = "" if done else f"containers with unready status: [{' '.join(unready)}]"
        conds = [
            cond(
                "Initialized",
                initialized,
                "ContainersNotInitialized" if not done else "PodCompleted",
                f"containers with incomplete status: [{' '.join(pending_init)}]"
                if not done
                else "",
            ),
            cond("Ready", not unready and not done, ready_reason, ready_msg),
            cond("ContainersReady", not unready and not done, ready_reason, ready_msg),
        ]
        sched = old.get("PodScheduled") or {
            "type": "PodScheduled",
            "status": "True",
            "lastProbeTime": None,
            "lastTransitionTime": now,
        }
        return [*conds, sched]

    def _phase(self) -> str:
        if self.failed:
            return "Failed"
        if self.apps and all(c.done for c in self.apps):
            return "Succeeded" if all(c.succeeded for c in self.apps) else "Failed"
        if any(
            c.running or c.restart_count > 0 or "terminated" in c.state or c.last_state
            for c in self.apps
        ):
            return "Running"
        return "Pending"

    def _container_status(self, c: Container) -> Obj:
        image = c.spec.get("image") or ""
        st: Obj = {
            "name": c.name,
            "state": c.state,
            "lastState": c.last_state,
            "ready": c.ready,
            "restartCount": c.restart_count,
            "image": image,
            "imageID": f"local://{image}" if image else "",
            "started": c.running and c.started,
        }
        if c.attempt is not None:
            st["containerID"] = self.cid(c)
        return st

    def build_status(self) -> Obj:
        phase = self._phase()
        if phase in ("Succeeded", "Failed"):
            for c in self.all():
                if "waiting" in c.state and self.failed:
                    c.state = {"waiting": c.state["waiting"]}
        host = "127.0.0.1"
        status: Obj = {
            "phase": phase,
            "conditions": self._conditions(phase),
            "hostIP": host,
            "hostIPs": [{"ip": host}],
            "startTime": self.start_time
            or (self.pod.get("status") or {}).get("startTime")
            or rfc3339(time.time()),
            "qosClass": qos_class(self.pod),
            "containerStatuses": [self._container_status(c) for c in self.apps],
        }
        if self.ip is not None:
            status["podIP"] = self.ip
            status["podIPs"] = [{"ip": self.ip}]
        if self.inits:
            status["initContainerStatuses"] = [self._container_status(c) for c in self.inits]
        if self.failed and self.failed_reason:
            status["reason"] = self.failed_reason
            status["message"] = self.failed_message
        return status

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


def qos_class(pod: Obj) -> str:
    """Guaranteed, Burstable or BestEffort, as Kubernetes computes it."""
    spec = pod.get("spec") or {}
    cs = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    any_set = False
    guaranteed = True
    for c in cs:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        if req or lim:
            any_set = True
        for r in ("cpu", "memory"):
            if r not in lim or (r in req and req[r] != lim[r]):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


WorkerFactory = Callable[["KubeletHost", Obj], PodWorker]
