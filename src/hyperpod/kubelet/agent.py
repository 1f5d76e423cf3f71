"""The process kubelet: registers this machine as a Node and runs its pods as local processes.

It watches pods bound to its node (``spec.nodeName``), keeps one :class:`PodWorker` per pod,
renews the node's Lease every ``kubelet.heartbeatSeconds`` (10), and on start re-adopts pods
whose containers survived a control-plane restart. Stopping the kubelet leaves containers
running (they belong to their shims); deleting a pod is what stops them.

Config (``ctx.config``): ``nodes.local`` (name, instanceType; ``enabled: false`` turns the local
node off), ``kubelet.backoffBaseSeconds`` (10), ``kubelet.backoffMaxSeconds`` (300) and
``kubelet.runtime`` (``process`` | ``oci`` | ``auto``; see kubelet/oci.py) and
``kubelet.podIPRange`` (``127.112.0.0/12``) and ``kubelet.podHostsFile`` (``auto`` | ``off``;
see kubelet/podnet.py) and ``kubelet.podUsers`` (``shared`` | ``perNamespace``; see
kubelet/podusers.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from hyperpod.api.instance_types import EFA, GPU
from hyperpod.api.wellknown import HEARTBEAT_ANNOTATION
from hyperpod.apiserver.errors import ApiError
from hyperpod.apiserver.patching import PatchType
from hyperpod.kubelet import devices as devmod
from hyperpod.kubelet import hostenv, oci, podnet, podusers, processes
from hyperpod.kubelet.exec_session import LocalExec
from hyperpod.kubelet.host import SandboxRef, WorkerRef
from hyperpod.kubelet.images import ImageStore
from hyperpod.kubelet.logs import open_log
from hyperpod.kubelet.pods import PodWorker
from hyperpod.kubelet.restart_in_place import restart_in_place
from hyperpod.runtime import nodes
from hyperpod.runtime.context import OPEN_LOG, RESTART_IN_PLACE, Component, ControlPlaneContext
from hyperpod.runtime.machinery import Informer, object_key, record_event

log = logging.getLogger(__name__)
Obj = dict[str, Any]


class Kubelet:
    def __init__(self, ctx: ControlPlaneContext) -> None:
        self.ctx = ctx
        self.reg = ctx.reg
        self.data_dir = Path(ctx.data_dir)
        cfg = ctx.config.kubelet
        self.node_name = nodes.local_node_name(ctx.config)
        self.backoff_base = cfg.backoff_base_seconds
        self.backoff_max = cfg.backoff_max_seconds
        self.heartbeat = cfg.heartbeat_seconds
        self.base_env = hostenv.inherited(os.environ)  # an allow-list, see kubelet/hostenv.py
        self.merge = PatchType.MERGE
        self.devices: dict[str, list[devmod.Device]] = {}
        if ctx.addon_enabled("devicePlugins"):
            self.devices = {GPU: devmod.discover_gpus(), EFA: devmod.discover_efa()}
        self.allocatable: dict[str, str] = {}
        self.workers: dict[str, PodWorker] = {}
        try:
            self.addresses = podnet.PodAddresses(
                self.data_dir / "pods", cfg.pod_ip_range or podnet.DEFAULT_RANGE
            )
        except ValueError as exc:
            log.error("%s; using %s", exc, podnet.DEFAULT_RANGE)
            self.addresses = podnet.PodAddresses(self.data_dir / "pods")
        self.allocated: dict[
            str, devmod.Allocation
        ] = {}  # pod uid -> devices, before the watch echoes it
        self.informer = Informer(self.reg, "pods", field_selector=f"spec.nodeName={self.node_name}")
        self.services = Informer(self.reg, "services")  # hosts files follow Services
        self.images = ImageStore(self.data_dir)
        self.runtime_setting = cfg.runtime
        self.oci_probe = oci.Probe(
            False, "", "the OCI runtime was not asked for (runtime: process)"
        )
        self.default_runtime = "process"
        self.hosts_setting = cfg.pod_hosts_file
        self.pod_users = podusers.PodUsers(self.data_dir, cfg.pod_users)
        if self.pod_users.requested != "shared":
            if self.pod_users.enabled:
                log.info("process pods run as a Unix user per namespace (kubelet.podUsers)")
            else:
                log.warning("kubelet.podUsers perNamespace is off: %s", self.pod_users.why_not())
        self.unshare: list[str] | None = None  # set by probe_runtime where mount namespaces work
        self.host_hosts = podnet.host_lines()

    def probe_runtime(self) -> None:
        """Decide the node's default runtime once: ``auto`` picks OCI only if a probe starts."""
        if self.hosts_setting != "off":
            self.unshare = podnet.probe_hosts_mount(self.data_dir / "hosts-probe")
            log.info("per-pod /etc/hosts: %s", "on" if self.unshare else "off (no unshare/mount)")
        if self.runtime_setting == "process":
            return
        self.oci_probe = oci.probe(self.data_dir / "runc-probe")
        if self.runtime_setting == "oci" or self.oci_probe.ok:
            self.default_runtime = "oci"
        log.info(
            "kubelet runtime: %s (%s: %s)",
            self.default_runtime,
            self.oci_probe.runtime or "runc",
            self.oci_probe.reason,
        )

    def runtime_for(self, pod: Obj) -> str:
        """The pod's annotation ``hyperpod.local/runtime`` if set, else the node's default."""
        asked = ((pod.get("metadata") or {}).get("annotations") or {}).get(oci.RUNTIME_ANNOTATION)
        return asked if asked in ("process", "oci") else self.default_runtime

    def runtime_description(self) -> str:
        if self.default_runtime == "oci":
            return f"oci ({self.oci_probe.runtime})"
        if self.runtime_setting == "process":
            return "process"
        return f"process (oci unavailable: {self.oci_probe.reason})"

    # ------------------------------------------------------------------ services for workers
    def current(self, key: str) -> Obj | None:
        return self.informer.cache.get(key)

    def lookup(self, resource: str, namespace: str, name: str) -> Obj | None:
        return self.reg.try_get(resource, name, namespace)

    def service_names(self, namespace: str) -> set[str]:
        try:
            return {s["metadata"]["name"] for s in self.reg.list("services", namespace)}
        except ApiError:
            return set()

    def service_addresses(self, namespace: str) -> dict[str, str]:
        """Service name -> clusterIP ("None" for headless) in ``namespace``."""
        try:
            services = self.reg.list("services", namespace)
        except ApiError:
            return {}
        return {
            s["metadata"]["name"]: str((s.get("spec") or {}).get("clusterIP") or "None")
            for s in services
        }

    def pod_address(self, worker: SandboxRef) -> str:
        """The worker's pod IP (allocated once, kept in its sandbox) and its hosts file."""
        if podnet.host_network(worker.pod):
            ip = podnet.LOOPBACK
        else:
            ip = self.addresses.ensure(worker.uid, worker.sandbox)
        self._write_hosts(worker, ip)
        return ip

    def _write_hosts(self, worker: SandboxRef, ip: str) -> None:
        ns = worker.pod["metadata"]["namespace"]
        with contextlib.suppress(OSError):
            services = {ns: self.service_addresses(ns)}
            text = podnet.hosts_text(worker.pod, ip, services, self.host_hosts)
            (worker.sandbox / podnet.HOSTS_FILE).write_text(text)

    def _on_service(self, typ: str, svc: Obj, old: Obj | None) -> None:
        """Keep running pods' hosts files current, as cluster DNS would be."""
        ns = svc["metadata"].get("namespace")
        for w in list(self.workers.values()):
            mine = w.pod["metadata"].get("namespace") == ns
            if mine and w.ip is not None and w.sandbox.is_dir() and not w.finished():
                self._write_hosts(w, w.ip)

    def release_address(self, uid: str) -> None:
        self.addresses.release(uid)

    def devices_in_use(self, exclude_uid: str) -> set[str]:
        used: set[str] = set()
        live = {}
        for pod in self.informer.cache.values():
            uid = str(pod["metadata"].get("uid"))
            if uid == exclude_uid or (pod.get("status") or {}).get("phase") in (
                "Succeeded",
                "Failed",
            ):
                continue
            live[uid] = devmod.allocation_of(pod) or self.allocated.get(uid, {})
        for uid, alloc in self.allocated.items():
            w = next((w for w in self.workers.values() if w.uid == uid), None)
            if uid != exclude_uid and w is not None and not w.finished():
                live.setdefault(uid, alloc)
        for alloc in live.values():
            for per in alloc.values():
                for ids in per.values():
                    used.update(ids)
        # GPUs the health agent marked unhealthy are never handed out.
        node = self.reg.try_get("nodes", self.node_name)
        raw = (
            ((node or {}).get("metadata") or {})
            .get("annotations", {})
            .get("hyperpod.local/unhealthy-devices")
        )
        with contextlib.suppress(ValueError, TypeError):
            used.update(str(x) for x in json.loads(raw or "[]"))
        return used

    def worker_done(self, worker: WorkerRef) -> None:
        self.allocated.pop(worker.uid, None)
        if self.workers.get(worker.key) is worker:
            del self.workers[worker.key]
            # The same name may have come back with a new uid while we were stopping.
            pod = self.current(worker.key)
            if pod is not None and str(pod["metadata"].get("uid")) != worker.uid:
                self._ensure(pod)

    # ------------------------------------------------------------------ lifecycle
    def _ensure(self, pod: Obj) -> None:
        key = object_key(pod)
        w = self.workers.get(key)
        if w is None:
            w = PodWorker(self, pod)
            self.workers[key] = w
            w.task = asyncio.get_running_loop().create_task(self._guard(w), name=f"pod:{key}")
        w.wake.set()

    async def _guard(self, w: PodWorker) -> None:
        try:
            await w.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("pod worker %s failed", w.key)

    def _on_pod(self, typ: str, pod: Obj, old: Obj | None) -> None:
        key = object_key(pod)
        if typ == "DELETED":
            w = self.workers.get(key)
            if w is not None:
                w.wake.set()
            return
        self._ensure(pod)

    def register(self) -> None:
        node = nodes.local_node(self.ctx.config, self.data_dir)
        self.allocatable = dict(node["status"]["allocatable"])
        created = self.reg.try_get("nodes", self.node_name) is None
        registered = nodes.register(self.reg, node)
        with contextlib.suppress(OSError):
            (self.data_dir / "node-runtime").write_text(
                f"{self.node_name}: {self.runtime_description()}\n"
            )
        with contextlib.suppress(ApiError):
            runtime = {oci.RUNTIME_ANNOTATION: self.runtime_description()}
            self.reg.patch(
                "nodes", self.node_name, {"metadata": {"annotations": runtime}}, self.merge
            )
            version = (
                f"runc://{self.oci_probe.runtime.removeprefix('runc ')}"
                if self.default_runtime == "oci"
                else "process://hyperpod"
            )
            registered = self.reg.patch(
                "nodes/status",
                self.node_name,
                {"status": {"nodeInfo": {"containerRuntimeVersion": version}}},
                self.merge,
            )
        nodes.renew_lease(self.reg, self.node_name)
        ref = {**registered, "kind": "Node", "apiVersion": "v1"}
        record_event(
            self.reg, ref, "Normal", "Starting", "Starting kubelet.", "kubelet", host=self.node_name
        )
        if created:
            record_event(
                self.reg,
                ref,
                "Normal",
                "NodeReady",
                f"Node {self.node_name} status is now: NodeReady",
                "kubelet",
                host=self.node_name,
            )

    async def reap_orphans(self) -> None:
        """Stop containers of pods that were removed while no kubelet was running."""
        await self.informer.synced.wait()
        root = self.data_dir / "pods"
        if not root.is_dir():
            return
        for sandbox in list(root.iterdir()):
            known = {str(p["metadata"].get("uid")) for p in self.informer.cache.values()}
            known |= {w.uid for w in self.workers.values()}
            if sandbox.name in known or not sandbox.is_dir():
                continue
            for cdir in sandbox.iterdir():
                for n in processes.attempt_numbers(cdir):
                    attempt = processes.Attempt(cdir, n)
                    if attempt.finished() is None:
                        log.info("stopping orphaned container %s/%s", sandbox.name, cdir.name)
                        await attempt.stop(2.0)
            shutil.rmtree(sandbox, ignore_errors=True)

    async def run(self) -> None:
        await asyncio.to_thread(self.probe_runtime)
        self.register()
        self.informer.add_handler(self._on_pod)
        self.informer.start()
        self.services.add_handler(self._on_service)
        self.services.start()
        reaper = asyncio.get_running_loop().create_task(self.reap_orphans())
        try:
            while not self.ctx.stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.ctx.stopping.wait(), self.heartbeat)
                if self.ctx.stopping.is_set():
                    break
                try:
                    node = self.reg.try_get("nodes", self.node_name)
                    ann = ((node or {}).get("metadata") or {}).get("annotations") or {}
                    if ann.get(HEARTBEAT_ANNOTATION) == "false":
                        continue  # a simulated crash or reboot (fault injection, node recovery)
                    nodes.renew_lease(self.reg, self.node_name)
                    if node is None:
                        self.register()
                    else:
                        nodes.mark_ready(self.reg, node)
                except ApiError:
                    log.exception("kubelet heartbeat failed")
        finally:
            reaper.cancel()
            await self.informer.stop()
            await self.services.stop()
            tasks = [w.task for w in self.workers.values() if w.task is not None]
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t


async def _run_kubelet(ctx: ControlPlaneContext) -> None:
    # pods/log reads container logs from the sandbox (see docs/internals.md, "Logs").
    ctx.services["pod_logs"] = functools.partial(open_log, Path(ctx.data_dir))
    ctx.services[OPEN_LOG] = open_log
    ctx.services[RESTART_IN_PLACE] = restart_in_place
    # pods/exec runs commands in this node's containers (see kubelet/exec_session.py).
    ctx.services["pod_exec"] = LocalExec(Path(ctx.data_dir))
    if nodes.local_config(ctx.config) is None:
        return
    try:
        nodes.local_node(ctx.config, Path(ctx.data_dir))
    except ValueError as exc:
        log.error("kubelet not started: bad cluster config: %s", exc)
        return
    await Kubelet(ctx).run()


def component() -> Component:
    return Component(name="kubelet", start=_run_kubelet)
