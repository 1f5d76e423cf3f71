"""A kill -9 under write load loses no acknowledged write; revisions keep increasing."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from support import start_control_plane


def test_kill_9_under_load_loses_no_acknowledged_write(tmp_path: Path) -> None:
    cp = start_control_plane(tmp_path / "crash")
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    api = cp.api_client()

    def writer(n: int) -> None:
        core = client.CoreV1Api(api)
        i = 0
        while not stop.is_set():
            name = f"w{n}-{i}"
            try:
                core.create_namespaced_config_map(
                    "default",
                    client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name), data={"i": str(i)}),
                    _request_timeout=5,
                )
            except (ApiException, HTTPError, OSError):
                return  # the server died mid-request: this write was never acknowledged
            with lock:
                acked.append(name)
            i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    last_rv = int(
        client.CoreV1Api(api).list_namespaced_config_map("default").metadata.resource_version
    )
    os.killpg(cp.proc.pid, signal.SIGKILL)
    cp.proc.wait(10)
    stop.set()
    for t in threads:
        t.join(10)
    assert len(acked) > 20, "the load generator did not get going"

    again = start_control_plane(tmp_path / "crash")
    try:
        core = client.CoreV1Api(again.api_client())
        present = {c.metadata.name for c in core.list_namespaced_config_map("default").items}
        missing = [n for n in acked if n not in present]
        assert missing == []
        created = core.create_namespaced_config_map(
            "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="after-restart"))
        )
        assert int(created.metadata.resource_version) > last_rv
    finally:
        again.stop()
