"""The real `hyp` console script against a real local cluster it creates, end to end.

One cluster per module (created by the first test, the tests run in file order): create,
create again, kubeconfig, stack listing, jobs (create/list/describe/list-pods/get-logs/delete,
--wait on success and failure; HyperPodPyTorchJobs, the default kind, and a Kubeflow
PyTorchJob side by side), kill -9 of the daemon and recovery, graceful delete.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

HYP = str(Path(sys.executable).with_name("hyp"))
KUBECTL = shutil.which("kubectl")


@dataclass
class Env:
    root: Path
    env: dict[str, str]
    port: int

    def hyp(
        self, *args: str, check: bool = True, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            [HYP, *args],
            env=self.env,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and res.returncode != 0:
            raise AssertionError(
                f"hyp {' '.join(args)} exited {res.returncode}:\n{res.stdout}\n{res.stderr}"
            )
        return res

    @property
    def data_dir(self) -> Path:
        return self.root / "home" / "local"

    @property
    def kubeconfig(self) -> dict:
        return yaml.safe_load((self.root / "kubeconfig").read_text())

    def daemon_pid(self) -> int:
        return int((self.data_dir / "controlplane.pid").read_text())


def _gone(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("hyp")
    bindir = str(Path(sys.executable).parent)
    e = Env(
        root,
        {
            **os.environ,
            "HYPERPOD_HOME": str(root / "home"),
            "KUBECONFIG": str(root / "kubeconfig"),
            "PATH": f"{bindir}:{os.environ.get('PATH', '')}",
            "NO_COLOR": "1",
        },
        _free_port(),
    )
    # Someone else's context that hyp must leave alone.
    (root / "kubeconfig").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "prod",
                "clusters": [{"name": "prod", "cluster": {"server": "https://prod.example:443"}}],
                "users": [{"name": "prod-user", "user": {"token": "secret"}}],
                "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "prod-user"}}],
            }
        )
    )
    e.hyp("init", "cluster-stack")
    e.hyp(
        "configure",
        "--api-port",
        str(e.port),
        "--instance-groups",
        "[{name: local, kind: local}, {name: p5, instance_type: ml.p5.48xlarge, count: 2}]",
    )
    yield e
    e.hyp("delete", "cluster-stack", "local", "--purge", check=False)
    pidfile = e.data_dir / "controlplane.pid"
    if pidfile.exists():  # a test failed half-way: do not leave a daemon behind
        try:
            os.killpg(int(pidfile.read_text()), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def test_create_starts_a_ready_cluster_and_merges_its_context(env: Env) -> None:
    res = env.hyp("create")
    assert "is ready at https://127.0.0.1:" in res.stdout
    assert "/dashboard/login?token=" in res.stdout  # a one-time dashboard login link
    cfg = env.kubeconfig
    assert {c["name"] for c in cfg["contexts"]} == {"prod", "local"}
    assert cfg["current-context"] == "local"
    runs = sorted((env.root / "run").iterdir())
    record = json.loads((runs[-1] / "create.json").read_text())
    assert record["created"] is True and record["status"] == "Running"
    assert (runs[-1] / "config.yaml").exists()
    assert (env.data_dir / "controlplane.log").exists()


def test_a_second_create_says_the_cluster_already_exists(env: Env) -> None:
    pid = env.daemon_pid()
    res = env.hyp("create")
    assert "already exists" in res.stdout
    assert "changed since the cluster started" not in res.stdout
    assert env.daemon_pid() == pid
    env.hyp("configure", "--addons.health-agent", "false")
    try:
        assert "changed since the cluster started" in env.hyp("create").stdout
    finally:
        env.hyp("configure", "--addons.health-agent", "true")


def test_create_refuses_a_port_taken_by_another_cluster(env: Env, tmp_path: Path) -> None:
    other = Env(tmp_path, {**env.env, "HYPERPOD_HOME": str(tmp_path / "home")}, env.port)
    other.hyp("init", "cluster-stack")
    other.hyp("configure", "--api-port", str(env.port), "--cluster-name", "other")
    res = other.hyp("create", check=False)
    assert res.returncode == 1
    assert f"port {env.port} is already in use" in res.stderr
    assert not (tmp_path / "home" / "other").exists()


def test_get_kubeconfig_writes_a_file_that_reaches_the_cluster(env: Env) -> None:
    out = env.root / "local.kubeconfig"
    env.hyp("get", "kubeconfig", "--output", str(out))
    assert yaml.safe_load(out.read_text())["current-context"] == "local"
    if KUBECTL:
        res = subprocess.run(
            [KUBECTL, "--kubeconfig", str(out), "get", "nodes", "-o", "name"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert res.returncode == 0, res.stderr
        assert res.stdout.startswith("node/")


def test_list_and_describe_show_the_running_stack(env: Env) -> None:
    rows = json.loads(env.hyp("list", "cluster-stack", "-o", "json").stdout)
    assert [(r["name"], r["status"]) for r in rows] == [("local", "Running")]
    described = yaml.safe_load(env.hyp("describe", "cluster-stack", "-o", "yaml").stdout)
    assert described["pid"] == env.daemon_pid()
    assert described["python"]
    # Which runtime each node uses (this cluster's config leaves runtime at process).
    runtimes = [n["runtime"] for n in described["nodes"]]
    assert runtimes.count("process") == 1 and set(runtimes) == {"process", "simulated"}
    assert "Pods run as processes" in env.hyp("describe", "cluster-stack").stdout


JOB_CMD = "[python, -c, \"import os; print('hello from rank', os.environ.get('RANK'))\"]"


def test_a_job_runs_to_completion_with_wait(env: Env) -> None:
    res = env.hyp(
        "create",
        "hyp-pytorch-job",
        "--job-name",
        "hello",
        "--image",
        "local/python",
        "--command",
        JOB_CMD,
        "--node-count",
        "2",
        "--wait",
        "--timeout",
        "150",
    )
    assert "succeeded" in res.stdout


def test_list_describe_and_list_pods_show_the_finished_job(env: Env) -> None:
    jobs = json.loads(env.hyp("list", "hyp-pytorch-job", "-o", "json").stdout)
    assert [(j["name"], j["status"]) for j in jobs] == [("hello", "Completed")]
    described = env.hyp("describe", "hyp-pytorch-job", "--job-name", "hello").stdout
    assert "HyperPodPyTorchJob" in described and "hello-pod-0" in described
    pods = json.loads(
        env.hyp("list-pods", "hyp-pytorch-job", "--job-name", "hello", "-o", "json").stdout
    )
    assert sorted(p["name"] for p in pods) == ["hello-pod-0", "hello-pod-1"]


def test_get_logs_prints_rank_zero_then_a_named_pod(env: Env) -> None:
    assert (
        "hello from rank 0" in env.hyp("get-logs", "hyp-pytorch-job", "--job-name", "hello").stdout
    )
    worker = env.hyp(
        "get-logs", "hyp-pytorch-job", "--job-name", "hello", "--pod-name", "hello-pod-1"
    ).stdout
    assert "hello from rank 1" in worker


def test_get_logs_follow_streams_until_the_container_ends(env: Env) -> None:
    env.hyp(
        "create",
        "hyp-pytorch-job",
        "--job-name",
        "slow",
        "--image",
        "local/python",
        "--command",
        "[python, -c, \"import time; print('first', flush=True); time.sleep(2); print('last')\"]",
    )
    res = env.hyp("get-logs", "hyp-pytorch-job", "--job-name", "slow", "-f", timeout=120)
    assert res.stdout.splitlines()[-2:] == ["first", "last"]
    env.hyp("delete", "hyp-pytorch-job", "--job-name", "slow")


def test_exec_runs_in_one_pod_or_all_and_exits_with_the_commands_code(env: Env) -> None:
    env.hyp(
        "create",
        "hyp-pytorch-job",
        "--job-name",
        "shell",
        "--image",
        "local/python",
        "--command",
        "[sleep, '300']",
        "--node-count",
        "2",
    )
    deadline = time.monotonic() + 90
    while True:
        pods = json.loads(
            env.hyp("list-pods", "hyp-pytorch-job", "--job-name", "shell", "-o", "json").stdout
        )
        if len(pods) == 2 and all(p["status"] == "Running" for p in pods):
            break
        assert time.monotonic() < deadline, pods
        time.sleep(0.3)
    base = ("exec", "hyp-pytorch-job", "--job-name", "shell")
    one = env.hyp(*base, "-p", "shell-pod-0", "--", "sh", "-c", "echo $RANK of $WORLD_SIZE")
    assert one.stdout == "0 of 2\n"
    every = env.hyp(*base, "--all-pods", "--", "sh", "-c", "echo rank=$RANK")
    assert every.stdout.split() == ["rank=0", "rank=1"]
    assert "==> shell-pod-1 <==" in every.stderr
    failed = env.hyp(*base, "-p", "shell-pod-1", "--", "sh", "-c", "exit 6", check=False)
    assert failed.returncode == 6
    neither = env.hyp(*base, "--", "ls", check=False)
    assert neither.returncode != 0 and "--pod POD and --all-pods" in neither.stderr
    stranger = env.hyp(*base, "-p", "hello-pod-0", "--", "ls", check=False)
    assert "not a pod of job 'shell'" in stranger.stderr and "Traceback" not in stranger.stderr
    missing = env.hyp(*base, "-p", "shell-pod-0", "--", "no-such-tool", check=False)
    assert missing.returncode != 0 and "executable file not found" in missing.stderr
    env.hyp("delete", "hyp-pytorch-job", "--job-name", "shell")


def test_an_instance_type_job_lands_on_the_simulated_nodes_of_that_type(env: Env) -> None:
    env.hyp(
        "create",
        "hyp-pytorch-job",
        "--job-name",
        "big",
        "--image",
        "my/train:1",
        "--command",
        "[python, train.py]",
        "--instance-type",
        "ml.p5.48xlarge",
        "--node-count",
        "2",
    )
    deadline = time.monotonic() + 60
    pods: list[dict] = []
    while time.monotonic() < deadline:
        pods = json.loads(
            env.hyp("list-pods", "hyp-pytorch-job", "--job-name", "big", "-o", "json").stdout
        )
        if len(pods) == 2 and all(p["status"] == "Running" for p in pods):
            break
        time.sleep(0.5)
    # Whole-node requests less the system reserve fit one p5 each; nothing lands on the local node.
    assert sorted(p["node"] for p in pods) == ["p5-0", "p5-1"]
    env.hyp("delete", "hyp-pytorch-job", "--job-name", "big")


def test_a_job_name_that_exists_is_refused_with_a_hint(env: Env) -> None:
    res = env.hyp(
        "create",
        "hyp-pytorch-job",
        "--job-name",
        "hello",
        "--image",
        "local/python",
        "--command",
        JOB_CMD,
        check=False,
    )
    assert res.returncode == 1
    assert "already exists" in res.stderr and "hyp delete hyp-pytorch-job" in res.stderr


def test_a_failing_kubeflow_job_makes_wait_exit_non_zero(env: Env) -> None:
    res = env.hyp(
        "create",
        "hyp-pytorch-job",
        "--kind",
        "pytorchjob",
        "--job-name",
        "broken",
        "--image",
        "local/python",
        "--command",
        "[python, -c, 'import sys; sys.exit(3)']",
        "--restart-policy",
        "Never",
        "--wait",
        "--timeout",
        "150",
        check=False,
    )
    assert res.returncode == 2, res.stdout + res.stderr
    assert "failed" in res.stderr and "hyp get-logs" in res.stderr
    # Our hyp finds the Kubeflow job beside the HyperPodPyTorchJobs, with its master's log.
    rows = json.loads(env.hyp("list", "hyp-pytorch-job", "-o", "json").stdout)
    assert {(r["name"], r["status"]) for r in rows} == {
        ("hello", "Completed"),
        ("broken", "Failed"),
    }
    assert "PyTorchJob" in env.hyp("describe", "hyp-pytorch-job", "--job-name", "broken").stdout
    pods = env.hyp("list-pods", "hyp-pytorch-job", "--job-name", "broken").stdout
    assert "broken-master-0" in pods
    logs = env.hyp("get-logs", "hyp-pytorch-job", "--job-name", "broken", check=False)
    assert logs.returncode == 0, logs.stderr


def test_the_sdk_lists_every_job_page_by_page(env: Env) -> None:
    from hyperpod.client.jobs import Jobs
    from hyperpod.client.kube import Kube

    jobs = Jobs(Kube(str(env.root / "kubeconfig")))
    names = [j["metadata"]["name"] for j in jobs.list_jobs("default", page_size=1)]
    assert sorted(names) == ["broken", "hello"]


def test_delete_removes_the_job(env: Env) -> None:
    res = env.hyp("delete", "hyp-pytorch-job", "--job-name", "broken")
    assert "Deleted PyTorchJob 'broken'" in res.stdout
    res = env.hyp("describe", "hyp-pytorch-job", "--job-name", "broken", check=False)
    assert res.returncode == 1
    assert "no job named 'broken'" in res.stderr


def test_create_after_kill_9_recovers_with_its_state(env: Env) -> None:
    pid = env.daemon_pid()
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "Running" in env.hyp("list", "cluster-stack").stdout:
        time.sleep(0.2)
    assert "Stopped" in env.hyp("list", "cluster-stack").stdout
    res = env.hyp("create")
    assert "recovering" in res.stderr
    assert "is ready" in res.stdout
    assert env.daemon_pid() != pid
    jobs = json.loads(env.hyp("list", "hyp-pytorch-job", "-o", "json").stdout)
    assert [j["name"] for j in jobs] == ["hello"]


GRACEFUL = (
    "import pathlib, signal, sys, time\n"
    "def bye(*_):\n"
    "    pathlib.Path(sys.argv[1]).write_text('graceful')\n"
    "    sys.exit(0)\n"
    "signal.signal(signal.SIGTERM, bye)\n"
    "print('ready', flush=True)\n"
    "time.sleep(600)\n"
)


def test_delete_cluster_stack_stops_pods_gracefully_keeps_data_and_neighbours(env: Env) -> None:
    (env.root / "graceful.py").write_text(GRACEFUL)
    marker = env.root / "stopped-by"
    env.hyp(
        "create",
        "hyp-pytorch-job",
        "--job-name",
        "sleeper",
        "--image",
        "local/python",
        "--command",
        f"[python, {env.root / 'graceful.py'}, {marker}]",
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # its SIGTERM handler is installed once it says ready
        logs = env.hyp("get-logs", "hyp-pytorch-job", "--job-name", "sleeper", check=False)
        if "ready" in logs.stdout:
            break
        time.sleep(0.3)
    assert "ready" in logs.stdout
    pid = env.daemon_pid()
    res = env.hyp("delete", "cluster-stack", "local")
    assert "stopped" in res.stdout
    assert _gone(pid)
    assert marker.read_text() == "graceful"  # the pod got SIGTERM and its grace, not SIGKILL
    assert (env.data_dir / "state.db").exists()
    cfg = env.kubeconfig
    assert [c["name"] for c in cfg["contexts"]] == ["prod"]
    rows = json.loads(env.hyp("list", "cluster-stack", "-o", "json").stdout)
    assert [(r["name"], r["status"]) for r in rows] == [("local", "Stopped")]
