"""hyp init hyp-pytorch-job / configure / validate / create --dry-run / reset, as real commands."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from hyperpod.cli.main import cli
from hyperpod.client import hyperpod_job
from hyperpod.client import pytorch_job as pj


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HYPERPOD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    yield tmp_path


def hyp(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_init_writes_the_real_clis_files_with_a_template_header(workdir: Path) -> None:
    res = hyp("init", "hyp-pytorch-job")
    assert res.exit_code == 0, res.output
    for name in ("config.yaml", "k8s.jinja", "README.md", ".hyp"):
        assert (workdir / name).exists(), name
    head = (workdir / "config.yaml").read_text().splitlines()[:2]
    assert head == ["# template: hyp-pytorch-job", "# version: 1.1"]
    assert (workdir / ".hyp").read_text() == "hyp-pytorch-job"
    values = yaml.safe_load((workdir / "config.yaml").read_text())
    assert values["job_name"] is None and "accelerator_partition_type" in values


def test_validate_names_a_missing_required_field(workdir: Path) -> None:
    hyp("init", "hyp-pytorch-job")
    res = hyp("validate")
    assert res.exit_code == 1
    assert "job_name: required" in res.output and "hyp configure --job-name" in res.output


def test_create_renders_the_same_manifest_the_flags_build_under_run(workdir: Path) -> None:
    hyp("init", "hyp-pytorch-job")
    res = hyp(
        "configure", "--job-name", "demo", "--image", "local/python",
        "--command", "[python, -m, hyperpod.examples.digits]", "--node-count", "2",
        "--max-retry", "3", "--deep-health-check-passed-nodes-only", "true",
        "--required-topology", "topology.k8s.aws/network-node-layer-3",
        "--max-replica-count", "4", "--elastic-replica-increment-step", "2",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert hyp("validate").exit_code == 0
    res = hyp("create", "--dry-run")
    assert res.exit_code == 0, res.output
    runs = list((workdir / "run").iterdir())
    assert len(runs) == 1 and (runs[0] / "config.yaml").exists()
    rendered = yaml.safe_load((runs[0] / "k8s.yaml").read_text())
    expected = hyperpod_job.build(
        pj.JobSpec(
            job_name="demo",
            image="local/python",
            command=["python", "-m", "hyperpod.examples.digits"],
            node_count=2,
            max_retry=3,
        ),
        hyperpod_job.HyperPodOptions(
            deep_health_check_passed_nodes_only=True,
            required_topology="topology.k8s.aws/network-node-layer-3",
            max_replica_count=4,
            elastic_replica_increment_step=2,
        ),
    )
    assert rendered == expected
    assert rendered["spec"]["elasticPolicy"] == {
        "minReplicas": 2,
        "maxReplicas": 4,
        "replicaIncrementStep": 2,
    }


def test_configure_refuses_a_bad_value_and_writes_nothing(workdir: Path) -> None:
    hyp("init", "hyp-pytorch-job")
    before = (workdir / "config.yaml").read_text()
    res = hyp("configure", "--preferred-topology", "rack-7")
    assert res.exit_code == 1 and "not a topology label" in res.output
    res = hyp("configure", "--node-count", "two")
    assert res.exit_code == 1 and "--node-count" in res.output
    assert (workdir / "config.yaml").read_text() == before


def test_reset_sets_every_field_back_to_null_and_keeps_the_version(workdir: Path) -> None:
    hyp("init", "hyp-pytorch-job", ".", "--version", "1.0")
    hyp("configure", "--job-name", "demo", "--image", "local/python")
    res = hyp("reset")
    assert res.exit_code == 0, res.output
    text = (workdir / "config.yaml").read_text()
    assert "# version: 1.0" in text
    assert all(v is None for v in yaml.safe_load(text).values())


def test_a_changed_template_line_is_caught_by_the_lockfile(workdir: Path) -> None:
    hyp("init", "hyp-pytorch-job")
    (workdir / ".hyp").write_text("hyp-custom-endpoint")
    res = hyp("validate")
    assert res.exit_code == 1 and ".hyp" in res.output


def test_cluster_stack_configs_keep_their_own_flow(workdir: Path) -> None:
    assert hyp("init", "cluster-stack").exit_code == 0
    res = hyp("configure", "--cluster-name", "dev")
    assert res.exit_code == 0, res.output
    assert "is valid" in hyp("validate", "--offline").output
    res = hyp("configure", "--job-name", "x")
    assert res.exit_code != 0  # job fields are not cluster-stack fields
