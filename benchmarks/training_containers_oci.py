"""The quick-start digits PyTorchJob in real containers vs as processes (issue 19).

Run (as root, with runc): .venv/bin/python benchmarks/training_containers_oci.py [--epochs 5]

Builds the torch image with ``hyp build python-image`` (this machine's interpreter, torch and
scikit-learn, ~1.8 GB; ``--archive`` reuses one), loads it into a fresh control plane whose node
runs processes by default, then runs ``examples/pytorchjob-digits.yaml`` with two ranks (Master
+ one Worker) alternately as processes and in OCI containers (the pod template gets the real
image and the annotation ``hyperpod.local/runtime: oci``; nothing else changes). Rank 0 prints
its training rate; the benchmark prints steps/s for both and their ratio.
Target: containers >= 0.95x the processes' steps/s. Anchor: the same job as processes.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from _cluster import report, start_control_plane  # puts tests/ on sys.path
from kubernetes import client

from hyperpod.kubelet import python_image
from hyperpod.kubelet.images import ImageStore

IMAGE = "localhost/hyperpod-torch:bench"
RATE = re.compile(r"steps: (\d+) in [\d.]+s \(([\d.]+) steps/s\)")
ACCURACY = re.compile(r"final test accuracy: (\d\.\d+)")
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "pytorchjob-digits.yaml"


def manifest(name: str, runtime: str, epochs: int, ckpt: Path) -> dict[str, Any]:
    job = yaml.safe_load(EXAMPLE.read_text())
    job["metadata"]["name"] = name
    specs = job["spec"]["pytorchReplicaSpecs"]
    specs["Worker"]["replicas"] = 1
    for spec in specs.values():
        tpl = spec["template"]
        tpl.setdefault("metadata", {}).setdefault("annotations", {})["hyperpod.local/runtime"] = (
            runtime
        )
        c = tpl["spec"]["containers"][0]
        c["command"] = [*c["command"][:3], "--epochs", str(epochs)]
        if runtime == "oci":
            c["image"], c["imagePullPolicy"] = IMAGE, "IfNotPresent"
        else:
            c["command"][0] = sys.executable  # the process runtime runs the host's Python
        tpl["spec"]["volumes"][0]["hostPath"]["path"] = str(ckpt / name)
    return job


def run(cp: Any, job: dict[str, Any]) -> tuple[float, float, float]:
    api = cp.api_client()
    custom, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    name = job["metadata"]["name"]
    started = time.monotonic()
    custom.create_namespaced_custom_object("kubeflow.org", "v1", "default", "pytorchjobs", job)
    state = ""
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline and state not in ("Succeeded", "Failed"):
        time.sleep(0.5)
        got = custom.get_namespaced_custom_object(
            "kubeflow.org", "v1", "default", "pytorchjobs", name
        )
        conds = (got.get("status") or {}).get("conditions") or []
        state = conds[-1]["type"] if conds else ""
    took = time.monotonic() - started
    out = ""
    if state == "Succeeded":
        out = core.read_namespaced_pod_log(f"{name}-master-0", "default")
    rate, acc = RATE.search(out), ACCURACY.search(out)
    if state != "Succeeded" or not rate or not acc:
        events = core.list_namespaced_event("default").items
        seen = [f"{e.involved_object.name}: {e.reason}: {e.message}" for e in events]
        pods = core.list_namespaced_pod("default").items
        states = [(p.metadata.name, p.status.container_statuses) for p in pods]
        raise SystemExit(f"{name}: {state or 'timed out'}\n{out[-3000:]}\n{seen}\n{states}")
    return float(rate.group(2)), float(acc.group(1)), took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--archive", type=Path, default=None, help="a torch image archive to reuse")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-oci-train-") as tmp:
        data = Path(tmp) / "cp"
        archive = args.archive
        if archive is None:
            archive = Path(tmp) / "torch.tar"
            t0 = time.monotonic()
            built = python_image.build(archive, tag=IMAGE, with_=["torch", "scikit-learn"])
            print(f"image built in {time.monotonic() - t0:.1f} s: {built}", flush=True)
        t0 = time.monotonic()
        ImageStore(data).load(archive, tag=IMAGE)
        print(f"image loaded in {time.monotonic() - t0:.1f} s", flush=True)
        config = {"nodes": {"local": {"name": "bench-node"}}, "kubelet": {"runtime": "auto"}}
        cp = start_control_plane(data, config)
        rates: dict[str, list[float]] = {"process": [], "oci": []}
        try:
            for i in range(args.repeats):
                for runtime in ("process", "oci"):
                    job = manifest(f"digits-{runtime}-{i}", runtime, args.epochs, Path(tmp))
                    rate, acc, took = run(cp, job)
                    rates[runtime].append(rate)
                    print(
                        f"run {i + 1} {runtime}: {rate:.1f} steps/s, accuracy {acc:.3f}, "
                        f"job {took:.1f} s",
                        flush=True,
                    )
        finally:
            cp.stop()
    best = {k: max(v) for k, v in rates.items()}
    report(
        [
            ("steps/s, processes (best)", f"{best['process']:.1f}", "-", "-"),
            (
                "steps/s, OCI containers (best)",
                f"{best['oci']:.1f}",
                f">= {0.95 * best['process']:.1f}",
                f"{best['process']:.1f} (processes)",
            ),
            (
                "ratio containers / processes",
                f"{best['oci'] / best['process']:.2f}",
                ">= 0.95",
                "1",
            ),
        ]
    )


if __name__ == "__main__":
    main()
