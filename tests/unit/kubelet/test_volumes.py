"""Volumes become host directories; mount paths are substituted."""

from __future__ import annotations

import base64
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from hyperpod.kubelet.volumes import Mount, VolumeError, mounts_for, prepare, substitute


def lookup(res: str, ns: str, name: str) -> dict[str, Any] | None:
    if (res, name) == ("configmaps", "cfg"):
        return {"data": {"config.yaml": "lr: 0.1\n", "other": "x"}}
    if (res, name) == ("secrets", "tok"):
        return {"data": {"token": base64.b64encode(b"s3cret").decode()}}
    if (res, name) == ("persistentvolumeclaims", "shared"):
        return {"spec": {"volumeName": "pv-1"}, "status": {"phase": "Bound"}}
    if (res, name) == ("persistentvolumeclaims", "pending"):
        return {"spec": {}, "status": {"phase": "Pending"}}
    if (res, name) == ("persistentvolumes", "pv-1"):
        return {"spec": {"hostPath": {"path": PV_DIR}}}
    return None


PV_DIR = str(Path(tempfile.gettempdir()) / f"hyperpod-test-pv-{os.getpid()}")


def pod(*volumes: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u", "labels": {"app": "x"}},
        "spec": {"volumes": list(volumes), "containers": [{"name": "main"}]},
    }


def test_each_supported_volume_becomes_a_directory(tmp_path: Path) -> None:
    host = tmp_path / "host" / "ckpt"
    p = pod(
        {"name": "scratch", "emptyDir": {}},
        {"name": "ckpt", "hostPath": {"path": str(host), "type": "DirectoryOrCreate"}},
        {
            "name": "cfg",
            "configMap": {"name": "cfg", "items": [{"key": "config.yaml", "path": "c.yaml"}]},
        },
        {"name": "tok", "secret": {"secretName": "tok"}},
        {
            "name": "info",
            "downwardAPI": {
                "items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]
            },
        },
        {"name": "data", "persistentVolumeClaim": {"claimName": "shared"}},
    )
    vols = prepare(p, tmp_path / "sandbox", tmp_path, lookup)
    assert Path(vols["scratch"]).is_dir() and host.is_dir() and vols["ckpt"] == str(host)
    assert (Path(vols["cfg"]) / "c.yaml").read_text() == "lr: 0.1\n"
    assert not (Path(vols["cfg"]) / "other").exists()
    assert (Path(vols["tok"]) / "token").read_bytes() == b"s3cret"
    assert (Path(vols["info"]) / "labels").read_text() == 'app="x"'
    assert vols["data"] == PV_DIR and Path(PV_DIR).is_dir()
    Path(PV_DIR).rmdir()


def test_a_claim_that_is_missing_or_unbound_keeps_the_pod_waiting(tmp_path: Path) -> None:
    for claim, message in (
        ("nope", 'persistentvolumeclaim "nope" not found'),
        ("pending", "not bound yet"),
    ):
        vol = {"name": "d", "persistentVolumeClaim": {"claimName": claim}}
        with pytest.raises(VolumeError, match=message) as info:
            prepare(pod(vol), tmp_path, tmp_path, lookup)
        assert info.value.reason == "ContainerCreating"


def test_unknown_volume_types_and_missing_sources_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(VolumeError, match="unsupported volume type nfs"):
        prepare(pod({"name": "n", "nfs": {"server": "x"}}), tmp_path, tmp_path, lookup)
    with pytest.raises(VolumeError, match='configmap "missing" not found'):
        prepare(pod({"name": "c", "configMap": {"name": "missing"}}), tmp_path, tmp_path, lookup)
    with pytest.raises(VolumeError, match="has no matching volume"):
        mounts_for({"volumeMounts": [{"name": "x", "mountPath": "/x"}]}, {})


def test_mount_paths_are_substituted_only_on_path_boundaries() -> None:
    mounts = mounts_for(
        {
            "volumeMounts": [
                {"name": "a", "mountPath": "/data"},
                {"name": "b", "mountPath": "/data/cfg"},
            ]
        },
        {"a": "/h/a", "b": "/h/b"},
    )
    assert substitute("/data/cfg/x.yaml", mounts) == "/h/b/x.yaml"
    assert substitute("--out=/data/run", mounts) == "--out=/h/a/run"
    assert substitute("/database", mounts) == "/database"
    assert substitute("/mnt/data", mounts) == "/mnt/data"
    assert substitute("/data", [Mount("/data", "/h/a")]) == "/h/a"
