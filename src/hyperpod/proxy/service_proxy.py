"""The service proxy, in the control plane: kube-proxy's job for one machine, in user space.

For every TCP port of every Service with a clusterIP it listens on ``clusterIP:port`` (the
service range lies in 127.0.0.0/8, so binding needs no interface change on Linux), and for
NodePort and LoadBalancer Services also on ``127.0.0.1:<nodePort>``; a LoadBalancer Service
also listens on ``127.0.0.1:<port>`` and, once every port is bound there, reports
``status.loadBalancer.ingress: [{ip: 127.0.0.1}]`` (its EXTERNAL-IP; pending otherwise).
Each accepted connection goes to the next ready endpoint (round robin) of that Service port,
read from the Service's EndpointSlices as they change (from its Endpoints for Services without a selector, such as
``default/kubernetes``); an endpoint that refuses is skipped. A Service port with no ready
endpoint closes the connection at once (kube-proxy rejects it). Endpoints that are pods on
simulated nodes (addresses in ``kubelet.simulatedPodIPRange``) are never forwarded to: they
run no process. A Service port whose only ready endpoints are simulated refuses connections
the same way, and a Warning Event ``SimulatedEndpoints`` on the Service says why. UDP is not
forwarded. The
data path (listeners, connections, copying) runs on its own thread and event loop; the control
side on the control plane's loop only recomputes the routing table when objects change.
A port that cannot be bound (another program, or another local cluster using the same ranges)
is logged and retried every ``RETRY_S`` seconds. Stopping closes every listener and
connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import threading
import time
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

from hyperpod.apiserver.errors import ApiError
from hyperpod.controllers.endpointslices import SERVICE_NAME, SLICES
from hyperpod.runtime.context import Component, ControlPlaneContext
from hyperpod.runtime.machinery import Informer, record_event
from hyperpod.runtime.simulated_net import is_simulated, simulated_range

log = logging.getLogger(__name__)
Obj = dict[str, Any]
Address = tuple[str, int]
Route = tuple[str, str, str]  # namespace, service, port name
RETRY_S = 10.0
CONNECT_TIMEOUT_S = 3.0
CHUNK = 256 * 1024
NODE_HOST = "127.0.0.1"
T = TypeVar("T")


def routes(services: list[Obj]) -> dict[Address, Route]:
    """Every address the proxy should listen on, and the Service port behind it."""
    out: dict[Address, Route] = {}
    for svc in services:
        md = svc.get("metadata") or {}
        spec = svc.get("spec") or {}
        kind = spec.get("type") or "ClusterIP"
        ip = spec.get("clusterIP") or ""
        if kind == "ExternalName" or ip in ("", "None"):
            continue
        try:
            if not ipaddress.ip_address(ip).is_loopback:
                continue
        except ValueError:
            continue
        for p in spec.get("ports") or []:
            if (p.get("protocol") or "TCP") != "TCP" or not p.get("port"):
                continue
            route = (str(md.get("namespace")), str(md.get("name")), str(p.get("name") or ""))
            out[(ip, int(p["port"]))] = route
            if kind in ("NodePort", "LoadBalancer") and p.get("nodePort"):
                out[(NODE_HOST, int(p["nodePort"]))] = route
            if kind == "LoadBalancer":
                out.setdefault((NODE_HOST, int(p["port"])), route)
    return out


def load_balancer_ingress(svc: Obj, bound: set[Address]) -> list[Obj]:
    """``status.loadBalancer.ingress`` of a LoadBalancer Service: 127.0.0.1 once every TCP port
    listens on 127.0.0.1:<port> (like k3s' ServiceLB), else empty (pending)."""
    ports = [
        int(p["port"])
        for p in (svc.get("spec") or {}).get("ports") or []
        if (p.get("protocol") or "TCP") == "TCP" and p.get("port")
    ]
    if ports and all((NODE_HOST, port) in bound for port in ports):
        return [{"ip": NODE_HOST, "ipMode": "Proxy"}]
    return []


def slice_backends(slices: list[Obj], port_name: str) -> list[Address]:
    """Ready endpoints of one Service port, in a stable order."""
    out: list[Address] = []
    for sl in sorted(slices, key=lambda s: str(s["metadata"]["name"])):
        ports = [
            p
            for p in sl.get("ports") or []
            if (p.get("name") or "") == port_name and (p.get("protocol") or "TCP") == "TCP"
        ]
        if not ports or not ports[0].get("port"):
            continue
        number = int(ports[0]["port"])
        for ep in sl.get("endpoints") or []:
            if (ep.get("conditions") or {}).get("ready") is False:
                continue
            for addr in (ep.get("addresses") or [])[:1]:
                out.append((str(addr), number))
    return out


def endpoints_backends(ep: Obj | None, port_name: str) -> list[Address]:
    out: list[Address] = []
    for subset in (ep or {}).get("subsets") or []:
        ports = [p for p in subset.get("ports") or [] if (p.get("name") or "") == port_name]
        if not ports:
            continue
        for addr in subset.get("addresses") or []:
            out.append((str(addr.get("ip")), int(ports[0]["port"])))
    return out


class DataPath:
    """The forwarding side: listeners and connections on a thread and event loop of their own,
    so traffic through Services never queues behind API requests (and the reverse). It reads
    only ``table`` and ``backends``, which the control side replaces whole."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="service-proxy", daemon=True)
        self.table: dict[Address, Route] = {}
        self.backends: dict[Route, list[Address]] = {}
        self.servers: dict[Address, asyncio.Server] = {}
        self.next: dict[Route, int] = {}
        self.conns: set[asyncio.Task[None]] = set()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        self.loop.close()

    def start(self) -> None:
        self.thread.start()

    async def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the data path's loop and wait for it from the caller's loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    async def listen(self, address: Address) -> None:
        host, port = address
        server = await asyncio.start_server(functools.partial(self._serve, address), host, port)
        self.servers[address] = server

    async def unlisten(self, address: Address) -> None:
        server = self.servers.pop(address, None)
        if server is not None:
            server.close()

    async def close(self) -> None:
        for address in list(self.servers):
            await self.unlisten(address)
        for task in list(self.conns):
            task.cancel()
        for task in list(self.conns):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def stop(self) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=5)

    def _order(self, route: Route, backends: list[Address]) -> Iterator[Address]:
        start = self.next.get(route, 0) % len(backends)
        self.next[route] = start + 1
        for i in range(len(backends)):
            yield backends[(start + i) % len(backends)]

    async def _serve(
        self, address: Address, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.conns.add(task)
        try:
            route = self.table.get(address)
            backends = self.backends.get(route, []) if route is not None else []
            if route is None or not backends:
                return
            for backend in self._order(route, backends):
                try:
                    up_r, up_w = await asyncio.wait_for(
                        asyncio.open_connection(*backend), CONNECT_TIMEOUT_S
                    )
                except (OSError, TimeoutError):
                    continue
                try:
                    await asyncio.gather(_pipe(reader, up_w), _pipe(up_r, writer))
                finally:
                    up_w.close()
                return
        finally:
            writer.close()
            if task is not None:
                self.conns.discard(task)


class ServiceProxy:
    """The control side, on the control plane's loop: watches Services, EndpointSlices and
    Endpoints and tells the data path what to listen on and where to forward."""

    def __init__(self, ctx: ControlPlaneContext) -> None:
        self.ctx = ctx
        self.reg = ctx.reg
        self.services = Informer(self.reg, "services")
        self.slices = Informer(self.reg, SLICES)
        self.endpoints = Informer(self.reg, "endpoints")
        self.data = DataPath()
        self.failed: dict[Address, float] = {}  # address -> when to try binding again
        self.wake = asyncio.Event()
        try:
            self.simulated: ipaddress.IPv4Network | None = simulated_range(
                ctx.config.kubelet.simulated_pod_ip_range
            )
        except ValueError:
            self.simulated = None  # the simulated kubelet logs the bad setting
        self.only_simulated: set[Route] = set()  # routes warned about (an Event each)
        for inf in (self.services, self.slices, self.endpoints):
            inf.add_handler(lambda *_: self.wake.set())

    def backends(self, route: Route) -> list[Address]:
        ns, name, port_name = route
        slices = [
            s
            for s in self.slices.list()
            if s["metadata"].get("namespace") == ns
            and (s["metadata"].get("labels") or {}).get(SERVICE_NAME) == name
        ]
        if slices:
            return slice_backends(slices, port_name)
        return endpoints_backends(self.endpoints.get(f"{ns}/{name}"), port_name)

    def real_backends(self, route: Route) -> list[Address]:
        """Ready endpoints that run a process; warns once when only simulated pods are ready."""
        every = self.backends(route)
        net = self.simulated
        real = [b for b in every if net is None or not is_simulated(b[0], net)]
        if real or not every:
            self.only_simulated.discard(route)
        elif route not in self.only_simulated:
            self.only_simulated.add(route)
            svc = self.services.get(f"{route[0]}/{route[1]}")
            if svc is not None:
                record_event(
                    self.reg,
                    {**svc, "kind": "Service", "apiVersion": "v1"},
                    "Warning",
                    "SimulatedEndpoints",
                    f"port {route[2] or '<unnamed>'}: its {len(every)} ready endpoint(s) are "
                    "pods on simulated nodes, which run no process: connections are refused",
                    "service-proxy",
                )
        return real

    async def sync(self) -> None:
        want = routes(self.services.list())
        self.only_simulated &= set(want.values())
        self.data.backends = {route: self.real_backends(route) for route in set(want.values())}
        self.data.table = want
        for address in [a for a in self.data.servers if a not in want]:
            await self.data.call(self.data.unlisten(address))
        for address in [a for a in self.failed if a not in want]:
            del self.failed[address]
        now = time.monotonic()
        for address, route in want.items():
            if address in self.data.servers or self.failed.get(address, 0.0) > now:
                continue
            try:
                await self.data.call(self.data.listen(address))
            except OSError as exc:
                if address not in self.failed:
                    log.warning(
                        "service %s/%s: cannot listen on %s:%d: %s (retrying)",
                        route[0],
                        route[1],
                        address[0],
                        address[1],
                        exc.strerror,
                    )
                self.failed[address] = now + RETRY_S
                continue
            self.failed.pop(address, None)

    def publish_ingress(self) -> None:
        """Report which LoadBalancer Services answer on 127.0.0.1 (their EXTERNAL-IP)."""
        bound = set(self.data.servers)
        for svc in self.services.list():
            spec, md = svc.get("spec") or {}, svc["metadata"]
            if spec.get("type") != "LoadBalancer":
                continue
            want = load_balancer_ingress(svc, bound)
            status = svc.get("status") or {}
            if ((status.get("loadBalancer") or {}).get("ingress") or []) == want:
                continue
            fresh = self.reg.try_get("services", md["name"], md["namespace"])
            if fresh is None:
                continue
            fresh.setdefault("status", {})["loadBalancer"] = {"ingress": want} if want else {}
            try:
                self.reg.update("services/status", fresh, md["namespace"])
            except ApiError as exc:
                log.info("service %s/%s: ingress not written: %s", md["namespace"], md["name"], exc)

    async def run(self) -> None:
        for inf in (self.services, self.slices, self.endpoints):
            inf.start()
        self.data.start()
        try:
            for inf in (self.services, self.slices, self.endpoints):
                await inf.synced.wait()
            while not self.ctx.stopping.is_set():
                self.wake.clear()
                await self.sync()
                self.publish_ingress()
                stop = asyncio.ensure_future(self.ctx.stopping.wait())
                woken = asyncio.ensure_future(self.wake.wait())
                await asyncio.wait(
                    [stop, woken], timeout=RETRY_S, return_when=asyncio.FIRST_COMPLETED
                )
                for f in (stop, woken):
                    f.cancel()
        finally:
            with contextlib.suppress(Exception):
                await self.data.call(self.data.close())
            self.data.stop()
            for inf in (self.services, self.slices, self.endpoints):
                await inf.stop()


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    """Copy until end of stream, then half-close the other side."""
    try:
        while data := await src.read(CHUNK):
            dst.write(data)
            await dst.drain()
        if dst.can_write_eof():
            dst.write_eof()
    except (ConnectionError, OSError, RuntimeError):
        dst.close()


async def _run(ctx: ControlPlaneContext) -> None:
    await ServiceProxy(ctx).run()


def component() -> Component:
    return Component(name="service-proxy", start=_run)
