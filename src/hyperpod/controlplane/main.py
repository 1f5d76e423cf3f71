"""Run the local control plane in the foreground: ``python -m hyperpod.controlplane serve``.

One process: the registry over ``<data-dir>/state.db``, the HTTP API on 127.0.0.1, and every
component from :mod:`hyperpod.controlplane.components`. It writes ``<data-dir>/kubeconfig``
(with a bearer token kept in ``<data-dir>/token``) and answers /readyz once the CRDs are
installed and the components started. SIGTERM/SIGINT stop it gracefully.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import logging
import os
import secrets
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any

import uvicorn
import yaml

from hyperpod.api.controlplane_config import ControlPlaneConfig, ControlPlaneConfigError
from hyperpod.apiserver import services as cluster_services
from hyperpod.apiserver import typecheck
from hyperpod.apiserver.app import ApiServer
from hyperpod.apiserver.errors import AlreadyExists, ApiError
from hyperpod.apiserver.registry import CRD_RESOURCE, Registry
from hyperpod.apiserver.ws_protocol import KubeWebSocketProtocol
from hyperpod.controlplane import clientcerts, repair, security, tlsport
from hyperpod.controlplane import components as components_mod
from hyperpod.controlplane.certs import ensure_certificates
from hyperpod.runtime.context import Component, ControlPlaneContext

log = logging.getLogger("hyperpod.controlplane")

# A refused exec upgrade (answered with a Status, see apiserver/streaming.py) makes uvicorn's
# WebSocket layer log "returned without completing handshake" although the refusal was sent,
# and kubectl's SPDY retry that follows logs "Unsupported upgrade request". Both are normal here.
_UVICORN_NOISE = ("ASGI callable returned without completing handshake", "Unsupported upgrade")

# Seconds an idle keep-alive connection stays open (kube-apiserver keeps them 90 s).
KEEP_ALIVE_SECONDS = 120


def _quiet_exec_refusals(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(_UVICORN_NOISE)


def load_token(data_dir: Path) -> str:
    """The bearer token of this cluster, created (0600) on first start."""
    path = data_dir / "token"
    if path.exists():
        path.chmod(0o600)
        token = path.read_text().strip()
        if token:
            return token
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token


def kubeconfig(cluster: str, server: str, token: str, ca_pem: bytes) -> dict[str, Any]:
    user = f"{cluster}-admin"
    ca_data = base64.b64encode(ca_pem).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": cluster, "cluster": {"server": server, "certificate-authority-data": ca_data}}
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {"name": cluster, "context": {"cluster": cluster, "user": user, "namespace": "default"}}
        ],
        "current-context": cluster,
        "preferences": {},
    }


def write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def install_crds(reg: Registry, comps: list[Component], ctx: ControlPlaneContext) -> None:
    """Create or update the CRDs each enabled component owns, through the normal write path."""
    for comp in comps:
        if comp.crds is None or (comp.addon and not ctx.addon_enabled(comp.addon)):
            continue
        for crd in comp.crds():
            name = crd["metadata"]["name"]
            try:
                reg.create(CRD_RESOURCE, crd)
            except AlreadyExists:
                current = reg.get(CRD_RESOURCE, name)
                if current.get("spec") != crd.get("spec"):
                    crd = {
                        **crd,
                        "metadata": {
                            **crd["metadata"],
                            "resourceVersion": current["metadata"]["resourceVersion"],
                        },
                    }
                    reg.update(CRD_RESOURCE, crd)


class ControlPlane:
    """Owns the registry, the HTTP server and the component tasks of one local cluster."""

    def __init__(
        self,
        data_dir: Path,
        port: int,
        host: str = "127.0.0.1",
        config: ControlPlaneConfig | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = port
        self.host = host
        self.config = config or ControlPlaneConfig.load({})
        self.reg: Registry | None = None
        self.server: uvicorn.Server | None = None
        self.tasks: list[asyncio.Task[None]] = []

    async def run(self) -> int:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)  # it holds the token, keys and every Secret
        token = load_token(self.data_dir)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            print(
                f"error: cannot listen on {self.host}:{self.port}: {exc.strerror}. "
                "Choose another port (--port) or stop what uses it.",
                file=sys.stderr,
            )
            return 2
        sock.listen(1024)
        port = sock.getsockname()[1]
        reg = self.reg = Registry(self.data_dir / "state.db")
        reg.ensure_system_namespaces()
        try:
            cluster_services.install(reg, self.config.services.cluster_ip_range, port)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        ctx = ControlPlaneContext(reg=reg, config=self.config, data_dir=self.data_dir)
        comps = components_mod.load()
        for comp in comps:
            if comp.addon and not ctx.addon_enabled(comp.addon):
                continue
            for resource, (default, validate) in comp.admission.items():
                reg.add_admission(resource, default, validate)
        install_crds(reg, comps, ctx)
        security.install(reg, self.data_dir, token, ctx.services)  # RBAC, tokens, audit
        app = ApiServer(reg, token, services=ctx.services)
        ctx.services["api"] = app
        cluster = self.config.cluster_name
        ca_crt, srv_crt, srv_key = ensure_certificates(self.data_dir / "pki")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        server_url = f"https://{host}:{port}"
        write_private(
            self.data_dir / "kubeconfig",
            yaml.safe_dump(
                kubeconfig(cluster, server_url, token, ca_crt.read_bytes()), sort_keys=False
            ),
        )
        (self.data_dir / "port").write_text(f"{port}\n")
        config = uvicorn.Config(
            app,
            ws=KubeWebSocketProtocol,  # accepts kubectl's SPDY/3.1+portforward.k8s.io
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=2,
            # Idle keep-alive connections stay open longer than any common client keeps them
            # (httpx 5 s, Go's transport 90 s): the client always closes first, so it never
            # sends a request on a connection the server is closing at the same moment.
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            ssl_certfile=str(srv_crt),
            ssl_keyfile=str(srv_key),
        )
        clientcerts.enable(config, self.data_dir / "pki")  # users from client certificates
        logging.getLogger("uvicorn.error").addFilter(_quiet_exec_refusals)
        server = self.server = uvicorn.Server(config)
        # Signals are ours: SIGTERM must stop the components before the HTTP server.
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, ctx.stopping.set)
        # Our accept loop in front of uvicorn: plain HTTP on this TLS port gets a 400.
        serve = loop.create_task(tlsport.serve(server, sock), name="http")
        for comp in comps:
            if comp.start is None or (comp.addon and not ctx.addon_enabled(comp.addon)):
                continue
            self.tasks.append(loop.create_task(_guard(comp, ctx), name=comp.name))
        # Give components one turn to register their services (log reader, nodes).
        await asyncio.sleep(0)
        # Objects alive after start-up (modules, catalog, schemas) never need collecting, and
        # the cyclic collector's full passes were the main source of tail latency: freeze them
        # and collect young objects less often.
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 100)
        app.ready = True
        threading.Thread(target=typecheck.warm_up, name="schema-warm-up", daemon=True).start()
        print(f"hyperpod control plane serving on {server_url}", flush=True)
        print(f"kubeconfig: {self.data_dir / 'kubeconfig'}", flush=True)
        stop_wait = loop.create_task(ctx.stopping.wait())
        await asyncio.wait([serve, stop_wait], return_when=asyncio.FIRST_COMPLETED)
        ctx.stopping.set()
        app.ready = False
        # Components see ``stopping`` and finish (the kubelet stops pods with their grace).
        grace = self.config.shutdown_grace_seconds
        if self.tasks:
            _, pending = await asyncio.wait(self.tasks, timeout=grace)
            for t in pending:
                t.cancel()
            for t in pending:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(serve, 5)
        reg.close()
        return 0


async def _guard(comp: Component, ctx: ControlPlaneContext) -> None:
    """Run one component; a crash is logged and the component restarted."""
    assert comp.start is not None
    while not ctx.stopping.is_set():
        try:
            await comp.start(ctx)
            return
        except asyncio.CancelledError:
            raise
        except ApiError:
            log.exception("component %s failed; restarting in 1s", comp.name)
        except Exception:
            log.exception("component %s crashed; restarting in 1s", comp.name)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ctx.stopping.wait(), 1.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hyperpod.controlplane")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the local control plane in the foreground")
    serve.add_argument("--data-dir", required=True, type=Path)
    serve.add_argument("--port", type=int, default=6443)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument(
        "--config",
        type=Path,
        default=None,
        help="control-plane config YAML (see docs/internals.md)",
    )
    serve.add_argument("--log-level", default="INFO")
    repair.add_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "repair":
        logging.basicConfig(level="WARNING", format="%(levelname)s %(message)s")
        return repair.run(args)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = ControlPlaneConfig.load({})
    if args.config is not None:
        try:
            loaded = yaml.safe_load(args.config.read_text())
        except (OSError, yaml.YAMLError) as exc:
            print(f"error: cannot read control-plane config {args.config}: {exc}", file=sys.stderr)
            return 2
        try:
            config = ControlPlaneConfig.load(loaded, str(args.config))
        except ControlPlaneConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    try:
        args.data_dir.mkdir(parents=True, exist_ok=True)
        probe = args.data_dir / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        print(
            f"error: data directory {args.data_dir} is not writable: {exc.strerror}",
            file=sys.stderr,
        )
        return 2
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    cp = ControlPlane(args.data_dir, args.port, args.host, config)
    profile_to = os.environ.get("HYPERPOD_PROFILE")
    if profile_to:
        # Developer aid: a cProfile of the whole process, written when it stops.
        import cProfile

        prof = cProfile.Profile()
        try:
            return prof.runcall(asyncio.run, cp.run())
        finally:
            prof.dump_stats(profile_to)
    return asyncio.run(cp.run())


if __name__ == "__main__":
    sys.exit(main())
