"""``hyp controlplane repair`` lists, shows and purges quarantined rows of a stopped cluster."""

import os
from pathlib import Path

import orjson
import pytest

from hyperpod.apiserver.registry import Registry
from hyperpod.controlplane.main import main
from hyperpod.storage.revlog import OP_CREATE, RevisionLog


def damaged_store(data_dir: Path) -> None:
    reg = Registry(data_dir / "state.db")
    reg.ensure_system_namespaces()
    reg.close()
    log = RevisionLog(data_dir / "state.db")
    bad = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "finalizers": True}}
    log.append("/configmaps/default/x", OP_CREATE, 0, orjson.dumps(bad))
    log.close()


def test_repair_lists_then_purges_an_unreadable_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    damaged_store(tmp_path)
    assert main(["repair", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "moved 1 unreadable object(s) aside" in out
    assert "/configmaps/default/x" in out and "metadata.finalizers" in out
    assert main(["repair", "--data-dir", str(tmp_path), "--show", "/configmaps/default/x"]) == 0
    assert '"finalizers":true' in capsys.readouterr().out
    assert main(["repair", "--data-dir", str(tmp_path), "--purge"]) == 0
    assert "purged 1" in capsys.readouterr().out
    assert main(["repair", "--data-dir", str(tmp_path)]) == 0
    assert "nothing quarantined" in capsys.readouterr().out


def test_repair_refuses_a_running_control_plane(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    damaged_store(tmp_path)
    (tmp_path / "controlplane.pid").write_text(f"{os.getpid()}\n")
    assert main(["repair", "--data-dir", str(tmp_path)]) == 2
    assert "is running" in capsys.readouterr().err


def test_repair_of_a_missing_store_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["repair", "--data-dir", str(tmp_path / "none")]) == 2
    assert "no cluster state" in capsys.readouterr().err
