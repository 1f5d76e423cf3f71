"""The default lifecycle script: LF endings, a shebang, shellcheck clean, and what it does, run
for real by bash in a scratch root with ``mountpoint``, ``mount`` and ``systemctl`` replaced by
recording stand-ins (the only commands that would touch the machine)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hyperpod.providers.aws.provider import DEFAULT_SCRIPT

SHIMS = {
    "mountpoint": 'grep -qxF "$2" "$SHIM_DIR/mounted"\n',
    "mount": 'echo "mount $*" >> "$SHIM_DIR/calls"; echo "$3" >> "$SHIM_DIR/mounted"\n',
    "systemctl": (
        'echo "systemctl $*" >> "$SHIM_DIR/calls"\n'
        'if [ "$1" = is-active ]; then grep -qxF "$3" "$SHIM_DIR/active"; fi\n'
    ),
}


def test_the_script_has_lf_endings_and_a_bash_shebang() -> None:
    data = DEFAULT_SCRIPT.read_bytes()
    assert b"\r" not in data
    assert data.startswith(b"#!/bin/bash\n")
    assert subprocess.run(["bash", "-n", str(DEFAULT_SCRIPT)]).returncode == 0


def test_shellcheck_finds_nothing() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (scripts/test.sh installs it as root)")
    res = subprocess.run(["shellcheck", str(DEFAULT_SCRIPT)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout


def _run(root: Path, shims: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HYP_LIFECYCLE_ROOT": str(root),
        "SHIM_DIR": str(shims),
        "PATH": f"{shims / 'bin'}:{os.environ['PATH']}",
    }
    return subprocess.run(
        ["bash", str(DEFAULT_SCRIPT)], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def node(tmp_path: Path) -> tuple[Path, Path]:
    root, shims = tmp_path / "root", tmp_path / "shims"
    (shims / "bin").mkdir(parents=True)
    for name, body in SHIMS.items():
        path = shims / "bin" / name
        path.write_text("#!/bin/bash\n" + body)
        path.chmod(0o755)
    (root / "opt" / "sagemaker").mkdir(parents=True)
    (root / "var" / "lib" / "containerd").mkdir(parents=True)
    (root / "var" / "lib" / "containerd" / "image.db").write_text("images")
    (root / "etc" / "security" / "limits.d").mkdir(parents=True)
    (shims / "mounted").write_text(f"{root}/opt/sagemaker\n")
    (shims / "active").write_text("containerd\n")
    (shims / "calls").write_text("")
    return root, shims


def test_container_and_kubelet_data_move_to_the_ebs_volume_with_services_restarted(
    node: tuple[Path, Path],
) -> None:
    root, shims = node
    res = _run(root, shims)
    assert res.returncode == 0, res.stdout + res.stderr
    ebs = root / "opt" / "sagemaker"
    assert (ebs / "containerd" / "image.db").read_text() == "images"  # data copied over
    assert (ebs / "kubelet").is_dir()
    calls = (shims / "calls").read_text().splitlines()
    stop = calls.index("systemctl stop containerd")
    bind = calls.index(f"mount --bind {ebs}/containerd {root}/var/lib/containerd")
    assert stop < bind < calls.index("systemctl start containerd")
    assert "systemctl stop kubelet" not in calls  # it was not running
    fstab = (root / "etc" / "fstab").read_text().splitlines()
    assert fstab == [
        f"{ebs}/containerd {root}/var/lib/containerd none bind 0 0",
        f"{ebs}/kubelet {root}/var/lib/kubelet none bind 0 0",
    ]
    assert "memlock unlimited" in (root / "etc/security/limits.d/90-hyp-efa.conf").read_text()
    log = (root / "var/log/provision/provisioning.log").read_text()
    assert "now lives on" in log and "done" in log

    again = _run(root, shims)  # idempotent
    assert again.returncode == 0
    assert (root / "etc" / "fstab").read_text().splitlines() == fstab
    assert "already a mount point" in again.stdout


def test_the_instance_store_is_preferred_over_the_ebs_volume(node: tuple[Path, Path]) -> None:
    root, shims = node
    (root / "opt" / "dlami" / "nvme").mkdir(parents=True)
    with (shims / "mounted").open("a") as fh:
        fh.write(f"{root}/opt/dlami/nvme\n")
    assert _run(root, shims).returncode == 0
    assert (root / "opt/dlami/nvme/containerd/image.db").exists()
    assert not (root / "opt/sagemaker/containerd").exists()


def test_without_a_data_volume_nothing_moves(node: tuple[Path, Path]) -> None:
    root, shims = node
    (shims / "mounted").write_text("")
    res = _run(root, shims)
    assert res.returncode == 0
    assert "stays on the root volume" in res.stdout
    assert "mount" not in (shims / "calls").read_text()


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"#!/bin/bash\r\necho hi\r\n", "CRLF"), (b"echo hi\n", "shebang")],
)
def test_a_user_script_with_crlf_or_no_shebang_is_refused_offline(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    from hyperpod.api.aws_config import AwsClusterConfig
    from hyperpod.providers.aws import checks

    script = tmp_path / "mine.sh"
    script.write_bytes(content)
    cfg = AwsClusterConfig.model_validate(
        {
            "region": "us-west-2",
            "availability_zone_ids": ["usw2-az2", "usw2-az1"],
            "instance_groups": [
                {"name": "g", "instance_type": "ml.g5.8xlarge", "instance_count": 1}
            ],
            "lifecycle": {"script_file": str(script)},
        }
    )
    errors = [p for p in checks.offline(cfg) if p.field == "lifecycle.script_file"]
    assert len(errors) == 1 and expected in errors[0].message
