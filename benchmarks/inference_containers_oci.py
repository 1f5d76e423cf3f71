"""examples/inference-digits.yaml in real containers vs as processes (issue 19).

Run (as root, with runc and kubectl): .venv/bin/python benchmarks/inference_containers_oci.py

Builds the torch image with ``hyp build python-image`` (``--archive`` reuses one), loads it into
a fresh control plane whose node runs processes by default, then applies the example as shipped
(a PyTorchJob training into a PersistentVolumeClaim, a 2-replica Deployment serving it behind a
Service) twice, each in its own namespace: once as processes, once in OCI containers. The only
edits are the runtime annotation on every pod template and, for containers, the real image in
place of the recorded one. For each it prints apply -> training Succeeded, apply -> both serving
replicas ready, the accuracy of 200 held-out digits posted through the Service's clusterIP, and
the p50/p99 of single-digit predictions, and the root file system a serving pod sees
(overlay in a container). Target: containers serve the same answers; anchor: the
same example as processes.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from _cluster import RunningControlPlane, percentile, report, start_control_plane

from hyperpod.kubelet import python_image
from hyperpod.kubelet.images import ImageStore

IMAGE = "localhost/hyperpod-torch:bench"
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "inference-digits.yaml"
# Run in a serving pod: the type of the file system mounted at / (the last mount there wins).
ROOT_FS_TYPE = "print([m.split()[2] for m in open('/proc/self/mounts') if m.split()[1] == '/'][-1])"


def manifest(runtime: str) -> list[dict[str, Any]]:
    docs = list(yaml.safe_load_all(EXAMPLE.read_text()))
    templates: list[dict[str, Any]] = []
    for doc in docs:
        if doc["kind"] == "PyTorchJob":
            templates += [s["template"] for s in doc["spec"]["pytorchReplicaSpecs"].values()]
        elif doc["kind"] == "Deployment":
            templates.append(doc["spec"]["template"])
    for tpl in templates:
        notes = tpl.setdefault("metadata", {}).setdefault("annotations", {})
        notes["hyperpod.local/runtime"] = runtime
        for c in tpl["spec"]["containers"]:
            if runtime == "oci":
                c["image"], c["imagePullPolicy"] = IMAGE, "IfNotPresent"
            else:
                c["command"][0] = sys.executable  # the process runtime runs the host's Python
    return docs


def get(cp: RunningControlPlane, ns: str, *what: str) -> Any:
    return json.loads(cp.kubectl("get", "-n", ns, *what, "-o", "json").stdout)


def wait(what: str, check: Callable[[], bool], timeout: float = 600) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.25)
    raise SystemExit(f"timed out waiting for {what}")


def post(url: str, doc: Any) -> dict[str, Any]:
    req = urllib.request.Request(
        url, json.dumps(doc).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        answer: dict[str, Any] = json.loads(resp.read())
        return answer


def run(cp: RunningControlPlane, runtime: str, tmp: Path) -> dict[str, Any]:
    from sklearn.datasets import load_digits

    ns = f"digits-{runtime}"
    cp.kubectl("create", "namespace", ns)
    path = tmp / f"{ns}.yaml"
    path.write_text(yaml.safe_dump_all(manifest(runtime)))
    started = time.monotonic()
    cp.kubectl("apply", "-n", ns, "-f", str(path))

    def trained() -> bool:
        conds = get(cp, ns, "pytorchjob", "digits-train").get("status", {}).get("conditions", [])
        failed = [c for c in conds if c["type"] == "Failed" and c["status"] == "True"]
        if failed:
            raise SystemExit(f"{ns}: training failed: {failed}\n{cp.log()[-3000:]}")
        return any(c["type"] == "Succeeded" and c["status"] == "True" for c in conds)

    wait(f"{ns} training", trained)
    train_s = time.monotonic() - started
    wait(
        f"{ns} serving",
        lambda: get(cp, ns, "deploy", "digits-serve")["status"].get("readyReplicas") == 2,
    )
    ready_s = time.monotonic() - started
    url = f"http://{get(cp, ns, 'svc', 'digits')['spec']['clusterIP']}/predict"
    digits = load_digits()
    picks = list(range(1597 - 200, 1597))
    body = post(url, {"instances": [[int(v) for v in digits.data[i]] for i in picks]})
    right = sum(p == int(digits.target[i]) for p, i in zip(body["predictions"], picks, strict=True))
    latencies = []
    for i in picks[:100]:
        t0 = time.perf_counter()
        post(url, {"pixels": [int(v) for v in digits.data[i]]})
        latencies.append((time.perf_counter() - t0) * 1000)
    serving = get(cp, ns, "pods", "-l", "app=digits-serve")["items"][0]["metadata"]["name"]
    root_fs = cp.kubectl(
        "exec", "-n", ns, serving, "--", "python", "-c", ROOT_FS_TYPE
    ).stdout.strip()
    figures: dict[str, Any] = {
        "root": root_fs,
        "train": train_s,
        "ready": ready_s,
        "accuracy": right / len(picks),
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
    }
    print(f"{runtime}: {figures}", flush=True)
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archive", type=Path, default=None, help="a torch image archive to reuse")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-oci-infer-") as tmp_name:
        tmp = Path(tmp_name)
        archive = args.archive
        if archive is None:
            archive = tmp / "torch.tar"
            t0 = time.monotonic()
            python_image.build(archive, tag=IMAGE, with_=["torch", "scikit-learn"])
            print(f"image built in {time.monotonic() - t0:.1f} s", flush=True)
        t0 = time.monotonic()
        ImageStore(tmp / "cp").load(archive, tag=IMAGE)
        print(f"image loaded in {time.monotonic() - t0:.1f} s", flush=True)
        config = {
            "nodes": {"local": {"name": "bench-node"}},
            "addons": {"kueue": False, "healthAgent": False},
            "kubelet": {"runtime": "auto"},
        }
        cp = start_control_plane(tmp / "cp", config)
        try:
            proc = run(cp, "process", tmp)
            oci = run(cp, "oci", tmp)
        finally:
            cp.stop()
    report(
        [
            ("figure", "containers", "target", "processes (anchor)"),
            ("root file system seen by a serving pod", oci["root"], "overlay", proc["root"]),
            ("apply -> training Succeeded", f"{oci['train']:.1f} s", "-", f"{proc['train']:.1f} s"),
            (
                "apply -> 2 serving replicas ready",
                f"{oci['ready']:.1f} s",
                "-",
                f"{proc['ready']:.1f} s",
            ),
            (
                "accuracy, 200 held-out digits via the Service",
                f"{oci['accuracy']:.3f}",
                "same as processes",
                f"{proc['accuracy']:.3f}",
            ),
            (
                "one prediction via the Service, p50 / p99",
                f"{oci['p50']:.1f} / {oci['p99']:.1f} ms",
                "-",
                f"{proc['p50']:.1f} / {proc['p99']:.1f} ms",
            ),
        ]
    )


if __name__ == "__main__":
    main()
