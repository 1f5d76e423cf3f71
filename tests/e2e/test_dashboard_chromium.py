"""The live web dashboard in a real headless Chromium, checked against the API.

One cluster (a local node with two fake GPUs, two simulated p5 nodes) runs a PyTorchJob that
prints ``PROGRESS`` lines on the local node, and a Kueue team whose job cannot fit its quota
and stays pending. The browser logs in with the one-time link ``hyp get-monitoring`` prints
and reads the pages; screenshots are saved under the test's tmp dir (``screenshots/``).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import chromium
from hyperpod.cli.main import cli
from hyperpod.runtime.nodes import local_node_name
from support import KUBECTL, RunningControlPlane, start_control_plane

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(300),
    pytest.mark.skipif(KUBECTL is None, reason="needs kubectl"),
    pytest.mark.skipif(chromium.find() is None, reason=chromium.SKIP_REASON),
]
CONFIG = {"nodes": {"simulated": [{"group": "p5", "instanceType": "ml.p5.48xlarge", "count": 2}]}}
NODE = local_node_name({})
STEPS = 3000
SCRIPT = (
    "import time\n"
    f"for i in range(1, {STEPS + 1}):\n"
    f"    print(f'PROGRESS {{i}}/{STEPS} loss={{1.0 / i:.4f}}', flush=True)\n"
    "    time.sleep(0.1)\n"
)


def trainer() -> dict[str, Any]:
    container = {
        "name": "pytorch",
        "image": "local/python",
        "command": [sys.executable, "-c", SCRIPT],
        "resources": {"limits": {"nvidia.com/gpu": "1"}},
    }
    template = {
        "spec": {"nodeSelector": {"kubernetes.io/hostname": NODE}, "containers": [container]}
    }
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": "trainer", "namespace": "default"},
        "spec": {"pytorchReplicaSpecs": {"Master": {"replicas": 1, "template": template}}},
    }


def too_big() -> dict[str, Any]:
    container = {
        "name": "pytorch",
        "image": "local/python",
        "command": ["python", "-c", "pass"],
        "resources": {"requests": {"nvidia.com/gpu": "8"}, "limits": {"nvidia.com/gpu": "8"}},
    }
    spec = {"spec": {"containers": [container]}}
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {
            "name": "toobig",
            "namespace": "hyperpod-ns-a",
            "labels": {"kueue.x-k8s.io/queue-name": "hyperpod-ns-a-localqueue"},
        },
        "spec": {
            "pytorchReplicaSpecs": {
                "Master": {"replicas": 1, "template": spec},
                "Worker": {"replicas": 2, "template": spec},
            }
        },
    }


def hyp(cp: RunningControlPlane, *args: str) -> str:
    res = CliRunner().invoke(cli, ["--kubeconfig", str(cp.kubeconfig), *args])
    assert res.exit_code == 0, res.output
    return res.output


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningControlPlane]:
    plane = start_control_plane(
        tmp_path_factory.mktemp("dash"), CONFIG, env={"HYPERPOD_FAKE_GPUS": "2"}
    )
    try:
        plane.kubectl("apply", "-f", "-", input=json.dumps(trainer()))
        hyp(
            plane,
            *("create", "compute-quota", "--team", "a", "--instance-type", "ml.p5.48xlarge"),
            *("--count", "1"),
        )
        plane.kubectl("apply", "-f", "-", input=json.dumps(too_big()))
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def browser(
    cp: RunningControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[chromium.Browser]:
    with chromium.Browser(tmp_path_factory.mktemp("chromium")) as b:
        link = hyp(cp, "get-monitoring", "--dashboard-login").strip()
        assert link.startswith(f"{cp.url}/dashboard/login?token=")
        b.navigate(link)
        b.wait_for(
            "location.pathname === '/dashboard/' && document.getElementById('live').dataset.updated",
            "the login page to move on to the live overview",
        )
        yield b


def open_page(b: chromium.Browser, cp: RunningControlPlane, page: str) -> None:
    b.navigate(f"{cp.url}/dashboard/{page}")
    b.wait_for(
        "document.getElementById('conn').textContent === 'live' && "
        "document.getElementById('live').dataset.updated",
        "the live stream's first page",
    )


def row_text(b: chromium.Browser, key: str) -> str:
    return str(
        b.evaluate(
            f"(document.querySelector('tr[data-key=\"{key}\"]') || {{innerText: ''}}).innerText"
        )
    )


def api_job(cp: RunningControlPlane, ns: str, name: str) -> dict[str, Any]:
    return dict(json.loads(cp.kubectl("get", "pytorchjob", name, "-n", ns, "-o", "json").stdout))


def api_step(cp: RunningControlPlane) -> int:
    return int(
        ((api_job(cp, "default", "trainer").get("status") or {}).get("progress") or {}).get("step")
        or 0
    )


def page_step(b: chromium.Browser) -> int:
    m = re.search(r"\((\d+)/" + str(STEPS) + r"\)", row_text(b, "default/trainer"))
    return int(m.group(1)) if m else 0


def pending_reason(cp: RunningControlPlane) -> str:
    wls = json.loads(cp.kubectl("get", "workloads", "-n", "hyperpod-ns-a", "-o", "json").stdout)
    for wl in wls["items"]:
        for c in (wl.get("status") or {}).get("conditions") or []:
            if c["type"] == "QuotaReserved" and c["status"] == "False":
                return str(c["message"])
    return ""


def test_the_overview_counts_match_the_api(
    cp: RunningControlPlane, browser: chromium.Browser, shots: Path
) -> None:
    open_page(browser, cp, "")
    nodes = json.loads(cp.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    text = browser.wait_for(
        f"document.body.innerText.includes('{len(nodes)} / {len(nodes)}') && "
        "document.body.innerText",
        "every node ready",
        timeout=60,
    )
    # Two simulated p5 nodes (8 GPUs each) plus the local node's two fake GPUs.
    assert "Nodes ready" in text and "/ 18" in text
    browser.screenshot(shots / "overview.png")


def test_the_jobs_page_shows_a_running_jobs_progress_as_the_api_reports_it(
    cp: RunningControlPlane, browser: chromium.Browser, shots: Path
) -> None:
    open_page(browser, cp, "jobs")
    browser.wait_for(
        "document.querySelector('tr[data-key=\"default/trainer\"] progress') !== null",
        "the trainer's progress bar",
        timeout=120,
    )
    before = api_step(cp)
    shown = page_step(browser)
    after = api_step(cp)
    # The page is at most one update behind the API, never ahead of it.
    assert 0 < shown <= after
    assert shown >= before or after - shown < 50
    row = row_text(browser, "default/trainer")
    assert "Running" in row and "%" in row
    browser.screenshot(shots / "jobs.png")


def test_the_jobs_page_shows_why_a_pending_job_waits(
    cp: RunningControlPlane, browser: chromium.Browser
) -> None:
    open_page(browser, cp, "jobs")
    reason = ""
    for _ in range(300):
        reason = pending_reason(cp)
        if reason and reason in row_text(browser, "hyperpod-ns-a/toobig"):
            break
        browser.evaluate("new Promise(r => setTimeout(r, 200))", await_promise=True)
    assert reason, "the workload never reported why it waits"
    row = row_text(browser, "hyperpod-ns-a/toobig")
    assert "Queued" in row and reason in row


def test_the_queues_page_lists_pending_workloads_with_their_reason(
    cp: RunningControlPlane, browser: chromium.Browser, shots: Path
) -> None:
    open_page(browser, cp, "queues")
    reason = pending_reason(cp)
    text = browser.wait_for(
        "document.body.innerText.includes('hyperpod-ns-a-clusterqueue') && document.body.innerText",
        "the team's ClusterQueue",
    )
    assert "PyTorchJob/toobig" in text and reason in text
    assert "nvidia.com/gpu" in text
    browser.screenshot(shots / "queues.png")


def test_the_page_updates_live_without_reloading(
    cp: RunningControlPlane, browser: chromium.Browser
) -> None:
    open_page(browser, cp, "jobs")
    browser.wait_for(
        "document.querySelector('tr[data-key=\"default/trainer\"] progress') !== null", "row"
    )
    browser.evaluate("window.__notReloaded = 42")
    browser.evaluate("document.querySelector('#live table').__kept = true")
    first = page_step(browser)
    browser.wait_for(
        f"(/\\((\\d+)\\/{STEPS}\\)/.exec(document.querySelector("
        "'tr[data-key=\"default/trainer\"]').innerText) || [0, 0])[1] > " + str(first),
        "the progress to move on",
    )
    assert browser.evaluate("window.__notReloaded") == 42
    # Only the job's row was replaced: the table itself (and every other row) stayed.
    assert browser.evaluate("document.querySelector('#live table').__kept === true")
    assert browser.evaluate("document.getElementById('live').dataset.updated")


def test_the_job_page_streams_live_logs(
    cp: RunningControlPlane, browser: chromium.Browser, shots: Path
) -> None:
    open_page(browser, cp, "jobs/pytorchjob/default/trainer")
    browser.wait_for("document.querySelector('button.logs') !== null", "a logs button")
    browser.evaluate("document.querySelector('button.logs').click()")
    browser.wait_for(
        "document.getElementById('logtext').textContent.includes('PROGRESS')", "log lines"
    )
    n = browser.evaluate("document.getElementById('logtext').textContent.split('\\n').length")
    browser.wait_for(
        f"document.getElementById('logtext').textContent.split('\\n').length > {n}",
        "more log lines while following",
    )
    text = browser.evaluate("document.body.innerText")
    assert "Running" in text and "Events" in text
    browser.screenshot(shots / "job.png")


def test_the_nodes_page_shows_gpus_in_use_and_telemetry(
    cp: RunningControlPlane, browser: chromium.Browser, shots: Path
) -> None:
    open_page(browser, cp, "nodes")
    local = browser.wait_for(
        f"(document.querySelector('tr[data-key=\"{NODE}\"]') || {{}}).innerText",
        "the local node",
    )
    assert "1 / 2" in local  # the trainer holds one of the two fake GPUs
    assert "MiB" in local and "default/trainer" in local
    browser.screenshot(shots / "nodes.png")


def test_without_a_session_the_browser_is_told_to_use_hyp_get_monitoring(
    cp: RunningControlPlane, browser: chromium.Browser
) -> None:
    browser.call("Network.clearBrowserCookies")
    browser.navigate(f"{cp.url}/dashboard/jobs")
    text = browser.evaluate("document.body.innerText")
    assert "hyp get-monitoring" in text and "trainer" not in text
