"""The process kubelet against a real registry: real processes, restarts, logs, deletion, env."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from hyperpod.apiserver.registry import Registry
from hyperpod.kubelet.agent import Kubelet
from hyperpod.kubelet.logs import open_log
from hyperpod.kubelet.processes import Attempt, attempt_numbers
from hyperpod.runtime.context import ControlPlaneContext
from hyperpod.runtime.nodes import local_node_name

pytestmark = pytest.mark.timeout(120)
NODE = "testnode"
CONFIG: dict[str, Any] = {
    "nodes": {"local": {"name": NODE}},
    "kubelet": {"backoffBaseSeconds": 0.3},
}


@contextlib.asynccontextmanager
async def kubelet(
    tmp: Path, config: dict[str, Any] | None = None, *, keep: bool = False
) -> AsyncIterator[ControlPlaneContext]:
    reg = Registry(tmp / "state.db")
    reg.ensure_system_namespaces()
    ctx = ControlPlaneContext(reg=reg, config=config or CONFIG, data_dir=tmp)
    task = asyncio.get_running_loop().create_task(Kubelet(ctx).run())
    while reg.try_get("nodes", NODE) is None:
        await asyncio.sleep(0.01)
    try:
        yield ctx
    finally:
        ctx.stopping.set()
        await asyncio.wait_for(task, 10)
        for pod in [] if keep else reg.list("pods"):
            for cdir in (tmp / "pods" / pod["metadata"]["uid"]).glob("*"):
                for n in attempt_numbers(cdir):
                    attempt = Attempt(cdir, n)
                    if attempt.finished() is None:
                        await attempt.stop(0)
        reg.close()


def pod(name: str, *containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"nodeName": NODE, "containers": list(containers), **spec},
    }


def sh(script: str, name: str = "main", **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox", "command": ["sh", "-c", script], **extra}


async def until(
    ctx: ControlPlaneContext, name: str, test: Callable[[dict[str, Any]], bool], timeout: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        last = ctx.reg.try_get("pods", name, "default")
        if last is not None and test(last):
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"pod {name} never reached the state; last: {last and last.get('status')}")


def phase(p: dict[str, Any]) -> str:
    return str((p.get("status") or {}).get("phase"))


def cstatus(p: dict[str, Any], i: int = 0) -> dict[str, Any]:
    return (p.get("status") or {}).get("containerStatuses", [{}])[i]


def events(ctx: ControlPlaneContext, name: str) -> list[tuple[str, str]]:
    return [
        (e["reason"], e["message"])
        for e in ctx.reg.list("events", "default")
        if e["involvedObject"]["name"] == name
    ]


async def logs(ctx: ControlPlaneContext, p: dict[str, Any], **kw: Any) -> bytes:
    return b"".join([c async for c in open_log(ctx.data_dir, p, **kw)])


def test_a_pod_runs_to_success_with_kubernetes_status_and_events(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with kubelet(tmp_path) as ctx:
            node = ctx.reg.get("nodes", NODE)
            assert (
                node["metadata"]["labels"]["sagemaker.amazonaws.com/node-health-status"]
                == "Schedulable"
            )
            assert ctx.reg.get("leases.coordination.k8s.io", NODE, "kube-node-lease")
            ctx.reg.create(
                "pods", pod("ok", sh("echo hello; sleep 0.3"), restartPolicy="OnFailure"), "default"
            )
            running = await until(ctx, "ok", lambda p: phase(p) == "Running")
            assert "running" in cstatus(running)["state"] and running["status"]["podIP"].startswith(
                "127.112."
            )
            done = await until(ctx, "ok", lambda p: phase(p) == "Succeeded")
            term = cstatus(done)["state"]["terminated"]
            assert (term["exitCode"], term["reason"]) == (0, "Completed")
            conds = {
                c["type"]: (c["status"], c.get("reason")) for c in done["status"]["conditions"]
            }
            assert (
                conds["Ready"] == ("False", "PodCompleted") and conds["PodScheduled"][0] == "True"
            )
            assert conds["Initialized"][0] == "True"
            assert await logs(ctx, done) == b"hello\n"
            reasons = [r for r, _ in events(ctx, "ok")]
            assert {"Pulled", "Created", "Started"} <= set(reasons)
            pulled = dict(events(ctx, "ok"))["Pulled"]
            assert "not pulled" in pulled

    asyncio.run(scenario())


def test_a_failing_pod_with_restart_never_fails_with_its_exit_code(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with kubelet(tmp_path) as ctx:
            ctx.reg.create("pods", pod("bad", sh("exit 3"), restartPolicy="Never"), "default")
            done = await until(ctx, "bad", lambda p: phase(p) == "Failed")
            term = cstatus(done)["state"]["terminated"]
            assert (term["exitCode"], term["reason"], cstatus(done)["restartCount"]) == (
                3,
                "Error",
                0,
            )

    asyncio.run(scenario())


def test_on_failure_restarts_with_backoff_and_keeps_previous_logs(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with kubelet(tmp_path) as ctx:
            script = "echo run; test -f $(MARK) && exit 0; n=$(ls $(DIR) | wc -l); touch $(DIR)/x$n; [ $n -ge 2 ] && touch $(MARK); exit 1"
            c = sh(
                script,
                env=[
                    {"name": "DIR", "value": str(tmp_path / "d")},
                    {"name": "MARK", "value": str(tmp_path / "mark")},
                ],
            )
            (tmp_path / "d").mkdir()
            ctx.reg.create("pods", pod("flaky", c, restartPolicy="OnFailure"), "default")
            crashing = await until(
                ctx,
                "flaky",
                lambda p: (
                    cstatus(p).get("state", {}).get("waiting", {}).get("reason")
                    == "CrashLoopBackOff"
                ),
            )
            assert cstatus(crashing)["lastState"]["terminated"]["exitCode"] == 1
            done = await until(ctx, "flaky", lambda p: phase(p) == "Succeeded")
            assert cstatus(done)["restartCount"] == 3
            assert await logs(ctx, done, previous=True) == b"run\n"
            assert "BackOff" in [r for r, _ in events(ctx, "flaky")]

    asyncio.run(scenario())


def test_a_missing_command_is_a_clear_failure_not_a_stuck_pod(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with kubelet(tmp_path) as ctx:
            c = {"name": "main", "image": "x", "command": ["foo-not-here"]}
            ctx.reg.create("pods", pod("nocmd", c, restartPolicy="Never"), "default")
            done = await until(ctx, "nocmd", lambda p: phase(p) == "Failed")
            term = cstatus(done)["state"]["terminated"]
            assert term["reason"] == "StartError" and term["exitCode"] == 128
            assert term["message"] == 'exec: "foo-not-here": executable file not found in $PATH'
            assert (
                "Failed",
                'Error: RunContainerError: exec: "foo-not-here": executable file not found in $PATH',
            ) in events(ctx, "nocmd")
            wd = sh("true", workingDir="/no/such/dir")
            ctx.reg.create("pods", pod("nowd", wd), "default")
            waiting = await until(
                ctx,
                "nowd",
                lambda p: (
                    cstatus(p).get("state", {}).get("waiting", {}).get("reason")
                    == "RunContainerError"
                ),
            )
            assert "/no/such/dir" in cstatus(waiting)["state"]["waiting"]["message"]

    asyncio.run(scenario())


def test_deletion_sends_sigterm_waits_the_grace_then_removes_the_pod(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with kubelet(tmp_path) as ctx:
            out = tmp_path / "seen"
            script = (
                "import signal,sys,time\n"
                "def h(*a):\n"
                f" open({str(out)!r}, 'w').write('term'); time.sleep(0.5); sys.exit(0)\n"
                "signal.signal(signal.SIGTERM, h)\n"
                "print('up', flush=True)\n"
                "time.sleep(60)"
            )
            c = {"name": "main", "image": "python", "command": [sys.executable, "-c", script]}
            ctx.reg.create("pods", pod("graceful", c), "default")
            p = await until(ctx, "graceful", lambda p: phase(p) == "Running")
            while b"up" not in await logs(ctx, p):
                await asyncio.sleep(0.05)
            ctx.reg.delete("pods", "graceful", "default")
            terminating = ctx.reg.get("pods", "graceful", "default")
            assert terminating["metadata"]["deletionTimestamp"]
            deadline = time.monotonic() + 20
            while ctx.reg.try_get("pods", "graceful", "default") is not None:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            assert out.read_text() == "term"
            assert not (tmp_path / "pods" / p["metadata"]["uid"]).exists()
            assert ("Killing", "Stopping container main") in events(ctx, "graceful")

    asyncio.run(scenario())


def test_env_volumes_and_services_reach_the_process(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with kubelet(tmp_path) as ctx:
            reg = ctx.reg
            reg.create(
                "configmaps",
                {"metadata": {"name": "cfg"}, "data": {"lr": "0.5", "config.yaml": "epochs: 2\n"}},
                "default",
            )
            reg.create(
                "secrets",
                {"metadata": {"name": "tok"}, "data": {"t": base64.b64encode(b"s3").decode()}},
                "default",
            )
            reg.create(
                "services",
                {"metadata": {"name": "job-master-0"}, "spec": {"ports": [{"port": 23456}]}},
                "default",
            )
            hostdir = tmp_path / "host-ckpt"
            c = sh(
                "echo $POD $LR $TOKEN $MASTER_ADDR; cat /etc/cfg/config.yaml; echo x > /ckpt/out; pwd",
                env=[
                    {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "LR", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "lr"}}},
                    {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "tok", "key": "t"}}},
                    {"name": "MASTER_ADDR", "value": "job-master-0"},
                ],
                volumeMounts=[
                    {"name": "cfg", "mountPath": "/etc/cfg"},
                    {"name": "ckpt", "mountPath": "/ckpt"},
                ],
                workingDir="/ckpt",
            )
            vols = [
                {"name": "cfg", "configMap": {"name": "cfg"}},
                {"name": "ckpt", "hostPath": {"path": str(hostdir), "type": "DirectoryOrCreate"}},
            ]
            reg.create("pods", pod("envy", c, volumes=vols, restartPolicy="Never"), "default")
            done = await until(ctx, "envy", lambda p: phase(p) in ("Succeeded", "Failed"))
            out = await logs(ctx, done)
            assert phase(done) == "Succeeded", out
            assert out.decode().splitlines() == ["envy 0.5 s3 127.0.0.1", "epochs: 2", str(hostdir)]
            assert (hostdir / "out").read_text() == "x\n"

    asyncio.run(scenario())


def test_fake_gpus_are_allocated_exclusively_and_exported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HYPERPOD_FAKE_GPUS", "2")

    async def scenario() -> None:
        async with kubelet(tmp_path) as ctx:
            gpu = {"limits": {"nvidia.com/gpu": "1"}}
            for name in ("g1", "g2"):
                c = sh(
                    "echo $CUDA_VISIBLE_DEVICES $NVIDIA_VISIBLE_DEVICES ${FI_PROVIDER:-none}; sleep 1",
                    resources=gpu,
                )
                ctx.reg.create("pods", pod(name, c, restartPolicy="Never"), "default")
            outs = []
            for name in ("g1", "g2"):
                done = await until(ctx, name, lambda p: phase(p) == "Succeeded")
                outs.append((await logs(ctx, done)).decode().split())
            assert sorted(o[0] for o in outs) == ["0", "1"]
            assert all(o[1].startswith("GPU-") and o[2] == "none" for o in outs)
            c = sh("echo [$CUDA_VISIBLE_DEVICES]")
            ctx.reg.create("pods", pod("nogpu", c, restartPolicy="Never"), "default")
            done = await until(ctx, "nogpu", lambda p: phase(p) == "Succeeded")
            assert await logs(ctx, done) == b"[]\n"

    asyncio.run(scenario())


def test_a_liveness_probe_failure_restarts_and_readiness_gates_ready(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with kubelet(tmp_path) as ctx:
            flag = tmp_path / "ready"
            c = sh(
                "sleep 30",
                readinessProbe={"exec": {"command": ["test", "-f", str(flag)]}, "periodSeconds": 1},
                livenessProbe={
                    "exec": {"command": ["false"]},
                    "periodSeconds": 1,
                    "failureThreshold": 2,
                },
            )
            ctx.reg.create("pods", pod("probed", c), "default")
            p = await until(ctx, "probed", lambda p: phase(p) == "Running")
            assert cstatus(p)["ready"] is False
            flag.touch()
            await until(ctx, "probed", lambda p: cstatus(p).get("ready") is True)
            restarted = await until(ctx, "probed", lambda p: cstatus(p).get("restartCount", 0) >= 1)
            assert (
                restarted["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"]
                == 143
            )
            reasons = events(ctx, "probed")
            assert any(
                r == "Unhealthy" and m.startswith("Liveness probe failed") for r, m in reasons
            )

    asyncio.run(scenario())


def test_running_pods_survive_a_kubelet_restart_and_are_adopted(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with kubelet(tmp_path, keep=True) as ctx:
            ctx.reg.create(
                "pods",
                pod("survivor", sh("echo a; sleep 2; echo b"), restartPolicy="Never"),
                "default",
            )
            await until(ctx, "survivor", lambda p: phase(p) == "Running")
            ctx.stopping.set()
        async with kubelet(tmp_path) as ctx2:
            done = await until(ctx2, "survivor", lambda p: phase(p) == "Succeeded")
            assert cstatus(done)["restartCount"] == 0
            assert await logs(ctx2, done) == b"a\nb\n"

    asyncio.run(scenario())


def test_the_default_node_name_is_the_host_name() -> None:
    assert local_node_name({}) and "." not in local_node_name({})


def test_init_containers_run_in_order_before_the_app_and_a_failed_one_fails_the_pod(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with kubelet(tmp_path) as ctx:
            out = tmp_path / "order"
            inits = [
                sh(f"echo first >> {out}", name="init-a"),
                sh(f"echo second >> {out}", name="init-b"),
            ]
            main = sh(f"echo main >> {out}")
            ctx.reg.create(
                "pods", pod("ordered", main, initContainers=inits, restartPolicy="Never"), "default"
            )
            done = await until(ctx, "ordered", lambda p: phase(p) == "Succeeded")
            assert out.read_text().split() == ["first", "second", "main"]
            assert [
                s["state"]["terminated"]["reason"] for s in done["status"]["initContainerStatuses"]
            ] == [
                "Completed",
                "Completed",
            ]
            bad = pod(
                "badinit",
                sh("echo never"),
                initContainers=[sh("exit 7", name="init")],
                restartPolicy="Never",
            )
            ctx.reg.create("pods", bad, "default")
            failed = await until(ctx, "badinit", lambda p: phase(p) == "Failed")
            assert (
                failed["status"]["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 7
            )
            assert "waiting" in cstatus(failed)["state"]

    asyncio.run(scenario())


def test_memory_limits_end_in_oomkilled_and_unknown_volumes_in_a_clear_waiting_reason(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with kubelet(tmp_path) as ctx:
            hog = {
                "name": "main",
                "image": "python",
                "command": [
                    sys.executable,
                    "-c",
                    "x = bytearray(300 * 2**20); import time; time.sleep(30)",
                ],
                "resources": {"limits": {"memory": "64Mi"}},
            }
            ctx.reg.create("pods", pod("hog", hog, restartPolicy="Never"), "default")
            done = await until(ctx, "hog", lambda p: phase(p) == "Failed")
            term = cstatus(done)["state"]["terminated"]
            assert (term["reason"], term["exitCode"]) == ("OOMKilled", 137)
            vols = [{"name": "n", "nfs": {"server": "x", "path": "/"}}]
            c = sh("true", volumeMounts=[{"name": "n", "mountPath": "/n"}])
            ctx.reg.create("pods", pod("nfs", c, volumes=vols), "default")
            waiting = await until(
                ctx,
                "nfs",
                lambda p: bool(cstatus(p).get("state", {}).get("waiting", {}).get("message")),
            )
            w = cstatus(waiting)["state"]["waiting"]
            assert (
                w["reason"] == "CreateContainerConfigError"
                and "unsupported volume type nfs" in w["message"]
            )
            assert phase(waiting) == "Pending"

    asyncio.run(scenario())


def test_containers_of_pods_removed_while_the_kubelet_was_down_are_stopped(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with kubelet(tmp_path, keep=True) as ctx:
            ctx.reg.create("pods", pod("orphan", sh("sleep 60")), "default")
            p = await until(ctx, "orphan", lambda p: phase(p) == "Running")
            ctx.stopping.set()
        reg = Registry(tmp_path / "state.db")
        reg.delete("pods", "orphan", "default", grace_period_seconds=0)
        reg.close()
        attempt = Attempt(tmp_path / "pods" / p["metadata"]["uid"] / "main", 0)
        while attempt.pgid() is None:
            await asyncio.sleep(0.05)
        pgid = attempt.pgid()
        assert pgid is not None and attempt.finished() is None

        def alive() -> bool:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return False
            return True

        sandbox = tmp_path / "pods" / p["metadata"]["uid"]
        async with kubelet(tmp_path):
            deadline = time.monotonic() + 20
            # The group ends first; the sandbox goes once the kubelet has seen it end.
            while alive() or sandbox.exists():
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)

    asyncio.run(scenario())


def test_a_startup_probe_holds_readiness_until_it_succeeds(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with kubelet(tmp_path) as ctx:
            flag = tmp_path / "booted"
            probe = {
                "exec": {"command": ["test", "-f", str(flag)]},
                "periodSeconds": 1,
                "failureThreshold": 30,
            }
            ctx.reg.create("pods", pod("slow", sh("sleep 30", startupProbe=probe)), "default")
            p = await until(ctx, "slow", lambda p: phase(p) == "Running")
            assert cstatus(p)["ready"] is False and cstatus(p)["started"] is False
            flag.touch()
            p = await until(ctx, "slow", lambda p: cstatus(p).get("ready") is True)
            assert cstatus(p)["started"] is True

    asyncio.run(scenario())


def test_active_deadline_seconds_stops_the_pod_as_deadline_exceeded(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with kubelet(tmp_path) as ctx:
            ctx.reg.create("pods", pod("late", sh("sleep 60"), activeDeadlineSeconds=1), "default")
            done = await until(ctx, "late", lambda p: phase(p) == "Failed")
            assert done["status"]["reason"] == "DeadlineExceeded"
            assert cstatus(done)["state"]["terminated"]["exitCode"] == 143

    asyncio.run(scenario())


def test_gpu_allocation_survives_a_kubelet_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HYPERPOD_FAKE_GPUS", "2")

    async def scenario() -> None:
        gpu = {"limits": {"nvidia.com/gpu": "1"}}
        async with kubelet(tmp_path, keep=True) as ctx:
            ctx.reg.create(
                "pods",
                pod(
                    "first",
                    sh("echo $CUDA_VISIBLE_DEVICES; sleep 3", resources=gpu),
                    restartPolicy="Never",
                ),
                "default",
            )
            first = await until(ctx, "first", lambda p: phase(p) == "Running")
            ctx.stopping.set()
        async with kubelet(tmp_path) as ctx2:
            c = sh("echo $CUDA_VISIBLE_DEVICES", resources=gpu)
            ctx2.reg.create("pods", pod("second", c, restartPolicy="Never"), "default")
            second = await until(ctx2, "second", lambda p: phase(p) == "Succeeded")
            first = ctx2.reg.get("pods", "first", "default")
            assert (await logs(ctx2, second)).strip() != (await logs(ctx2, first)).strip()

    asyncio.run(scenario())


def test_a_missing_config_map_waits_with_failed_mount_and_runs_once_it_exists(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with kubelet(tmp_path) as ctx:
            c = sh("cat /cfg/k", volumeMounts=[{"name": "cfg", "mountPath": "/cfg"}])
            vols = [{"name": "cfg", "configMap": {"name": "later"}}]
            ctx.reg.create(
                "pods", pod("patient", c, volumes=vols, restartPolicy="Never"), "default"
            )
            waiting = await until(
                ctx, "patient", lambda p: "not found" in str(cstatus(p).get("state", {}))
            )
            assert cstatus(waiting)["state"]["waiting"]["reason"] == "ContainerCreating"
            assert any(
                r == "FailedMount" and 'configmap "later" not found' in m
                for r, m in events(ctx, "patient")
            )
            ctx.reg.create(
                "configmaps", {"metadata": {"name": "later"}, "data": {"k": "v"}}, "default"
            )
            done = await until(ctx, "patient", lambda p: phase(p) == "Succeeded")
            assert await logs(ctx, done) == b"v"

    asyncio.run(scenario())


def test_an_eviction_stops_the_containers_through_the_graceful_path(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with kubelet(tmp_path) as ctx:
            ctx.reg.create("pods", pod("evictee", sh("sleep 60")), "default")
            await until(ctx, "evictee", lambda p: phase(p) == "Running")
            eviction = {
                "apiVersion": "policy/v1",
                "kind": "Eviction",
                "metadata": {"name": "evictee", "namespace": "default"},
            }
            ctx.reg.create("pods/eviction", eviction, "default")
            deadline = time.monotonic() + 20
            while ctx.reg.try_get("pods", "evictee", "default") is not None:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            assert ("Killing", "Stopping container main") in events(ctx, "evictee")

    asyncio.run(scenario())


def test_fallback_to_logs_on_error_puts_the_log_tail_in_the_termination_message(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with kubelet(tmp_path) as ctx:
            c = sh(
                "echo loading; echo 'CUDA error: out of memory' >&2; exit 1",
                terminationMessagePolicy="FallbackToLogsOnError",
            )
            ctx.reg.create("pods", pod("crashy", c, restartPolicy="Never"), "default")
            done = await until(ctx, "crashy", lambda p: phase(p) == "Failed")
            # stdout and stderr are separate pipes: their relative order is not defined.
            message = cstatus(done)["state"]["terminated"]["message"]
            assert sorted(message.splitlines()) == ["CUDA error: out of memory", "loading"]

    asyncio.run(scenario())


def test_a_failing_init_container_is_retried_with_backoff_before_the_app_starts(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with kubelet(tmp_path) as ctx:
            count = tmp_path / "tries"
            init = sh(f"echo x >> {count}; [ $(wc -l < {count}) -ge 3 ]", name="wait-for-data")
            ctx.reg.create(
                "pods", pod("retry-init", sh("sleep 30"), initContainers=[init]), "default"
            )
            p = await until(
                ctx, "retry-init", lambda p: phase(p) == "Running" and cstatus(p).get("ready")
            )
            assert p["status"]["initContainerStatuses"][0]["restartCount"] == 2
            assert p["status"]["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 0

    asyncio.run(scenario())
