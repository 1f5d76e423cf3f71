"""Training steps/s as a HyperPodPyTorchJob vs as a Kubeflow PyTorchJob (issue 15).

Run: .venv/bin/python benchmarks/hyperpod_vs_pytorchjob.py [--epochs 20] [--repeats 2]

The digits example runs on 2 pods of the local node twice per repeat (interleaved), once
under each operator, on one real control plane. Rank 0 prints its training rate; the figure is
HyperPodPyTorchJob steps/s over PyTorchJob steps/s (best of the repeats). Target: >= 0.97
(the operator is not on the training path). Anchor: the PyTorchJob run of the same repeat.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _cluster import RunningControlPlane, report, start_control_plane

RATE = re.compile(r"steps: (\d+) in [\d.]+s \(([\d.]+) steps/s\)")


def command(epochs: int) -> list[str]:
    return [sys.executable, "-m", "hyperpod.examples.digits", "--epochs", str(epochs)]


def hpjob(name: str, epochs: int) -> dict[str, Any]:
    container = {"name": "pytorch", "image": "local/python", "command": command(epochs)}
    return {
        "apiVersion": "sagemaker.amazonaws.com/v1",
        "kind": "HyperPodPyTorchJob",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "nprocPerNode": "1",
            "replicaSpecs": [
                {"name": "node", "replicas": 2, "template": {"spec": {"containers": [container]}}}
            ],
        },
    }


def pytorchjob(name: str, epochs: int) -> dict[str, Any]:
    def replica() -> dict[str, Any]:
        container = {"name": "pytorch", "image": "local/python", "command": command(epochs)}
        return {"replicas": 1, "template": {"spec": {"containers": [container]}}}

    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"pytorchReplicaSpecs": {"Master": replica(), "Worker": replica()}},
    }


def run(cp: RunningControlPlane, manifest: dict[str, Any], resource: str, pod: str) -> float:
    name = manifest["metadata"]["name"]
    cp.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        found = RATE.search(cp.kubectl("logs", pod, check=False).stdout)
        if found:
            cp.kubectl("delete", resource, name, "--wait=false")
            return float(found.group(2))
        time.sleep(0.5)
    raise RuntimeError(f"{name} did not finish")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    hp: list[float] = []
    kf: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        cp = start_control_plane(Path(tmp) / "cp")
        try:
            for i in range(args.repeats):
                kf.append(
                    run(cp, pytorchjob(f"kf-{i}", args.epochs), "pytorchjob", f"kf-{i}-master-0")
                )
                hp.append(run(cp, hpjob(f"hp-{i}", args.epochs), "hpjob", f"hp-{i}-node-0"))
                print(
                    f"repeat {i}: PyTorchJob {kf[-1]:.1f} steps/s, HyperPodPyTorchJob {hp[-1]:.1f}"
                )
        finally:
            cp.stop()
    report(
        [
            ("figure", "measured", "target", "anchor"),
            (
                "HyperPodPyTorchJob / PyTorchJob steps/s (best of each)",
                f"{max(hp) / max(kf):.3f} ({max(hp):.1f} vs {max(kf):.1f} steps/s)",
                ">= 0.97",
                f"PyTorchJob {max(kf):.1f} steps/s",
            ),
        ]
    )


if __name__ == "__main__":
    main()
