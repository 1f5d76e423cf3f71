"""examples/inference-digits.yaml end to end: a PyTorchJob trains the digits model into a
PersistentVolumeClaim, a 2-replica Deployment serves it behind a Service, and ``POST
/predict`` through the Service's clusterIP classifies held-out digits.

The example's 15 epochs and its Worker are cut to 2 epochs on the Master alone here, to stay
quick; everything else is the file as shipped.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from support import KUBECTL, RunningControlPlane, start_control_plane

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.timeout(240),
    pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed"),
]
pytest.importorskip("torch")
pytest.importorskip("sklearn")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "inference-digits.yaml"


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    a, b = random.randrange(130, 250), random.randrange(0, 250, 2)
    config = {
        "nodes": {"local": {"name": "local-node"}},
        "addons": {"kueue": False, "healthAgent": False},
        "services": {"clusterIPRange": f"127.{a}.{b}.0/24"},
        "kubelet": {"podIPRange": f"127.{a}.{b + 1}.0/24"},
    }
    # The example's `python` is the first on PATH: make it this interpreter (it has torch).
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    plane = start_control_plane(tmp_path_factory.mktemp("inference"), config, env={"PATH": path})
    yield plane
    plane.stop()


def get(cp: RunningControlPlane, *args: str) -> Any:
    return json.loads(cp.kubectl("get", *args, "-o", "json").stdout)


def wait(cp: RunningControlPlane, what: str, fn: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"{what}: last {last!r}\n{cp.log()[-3000:]}")


def post(url: str, doc: Any) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(
        url, json.dumps(doc).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def quick(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for doc in docs:
        if doc["kind"] == "PyTorchJob":
            specs = doc["spec"]["pytorchReplicaSpecs"]
            specs.pop("Worker")
            command = specs["Master"]["template"]["spec"]["containers"][0]["command"]
            command[command.index("--epochs") + 1] = "2"
    return docs


def test_train_into_a_claim_then_serve_it_behind_a_service(
    cp: RunningControlPlane, tmp_path: Path
) -> None:
    from sklearn.datasets import load_digits

    manifest = tmp_path / "inference.yaml"
    manifest.write_text(yaml.safe_dump_all(quick(list(yaml.safe_load_all(EXAMPLE.read_text())))))
    cp.kubectl("apply", "-f", str(manifest))
    wait(
        cp,
        "the training job to succeed",
        lambda: any(
            c["type"] == "Succeeded" and c["status"] == "True"
            for c in get(cp, "pytorchjob", "digits-train").get("status", {}).get("conditions", [])
        ),
        150,
    )
    claim = get(cp, "pvc", "digits-model")
    assert claim["status"]["phase"] == "Bound"
    wait(
        cp,
        "both serving replicas ready",
        lambda: get(cp, "deploy", "digits-serve")["status"].get("readyReplicas") == 2,
        90,
    )
    ip = get(cp, "svc", "digits")["spec"]["clusterIP"]
    digits = load_digits()
    picks = list(range(1500, 1540))
    code, body = post(
        f"http://{ip}/predict", {"instances": [[int(v) for v in digits.data[i]] for i in picks]}
    )
    assert code == 200, body
    right = sum(p == int(digits.target[i]) for p, i in zip(body["predictions"], picks, strict=True))
    assert right >= 30, f"{right}/40 right: {body}"
    assert body["checkpoint"].startswith("ckpt-")
    pods = {
        post(f"http://{ip}/predict", {"pixels": [int(v) for v in digits.data[0]]})[1]["pod"]
        for _ in range(12)
    }
    assert len(pods) == 2, pods  # the Service spreads requests over both replicas
    code, body = post(f"http://{ip}/predict", {"pixels": [1, 2, 3]})
    assert code == 400 and "64 numbers" in body["error"]
