"""A rank killed -> all ranks training again, for HyperPodPyTorchJob restarts (issue 15).

Run: .venv/bin/python benchmarks/hyperpod_restart.py [--repeats 10]

Each trial submits a fresh 2-pod HyperPodPyTorchJob running the digits example over HTTPS to a
real control plane, waits until rank 0 reports every rank joined ("ranks ready ... at T"),
lets it train 1.5 s, SIGKILLs rank 1's process and measures until rank 0 reports all ranks
joined again. Two modes:

- process-level: ``jobMaxRetryCount: 3`` and no restartPolicy: the killed rank restarts in
  place and the operator restarts rank 0's process in place too (no pod is recreated);
- full-job: ``restartPolicy.numRestartBeforeFullJobRestart: 1``: the first fault deletes and
  recreates every pod.

- spare: as process-level, with ``spares: 1``: a spare pod waits with the trainer already
  imported; the killed rank's pod is deleted and the spare takes its rank over (rank 0 restarts
  in place).

One kill per job, so each measured process-level restart is a container's first (the kubelet's
CrashLoopBackOff adds 10 s, doubling, to later restarts of the same pod within 10 minutes).
Prints p50 and max of each mode. Target: process-level faster than full-job, and the spare
no slower than process-level; anchor: the full-job restart on the same machine.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from _cluster import RunningControlPlane, percentile, report, start_control_plane

NODE_RANK = "sagemaker.amazonaws.com/node-rank"
MODES = ("process-level", "full-job", "spare")
READY = re.compile(r"ranks ready: world_size=(\d+) backend=\w+ at (\d+\.\d+)")


def job(name: str, mode: str, ckpt: Path) -> dict[str, Any]:
    run_policy: dict[str, Any] = {"jobMaxRetryCount": 3}
    if mode == "full-job":
        run_policy["restartPolicy"] = {
            "evalPeriodSeconds": 600,
            "numRestartBeforeFullJobRestart": 1,
            "maxFullJobRestarts": 3,
        }
    command = [
        sys.executable, "-m", "hyperpod.examples.digits", "--epochs", "200",
        "--max-steps-per-second", "20", "--checkpoint-every", "10", "--checkpoint-dir", str(ckpt),
    ]  # fmt: skip
    container = {"name": "pytorch", "image": "local/python", "command": command}
    return {
        "apiVersion": "sagemaker.amazonaws.com/v1",
        "kind": "HyperPodPyTorchJob",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "nprocPerNode": "1",
            "runPolicy": run_policy,
            "replicaSpecs": [
                {
                    "name": "worker",
                    "replicas": 2,
                    "spares": 1 if mode == "spare" else 0,
                    "template": {"spec": {"containers": [container]}},
                }
            ],
        },
    }


def ready_times(cp: RunningControlPlane, pod: str) -> list[float]:
    out = cp.kubectl("logs", pod, check=False).stdout
    return [float(m.group(2)) for m in READY.finditer(out)]


def rank_process(name: str, rank: str) -> psutil.Process | None:
    for proc in psutil.process_iter(["cmdline"]):
        try:
            env = proc.environ()
        except (psutil.Error, OSError):
            continue
        cmd = " ".join(proc.info["cmdline"] or [])
        if env.get("JOB_NAME") == name and env.get("NODE_RANK") == rank and "digits" in cmd:
            return proc
    return None


def wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise RuntimeError(f"timed out: {what}")


def trial(cp: RunningControlPlane, mode: str, index: int, tmp: Path) -> float:
    name = f"{mode}-{index}"
    cp.kubectl("apply", "-f", "-", input=json.dumps(job(name, mode, tmp / name)))
    pod = f"{name}-worker-0"
    wait(lambda: ready_times(cp, pod), 180, f"{name} ready")
    if mode == "spare":
        spare = f"{name}-worker-spare-0"
        wait(lambda: "spare ready" in cp.kubectl("logs", spare, check=False).stdout, 180, spare)
    time.sleep(1.5)
    victim = wait(lambda: rank_process(name, "1"), 30, f"{name} rank 1")
    killed = time.time()
    victim.send_signal(signal.SIGKILL)
    again = wait(
        lambda: [t for t in ready_times(cp, pod) if t > killed], 180, f"{name} ready again"
    )
    recovered = again[0] - killed
    status = json.loads(cp.kubectl("get", "hpjob", name, "-o", "json").stdout)["status"]
    full = status["restartStatus"]["fullJobRestartCount"]
    assert (full >= 1) == (mode == "full-job"), status
    if mode == "spare":
        took = json.loads(cp.kubectl("get", "pod", f"{name}-worker-spare-0", "-o", "json").stdout)
        assert took["metadata"]["labels"].get(NODE_RANK) == "1", "the spare did not take over"
    cp.kubectl("delete", "hpjob", name, "--wait=true", "--timeout=60s", check=False)
    return recovered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated subset")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    unknown = sorted(set(modes) - set(MODES))
    if unknown or "full-job" not in modes:
        parser.error(f"--modes: choose from {', '.join(MODES)}, with full-job (the anchor)")
    results: dict[str, list[float]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory() as tmp:
        cp = start_control_plane(Path(tmp) / "cp")
        try:
            for index in range(args.repeats):
                for mode in results:  # interleaved, so load affects both alike
                    seconds = trial(cp, mode, index, Path(tmp))
                    results[mode].append(seconds)
                    print(f"{mode} #{index}: {seconds:.2f} s", flush=True)
        finally:
            cp.stop()
    rows = [("figure", "measured", "target", "anchor")]
    anchor = percentile(results["full-job"], 50)
    for mode, values in results.items():
        rows.append(
            (
                f"rank killed -> all ranks training again, {mode} (p50 of {len(values)})",
                f"{percentile(values, 50):.2f} s (max {max(values):.2f} s)",
                "spare <= process-level < full-job",
                f"full-job p50 {anchor:.2f} s",
            )
        )
    report(rows)


if __name__ == "__main__":
    main()
