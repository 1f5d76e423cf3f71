"""CDI edits in an OCI spec, cgroup limits from container resources, the Python image plan."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from hyperpod.kubelet import cdi, oci, oci_cgroups, python_image


def _spec_file(d: Path, devices: list[dict[str, Any]], common: dict[str, Any]) -> None:
    d.mkdir(parents=True, exist_ok=True)
    doc = {"cdiVersion": "0.5.0", "kind": "nvidia.com/gpu", "devices": devices}
    doc["containerEdits"] = common
    (d / "nvidia.json").write_text(json.dumps(doc))


def test_no_cdi_spec_is_a_clear_error_naming_the_fix(tmp_path: Path) -> None:
    (tmp_path / "other.yaml").write_text("kind: example.com/fpga\ndevices: []\n")
    with pytest.raises(cdi.CdiError, match=r"cannot pass GPUs.*nvidia-ctk cdi generate"):
        cdi.edits_for(["GPU-a"], {"GPU-a": 0}, [tmp_path, tmp_path / "absent"])


def test_a_gpu_missing_from_the_spec_is_named(tmp_path: Path) -> None:
    _spec_file(tmp_path, [{"name": "0", "containerEdits": {}}], {})
    with pytest.raises(cdi.CdiError, match="GPU GPU-b \\(index 1\\) is not in the CDI spec"):
        cdi.edits_for(["GPU-b"], {"GPU-b": 1}, [tmp_path])


def test_cdi_edits_of_the_allocated_gpus_land_in_the_oci_spec(tmp_path: Path) -> None:
    devices = [
        {"name": "GPU-u1", "containerEdits": {"deviceNodes": [{"path": "/dev/nvidia1",
         "hostPath": "/dev/null"}], "env": ["ONE=1"]}},
        {"name": "0", "containerEdits": {"deviceNodes": [{"path": "/dev/nvidia0",
         "hostPath": "/dev/null"}]}},
    ]  # fmt: skip
    common = {
        "deviceNodes": [{"path": "/dev/nvidiactl", "hostPath": "/dev/zero", "permissions": "rw"}],
        "mounts": [{"hostPath": "/etc/hostname", "containerPath": "/usr/lib/libcuda.so.1"}],
        "env": ["NVIDIA_VISIBLE_DEVICES=void", "PATH=/cdi"],
        "hooks": [{"hookName": "createContainer", "path": "/bin/true", "args": ["true"]}],
    }
    _spec_file(tmp_path, devices, common)
    edits = cdi.edits_for(["GPU-u1"], {"GPU-u1": 1}, [tmp_path])  # matched by UUID
    spec = oci.runtime_spec(["sh"], ["PATH=/bin", "A=b"], "/", [], hostname="h")
    cdi.apply(spec, edits)
    paths = [d["path"] for d in spec["linux"]["devices"]]
    assert paths == ["/dev/nvidiactl", "/dev/nvidia1"]  # not nvidia0: not allocated
    null, zero = os.stat("/dev/null").st_rdev, os.stat("/dev/zero").st_rdev
    rules = spec["linux"]["resources"]["devices"]
    assert rules[0] == {
        "allow": True,
        "type": "c",
        "major": os.major(zero),
        "minor": os.minor(zero),
        "access": "rw",
    }
    assert (rules[1]["major"], rules[1]["minor"]) == (os.major(null), os.minor(null))
    assert spec["mounts"][-1]["destination"] == "/usr/lib/libcuda.so.1"
    assert spec["process"]["env"] == ["PATH=/cdi", "A=b", "NVIDIA_VISIBLE_DEVICES=void", "ONE=1"]
    assert spec["hooks"] == {"createContainer": [{"path": "/bin/true", "args": ["true"]}]}
    # By index when the spec names devices by number.
    assert cdi.edits_for(["GPU-x"], {"GPU-x": 0}, [tmp_path]).device_nodes[-1]["path"] == (
        "/dev/nvidia0"
    )


def test_a_cdi_device_node_that_is_not_a_device_is_refused(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("x")
    _spec_file(
        tmp_path,
        [{"name": "0", "containerEdits": {"deviceNodes": [{"path": "/dev/nvidia0",
          "hostPath": str(tmp_path / "plain")}]}}],
        {},
    )  # fmt: skip
    spec = oci.runtime_spec(["sh"], [], "/", [], hostname="h")
    with pytest.raises(cdi.CdiError, match="is not a device"):
        cdi.apply(spec, cdi.edits_for(["G"], {"G": 0}, [tmp_path]))


def test_limits_follow_the_kubelets_cpu_and_memory_rules() -> None:
    container = {"resources": {"limits": {"cpu": "1500m", "memory": "64Mi"}}}
    pod = {"metadata": {"annotations": {oci_cgroups.PIDS_ANNOTATION: "64"}}}
    limits = oci_cgroups.limits_for(container, pod)
    # No request: it defaults to the limit, so shares follow the limit.
    assert limits == oci_cgroups.Limits(64 << 20, 150_000, 1536, 64)
    small = oci_cgroups.limits_for({"resources": {"requests": {"cpu": "1m"}}}, {})
    assert small == oci_cgroups.Limits(None, None, 2, None)
    assert oci_cgroups.limits_for({}, {}) == oci_cgroups.Limits()
    with pytest.raises(oci_cgroups.LimitError, match="pids-limit"):
        oci_cgroups.limits_for(
            {}, {"metadata": {"annotations": {"hyperpod.local/pids-limit": "0"}}}
        )


def test_v2_and_machines_without_cgroups_put_every_limit_in_the_spec(tmp_path: Path) -> None:
    limits = oci_cgroups.Limits(1 << 20, 50_000, 512, 10)
    got = oci_cgroups.setup("cid", limits, root=tmp_path)  # no cgroup files: "none"
    assert oci_cgroups.layout(tmp_path) == "none"
    assert got.cgroups_path == "hyperpod/cid" and got.memory_dir == ""
    assert got.resources == {
        "cpu": {"shares": 512, "quota": 50_000, "period": 100_000},
        "pids": {"limit": 10},
        "memory": {"limit": 1 << 20},
    }


def test_on_v1_the_memory_limit_sits_on_a_parent_the_kubelet_reads_after_the_end(
    tmp_path: Path,
) -> None:
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text("max\n")
    assert oci_cgroups.layout(tmp_path) == "v1"
    got = oci_cgroups.setup("cid", oci_cgroups.Limits(memory=4096), root=tmp_path)
    assert got.cgroups_path == "hyperpod/cid/ctr" and "memory" not in got.resources
    parent = Path(got.memory_dir)
    assert (parent / "memory.limit_in_bytes").read_text() == "4096"
    assert not oci_cgroups.hit_memory_limit(got.memory_dir)  # no failcnt: not hit
    (parent / "memory.failcnt").write_text("3\n")
    assert oci_cgroups.hit_memory_limit(got.memory_dir)


def test_the_python_image_plan_has_the_interpreter_its_libraries_and_hyperpod() -> None:
    plan = python_image.plan([])
    names = set(plan.files) | set(plan.links)
    real = Path(sys.executable).resolve()
    assert str(real).lstrip("/") in names
    assert plan.links["usr/local/bin/python"] == str(real)
    assert any(n.endswith("/os.py") for n in names)
    assert any("ld-linux" in n for n in names)  # the dynamic loader, found by ldd
    assert any(n.endswith("site-packages/hyperpod/progress.py") for n in names)
    assert not any("/test/" in n or "/idlelib/" in n for n in names)
    with pytest.raises(python_image.BuildError, match="'no-such-dist' is not installed"):
        python_image.plan(["no-such-dist"])


def test_requirements_of_a_distribution_come_along_but_not_its_extras() -> None:
    names = {d.metadata["Name"].lower() for d in python_image.distributions(["requests"])}
    assert {"requests", "urllib3", "idna", "certifi", "charset-normalizer"} <= names
    assert "pysocks" not in names  # requests[socks] is an extra


def test_cleanup_removes_the_path_in_every_hierarchy_runc_made_it_in(tmp_path: Path) -> None:
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text("max\n")
    made = [tmp_path / h / "hyperpod" / "cid" / "ctr" for h in ("fake-a", "fake-b")]
    for d in made:
        d.mkdir(parents=True)
    other = tmp_path / "fake-a" / "hyperpod" / "other"
    other.mkdir()
    oci_cgroups.cleanup("cid", root=tmp_path)
    assert not any(d.parent.exists() for d in made)
    assert other.is_dir()  # another container's cgroup stays
