"""Pods in real containers: the OCI runtime (runc with our own spec) under the real kubelet.

Needs root, runc and a static busybox (Debian's runc and busybox-static; scripts/test.sh
installs both when it runs as root). The images are built here from busybox (no registry).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from hyperpod.kubelet import progress_reader, python_image
from hyperpod.kubelet.devices import discover_gpus
from hyperpod.kubelet.images import ImageStore
from oci_images import BUSYBOX, RUNC, busybox_archive
from support import KUBECTL, RunningControlPlane, start_control_plane

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        RUNC is None or BUSYBOX is None or os.geteuid() != 0,
        reason="the OCI runtime tests need root, runc and busybox-static "
        "(apt-get install runc busybox-static); the process runtime tests still run",
    ),
]
IMAGE = "localhost/busybox:1"
CONFIG = {
    "nodes": {"local": {"name": "ocinode"}},
    "kubelet": {"runtime": "oci", "backoffBaseSeconds": 0.5},
}


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    data = tmp_path_factory.mktemp("oci")
    archive = busybox_archive(data / "busybox.tar", IMAGE)
    ImageStore(data).load(archive)
    # Two fake GPUs; the CDI specs are read from data/cdi (a test writes one there).
    env = {"HYPERPOD_FAKE_GPUS": "2", "HYPERPOD_CDI_SPEC_DIRS": str(data / "cdi")}
    cp = start_control_plane(data, CONFIG, env=env)
    yield cp
    cp.stop()


@pytest.fixture(scope="module")
def core(cp: RunningControlPlane) -> client.CoreV1Api:
    return client.CoreV1Api(cp.api_client())


def _pod(name: str, command: list[str] | None, **extra: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "c", "image": IMAGE, "imagePullPolicy": "IfNotPresent"}
    if command is not None:
        container["command"] = command
    container.update(extra.pop("container", {}))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"restartPolicy": "Never", "containers": [container], **extra},
    }


def _wait(core: client.CoreV1Api, name: str, check: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    pod = None
    while time.monotonic() < deadline:
        pod = core.read_namespaced_pod(name, "default")
        if check(pod):
            return pod
        time.sleep(0.2)
    raise AssertionError(f"pod {name} never got there: {pod.status if pod else None}")


def _phase(*phases: str) -> Any:
    return lambda p: p.status.phase in phases


def _runc_ids(cp: RunningControlPlane) -> list[str]:
    """Containers runc knows of under this cluster's state directory (running or not)."""
    out = subprocess.run(
        [str(RUNC), "--root", str(cp.data_dir / "runc"), "list", "-q"],
        capture_output=True,
        text=True,
    )
    return sorted(out.stdout.split())


def _running(cp: RunningControlPlane, cid: str) -> bool:
    out = subprocess.run(
        [str(RUNC), "--root", str(cp.data_dir / "runc"), "state", cid],
        capture_output=True,
        text=True,
    )
    return out.returncode == 0 and json.loads(out.stdout).get("status") == "running"


def test_a_pod_runs_from_its_image_with_the_image_env_and_filesystem(
    cp: RunningControlPlane, core: client.CoreV1Api
) -> None:
    core.create_namespaced_pod(
        "default",
        _pod(
            "from-image",
            ["sh", "-c", "echo $IMAGE_GREETING $(cat /etc/motd); echo uid=$(id -u); ls /"],
        ),
    )
    pod = _wait(core, "from-image", _phase("Succeeded", "Failed"))
    logs = core.read_namespaced_pod_log("from-image", "default")
    assert pod.status.phase == "Succeeded", logs
    assert "hello from the image" in logs
    assert "uid=0" in logs
    assert "usr" not in logs.split()  # the image's root, not the host's
    node = core.read_node("ocinode")
    assert node.status.node_info.container_runtime_version.startswith("runc://")


def test_the_image_cmd_runs_when_the_pod_gives_only_args(
    cp: RunningControlPlane, core: client.CoreV1Api
) -> None:
    core.create_namespaced_pod(
        "default", _pod("args-only", None, container={"args": ["-c", "echo args reached sh"]})
    )
    # Cmd is ["sh"]; args replace it, so the command is just the args: "-c" is not a program.
    pod = _wait(core, "args-only", _phase("Succeeded", "Failed"))
    term = pod.status.container_statuses[0].state.terminated
    assert pod.status.phase == "Failed" and term.exit_code != 0


def test_a_missing_image_with_pull_policy_never_says_so(
    cp: RunningControlPlane, core: client.CoreV1Api
) -> None:
    manifest = _pod("no-image", ["true"])
    manifest["spec"]["containers"][0].update(image="localhost/absent:2", imagePullPolicy="Never")
    core.create_namespaced_pod("default", manifest)

    def waiting(p: Any) -> bool:
        st = (p.status.container_statuses or [None])[0]
        return bool(st and st.state.waiting and st.state.waiting.reason == "ErrImageNeverPull")

    pod = _wait(core, "no-image", waiting, 30)
    assert (
        "not present with pull policy of Never"
        in pod.status.container_statuses[0].state.waiting.message
    )
    core.delete_namespaced_pod("no-image", "default", grace_period_seconds=0)


def test_a_failed_pull_is_err_image_pull_with_the_pullers_message(
    cp: RunningControlPlane, core: client.CoreV1Api
) -> None:
    manifest = _pod("pull-fails", ["true"])
    manifest["spec"]["containers"][0].update(image="localhost/absent:3", imagePullPolicy="Always")
    core.create_namespaced_pod("default", manifest)

    def failed(p: Any) -> bool:
        st = (p.status.container_statuses or [None])[0]
        return bool(
            st
            and st.state.waiting
            and st.state.waiting.reason in ("ErrImagePull", "ImagePullBackOff")
        )

    pod = _wait(core, "pull-fails", failed, 60)
    assert (
        'failed to pull image "localhost/absent:3"'
        in pod.status.container_statuses[0].state.waiting.message
    )
    core.delete_namespaced_pod("pull-fails", "default", grace_period_seconds=0)


def test_delete_sends_sigterm_into_the_container_then_sigkill_after_the_grace(
    cp: RunningControlPlane, core: client.CoreV1Api
) -> None:
    core.create_namespaced_pod(
        "default",
        _pod(
            "polite",
            ["sh", "-c", "trap 'echo got TERM; exit 0' TERM; while true; do sleep 0.1; done"],
        ),
    )
    core.create_namespaced_pod(
        "default",
        _pod(
            "stubborn",
            ["sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"],
            terminationGracePeriodSeconds=1,
        ),
    )
    uids = [_wait(core, n, _phase("Running")).metadata.uid for n in ("polite", "stubborn")]
    cids = [f"{uid}-c-0" for uid in uids]
    deadline = time.monotonic() + 10
    while not all(_running(cp, c) for c in cids) and time.monotonic() < deadline:
        time.sleep(0.1)  # Running is reported when the shim starts runc
    assert all(_running(cp, c) for c in cids)
    started = time.monotonic()
    for name in ("polite", "stubborn"):
        core.delete_namespaced_pod(name, "default")
    for name in ("polite", "stubborn"):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                core.read_namespaced_pod(name, "default")
            except client.ApiException as exc:
                assert exc.status == 404
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"pod {name} was never removed")
    assert time.monotonic() - started < 25
    # Nothing left behind: no container, no mounted root filesystem.
    for uid in uids:
        assert not [i for i in _runc_ids(cp) if i.startswith(uid)]
        assert str(cp.data_dir / "pods" / uid) not in Path("/proc/mounts").read_text()


def test_volumes_mount_at_their_paths_and_the_pod_serves_on_the_node_network(
    cp: RunningControlPlane, core: client.CoreV1Api
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    core.create_namespaced_config_map(
        "default",
        {"metadata": {"name": "site"}, "data": {"index.html": "served from a configMap\n"}},
    )
    manifest = _pod(
        "web",
        ["httpd", "-f", "-p", f"127.0.0.1:{port}", "-h", "/www"],
        volumes=[{"name": "site", "configMap": {"name": "site"}}],
        container={
            "volumeMounts": [{"name": "site", "mountPath": "/www"}],
            "readinessProbe": {"exec": {"command": ["cat", "/www/index.html"]}, "periodSeconds": 1},
        },
    )
    core.create_namespaced_pod("default", manifest)
    _wait(
        core,
        "web",
        lambda p: any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or []),
    )
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=5) as r:
        assert r.read() == b"served from a configMap\n"
    core.delete_namespaced_pod("web", "default", grace_period_seconds=1)


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_kubectl_exec_runs_inside_the_container(
    cp: RunningControlPlane, core: client.CoreV1Api
) -> None:
    core.create_namespaced_pod("default", _pod("shell", ["sleep", "300"]))
    _wait(core, "shell", _phase("Running"))
    res = cp.kubectl(
        "exec",
        "shell",
        "--",
        "sh",
        "-c",
        "cat /etc/motd; echo $IMAGE_GREETING; exit 3",
        check=False,
    )
    assert res.returncode == 3, res.stderr
    assert res.stdout.split() == ["from", "the", "image", "hello"]
    core.delete_namespaced_pod("shell", "default", grace_period_seconds=0)


def test_a_container_survives_a_control_plane_kill_and_is_adopted(
    tmp_path: Path,
) -> None:
    archive = busybox_archive(tmp_path / "busybox.tar", IMAGE)
    ImageStore(tmp_path / "cp").load(archive)
    cp = start_control_plane(tmp_path / "cp", CONFIG)
    try:
        core = client.CoreV1Api(cp.api_client())
        core.create_namespaced_pod("default", _pod("long", ["sh", "-c", "echo up; sleep 300"]))
        _wait(core, "long", _phase("Running"))
        cid = f"{core.read_namespaced_pod('long', 'default').metadata.uid}-c-0"
        deadline = time.monotonic() + 10
        while not _running(cp, cid) and time.monotonic() < deadline:
            time.sleep(0.1)
        cp.stop(signal.SIGKILL, keep_pods=True)
        assert _running(cp, cid)  # the container outlived the control plane
        cp2 = start_control_plane(tmp_path / "cp", CONFIG)
        try:
            core = client.CoreV1Api(cp2.api_client())
            time.sleep(1.5)
            pod = _wait(core, "long", _phase("Running"))
            assert pod.status.container_statuses[0].restart_count == 0
            assert _running(cp2, cid)  # the same container, not a new one
            core.delete_namespaced_pod("long", "default", grace_period_seconds=1)
            deadline = time.monotonic() + 20
            while _runc_ids(cp2) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert _runc_ids(cp2) == []
            assert not _running(cp2, cid)
            # The adopted container's root filesystem and cgroups are released too.
            while _leftovers(cp2, cid) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert _leftovers(cp2, cid) == []
        finally:
            cp2.stop()
    finally:
        cp.stop()


def _leftovers(cp: RunningControlPlane, cid: str) -> list[str]:
    """Mounts under the cluster's data directory and cgroups of container ``cid`` still there."""
    with open("/proc/mounts") as fh:
        mounts = [line.split()[1] for line in fh if str(cp.data_dir) in line]
    cgroups = [str(p) for p in Path("/sys/fs/cgroup").glob(f"*/**/hyperpod/{cid}")]
    return mounts + cgroups


def _terminated(core: client.CoreV1Api, name: str) -> Any:
    pod = _wait(core, name, _phase("Succeeded", "Failed"))
    return pod.status.container_statuses[0].state.terminated


def test_a_container_over_its_memory_limit_is_oomkilled_by_its_cgroup(
    cp: RunningControlPlane, core: client.CoreV1Api
) -> None:
    grow = "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived"
    limits = {"resources": {"limits": {"memory": "24Mi"}}}
    core.create_namespaced_pod("default", _pod("hog", ["sh", "-c", grow], container=limits))
    term = _terminated(core, "hog")
    logs = core.read_namespaced_pod_log("hog", "default")
    assert (term.reason, term.exit_code) == ("OOMKilled", 137), logs
    assert "survived" not in logs
    # The same work under a limit it fits in runs to the end.
    roomy = {"resources": {"limits": {"memory": "512Mi"}}}
    core.create_namespaced_pod("default", _pod("fits", ["sh", "-c", grow], container=roomy))
    term = _terminated(core, "fits")
    assert (term.reason, term.exit_code) == ("Completed", 0)
    assert "survived" in core.read_namespaced_pod_log("fits", "default")


def _cgroup_file(cp: RunningControlPlane, controller: str, cid: str, name: str) -> Path:
    found = list(Path("/sys/fs/cgroup", controller).glob(f"**/hyperpod/{cid}/ctr/{name}"))
    assert found, f"no {controller} cgroup for {cid}"
    return found[0]


@pytest.mark.skipif(
    not Path("/sys/fs/cgroup/pids/pids.max").exists() and not Path("/sys/fs/cgroup/pids").is_dir(),
    reason="no cgroup v1 pids controller here (cgroup v2 is not tested)",
)
def test_cpu_and_pids_limits_are_the_containers_cgroup_settings(
    cp: RunningControlPlane, core: client.CoreV1Api
) -> None:
    manifest = _pod(
        "limited",
        ["sleep", "300"],
        container={"resources": {"limits": {"cpu": "250m"}, "requests": {"cpu": "100m"}}},
    )
    manifest["metadata"]["annotations"] = {"hyperpod.local/pids-limit": "16"}
    core.create_namespaced_pod("default", manifest)
    _wait(core, "limited", _phase("Running"))
    cid = f"{core.read_namespaced_pod('limited', 'default').metadata.uid}-c-0"
    deadline = time.monotonic() + 10
    while not _running(cp, cid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _cgroup_file(cp, "pids", cid, "pids.max").read_text().strip() == "16"
    assert _cgroup_file(cp, "cpu", cid, "cpu.cfs_quota_us").read_text().strip() == "25000"
    assert _cgroup_file(cp, "cpu", cid, "cpu.shares").read_text().strip() == "102"
    core.delete_namespaced_pod("limited", "default", grace_period_seconds=0)
    bad = _pod("bad-pids", ["true"])
    bad["metadata"]["annotations"] = {"hyperpod.local/pids-limit": "lots"}
    core.create_namespaced_pod("default", bad)
    pod = _wait(
        core,
        "bad-pids",
        lambda p: (
            (p.status.container_statuses or [None])[0] is not None
            and p.status.container_statuses[0].state.waiting is not None
            and p.status.container_statuses[0].state.waiting.reason == "CreateContainerConfigError"
        ),
    )
    assert "hyperpod.local/pids-limit" in pod.status.container_statuses[0].state.waiting.message
    core.delete_namespaced_pod("bad-pids", "default", grace_period_seconds=0)


def _gpu_pod(name: str, command: list[str]) -> dict[str, Any]:
    return _pod(name, command, container={"resources": {"limits": {"nvidia.com/gpu": "1"}}})


def test_gpus_reach_the_container_through_the_cdi_spec(
    cp: RunningControlPlane, core: client.CoreV1Api
) -> None:
    # Without a CDI spec a GPU pod cannot run in a container here: it says so.
    core.create_namespaced_pod("default", _gpu_pod("gpu-nospec", ["true"]))
    pod = _wait(
        core,
        "gpu-nospec",
        lambda p: (
            (p.status.container_statuses or [None])[0] is not None
            and p.status.container_statuses[0].state.waiting is not None
            and p.status.container_statuses[0].state.waiting.reason == "CreateContainerError"
        ),
    )
    message = pod.status.container_statuses[0].state.waiting.message
    assert "cannot pass GPUs" in message and "nvidia-ctk cdi generate" in message
    events = core.list_namespaced_event(
        "default", field_selector="involvedObject.name=gpu-nospec"
    ).items
    assert any(e.reason == "GPUsUnavailable" for e in events)
    core.delete_namespaced_pod("gpu-nospec", "default", grace_period_seconds=0)
    # A spec whose device nodes are harmless copies of /dev/null, like nvidia-ctk writes one.
    devs = cp.data_dir / "fake-dev"
    devs.mkdir(exist_ok=True)
    for name in ("nvidia0", "nvidia1", "nvidiactl"):
        if not (devs / name).exists():
            os.mknod(devs / name, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    lib = cp.data_dir / "fake-driver"
    lib.mkdir(exist_ok=True)
    (lib / "libcuda.so.1").write_text("not a real driver\n")
    uuids = {d.id: d.index for d in discover_gpus({"HYPERPOD_FAKE_GPUS": "2"})}
    spec = {
        "cdiVersion": "0.5.0",
        "kind": "nvidia.com/gpu",
        "devices": [
            {
                "name": str(index),
                "containerEdits": {
                    "deviceNodes": [
                        {"path": f"/dev/nvidia{index}", "hostPath": str(devs / f"nvidia{index}")}
                    ],
                    "env": [f"FAKE_GPU_{index}=yes"],
                },
            }
            for index in sorted(uuids.values())
        ],
        "containerEdits": {
            "deviceNodes": [{"path": "/dev/nvidiactl", "hostPath": str(devs / "nvidiactl")}],
            "mounts": [
                {
                    "hostPath": str(lib / "libcuda.so.1"),
                    "containerPath": "/usr/lib/libcuda.so.1",
                    "options": ["ro", "nosuid", "nodev", "bind"],
                }
            ],
            "env": ["NVIDIA_VISIBLE_DEVICES=void"],
        },
    }
    (cp.data_dir / "cdi").mkdir(exist_ok=True)
    (cp.data_dir / "cdi" / "nvidia.yaml").write_text(json.dumps(spec))
    script = (
        "ls /dev | grep nvidia; echo written > /dev/nvidia0 && echo wrote-dev; "
        "cat /usr/lib/libcuda.so.1; env | grep -E '^(FAKE_GPU|CUDA_VISIBLE|NVIDIA_VIS)' | sort"
    )
    core.create_namespaced_pod("default", _gpu_pod("gpu-cdi", ["sh", "-c", script]))
    term = _terminated(core, "gpu-cdi")
    logs = core.read_namespaced_pod_log("gpu-cdi", "default")
    assert term.exit_code == 0, logs
    pod = core.read_namespaced_pod("gpu-cdi", "default")
    allocated = json.loads(pod.metadata.annotations["hyperpod.local/devices"])["c"]
    index = uuids[allocated["nvidia.com/gpu"][0]]
    lines = logs.split()
    assert f"nvidia{index}" in lines and "nvidiactl" in lines
    assert f"nvidia{1 - index}" not in lines  # only the allocated GPU
    assert "wrote-dev" in lines  # the node works inside (1:3 is allowed by runc anyway)
    assert "not a real driver" in logs
    assert f"FAKE_GPU_{index}=yes" in lines and f"FAKE_GPU_{1 - index}=yes" not in lines
    assert "CUDA_VISIBLE_DEVICES=0" in lines and "NVIDIA_VISIBLE_DEVICES=void" in lines


PYTHON_IMAGE = "localhost/hyperpod-python:test"


@pytest.fixture(scope="module")
def python_image_loaded(cp: RunningControlPlane) -> str:
    """The Python-only image (interpreter, stdlib, hyperpod; ~90 MB), built from this machine."""
    archive = cp.data_dir / "python.tar"
    python_image.build(archive, tag=PYTHON_IMAGE)
    assert ImageStore(cp.data_dir).load(archive) == [PYTHON_IMAGE]
    archive.unlink()
    return PYTHON_IMAGE


def test_a_deployment_from_the_python_image_serves_http_behind_a_service(
    cp: RunningControlPlane, core: client.CoreV1Api, python_image_loaded: str
) -> None:
    with socket.socket() as s:  # a port no other pod on this machine is likely to hold
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    serve = (
        "import http.server, os, sys\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        body = f'{sys.prefix} {os.uname().nodename}\\n'.encode()\n"
        "        self.send_response(200); self.end_headers(); self.wfile.write(body)\n"
        "server = http.server.HTTPServer((os.environ['POD_IP'], int(sys.argv[1])), H)\n"
        "print('serving on', server.server_address, flush=True)\n"
        "server.serve_forever()\n"
    )
    container = {
        "name": "web",
        "image": python_image_loaded,
        "imagePullPolicy": "IfNotPresent",
        "command": ["python", "-c", serve, str(port)],
        "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
        "ports": [{"name": "http", "containerPort": port}],
        "readinessProbe": {"httpGet": {"path": "/", "port": port}, "periodSeconds": 1},
    }
    apps = client.AppsV1Api(cp.api_client())
    apps.create_namespaced_deployment(
        "default",
        {
            "metadata": {"name": "pyweb"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "pyweb"}},
                "template": {
                    "metadata": {"labels": {"app": "pyweb"}},
                    "spec": {"containers": [container]},
                },
            },
        },
    )
    svc = core.create_namespaced_service(
        "default",
        {
            "metadata": {"name": "pyweb"},
            "spec": {
                "type": "NodePort",
                "selector": {"app": "pyweb"},
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
            },
        },
    )
    deadline = time.monotonic() + 60
    body, last = b"", None
    while time.monotonic() < deadline:
        try:
            url = f"http://127.0.0.1:{svc.spec.ports[0].node_port}/"
            with urllib.request.urlopen(url, timeout=3) as r:
                body = r.read()
            break
        except OSError as exc:
            last = exc
            time.sleep(0.3)
    if not body:
        pods = core.list_namespaced_pod("default", label_selector="app=pyweb").items
        seen = [(p.metadata.name, p.status.container_statuses) for p in pods]
        logs = [core.read_namespaced_pod_log(p.metadata.name, "default") for p in pods]
        raise AssertionError(f"the Service never answered: {last}; pods: {seen}; logs: {logs}")
    prefix, hostname = body.decode().split()
    assert prefix.startswith("/")  # sys.prefix of the image's interpreter
    assert hostname.startswith("pyweb-")  # the pod's hostname: it runs in its container
    apps.delete_namespaced_deployment("pyweb", "default")
    core.delete_namespaced_service("pyweb", "default")


def test_training_progress_written_in_the_container_reaches_the_kubelet(
    cp: RunningControlPlane, core: client.CoreV1Api, python_image_loaded: str
) -> None:
    script = (
        "import os, time\n"
        "from hyperpod import progress\n"
        "progress.report(3, 10, loss=0.5)\n"
        "print(os.environ['HYPERPOD_PROGRESS_FILE'], flush=True)\n"
        "time.sleep(300)\n"
    )
    manifest = _pod("trainer", ["python", "-c", script])
    manifest["spec"]["containers"][0]["image"] = python_image_loaded
    core.create_namespaced_pod("default", manifest)
    pod = _wait(core, "trainer", _phase("Running"))
    deadline = time.monotonic() + 30
    report = None
    while report is None and time.monotonic() < deadline:
        report = progress_reader.read_container(cp.data_dir, pod.to_dict(), "c")
        time.sleep(0.2)
    assert report is not None, core.read_namespaced_pod_log("trainer", "default")
    assert (report["step"], report["totalSteps"], report["metrics"]) == (3, 10, {"loss": 0.5})
    logs = core.read_namespaced_pod_log("trainer", "default")
    assert logs.strip() == "/run/hyperpod/progress.json"  # a path inside the container
    core.delete_namespaced_pod("trainer", "default", grace_period_seconds=0)


def test_pytorchjob_ranks_in_containers_find_each_other_through_master_addr(
    cp: RunningControlPlane, core: client.CoreV1Api, python_image_loaded: str
) -> None:
    # The operator's MASTER_ADDR/MASTER_PORT/RANK wiring, inside containers (no torch in the
    # CI image: the ranks meet over TCP the way a rendezvous would).
    script = (
        "import os, socket, time\n"
        "rank, addr = int(os.environ['RANK']), os.environ['MASTER_ADDR']\n"
        "port = int(os.environ['MASTER_PORT'])\n"
        "if rank == 0:\n"
        "    srv = socket.create_server((socket.gethostbyname(addr), port))\n"
        "    conn, _ = srv.accept()\n"
        "    print('master got:', conn.recv(100).decode(), flush=True)\n"
        "else:\n"
        "    for _ in range(300):\n"
        "        try:\n"
        "            c = socket.create_connection((addr, port), timeout=2)\n"
        "            break\n"
        "        except OSError:\n"
        "            time.sleep(0.1)\n"
        "    c.sendall(f'hello from rank {rank} of {os.environ[\"WORLD_SIZE\"]}'.encode())\n"
    )

    def replica(n: int) -> dict[str, Any]:
        container = {
            "name": "pytorch",
            "image": python_image_loaded,
            "imagePullPolicy": "IfNotPresent",
            "command": ["python", "-c", script],
        }
        return {
            "replicas": n,
            "restartPolicy": "Never",
            "template": {"spec": {"containers": [container]}},
        }

    custom = client.CustomObjectsApi(cp.api_client())
    job = {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": "meet", "namespace": "default"},
        "spec": {"pytorchReplicaSpecs": {"Master": replica(1), "Worker": replica(1)}},
    }
    custom.create_namespaced_custom_object("kubeflow.org", "v1", "default", "pytorchjobs", job)
    state, deadline = "", time.monotonic() + 90
    while state not in ("Succeeded", "Failed") and time.monotonic() < deadline:
        time.sleep(0.3)
        got = custom.get_namespaced_custom_object(
            "kubeflow.org", "v1", "default", "pytorchjobs", "meet"
        )
        conditions = (got.get("status") or {}).get("conditions") or []
        state = conditions[-1]["type"] if conditions else ""
    logs = core.read_namespaced_pod_log("meet-master-0", "default")
    assert state == "Succeeded", (state, logs)
    assert "master got: hello from rank 1 of 2" in logs
    pod = core.read_namespaced_pod("meet-worker-0", "default")
    assert pod.status.container_statuses[0].image == python_image_loaded
