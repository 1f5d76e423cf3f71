"""hyp init / configure / validate / create failures, run as real commands (click's runner)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from hyperpod.api.aws_config import AwsClusterConfig
from hyperpod.cli.main import cli


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HYPERPOD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    yield tmp_path


def hyp(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_init_writes_a_config_that_validates(workdir: Path) -> None:
    res = hyp("init", "cluster-stack")
    assert res.exit_code == 0, res.output
    assert (workdir / "config.yaml").exists()
    res = hyp("validate", "--offline")
    assert res.exit_code == 0, res.output
    assert "is valid" in res.output


def test_init_refuses_to_overwrite_without_force(workdir: Path) -> None:
    hyp("init", "cluster-stack")
    res = hyp("init", "cluster-stack")
    assert res.exit_code == 1
    assert "already exists" in res.output and "--force" in res.output
    assert hyp("init", "cluster-stack", "--force").exit_code == 0


def test_init_for_aws_writes_the_aws_template(workdir: Path) -> None:
    assert hyp("init", "cluster-stack", "eks", "--provider", "aws").exit_code == 0
    assert yaml.safe_load((workdir / "eks" / "config.yaml").read_text())["provider"] == "aws"


def test_configure_sets_fields_by_dotted_or_kebab_name(workdir: Path) -> None:
    hyp("init", "cluster-stack")
    res = hyp(
        "configure",
        "--cluster-name",
        "dev",
        "--addons.kueue",
        "false",
        "--addons-health-agent",
        "false",
        "--api-port",
        "9001",
    )
    assert res.exit_code == 0, res.output
    data = yaml.safe_load((workdir / "config.yaml").read_text())
    assert data["cluster_name"] == "dev"
    assert data["api_port"] == 9001
    assert data["addons"] == {
        "training_operator": True,
        "kueue": False,
        "device_plugins": True,
        "health_agent": False,
    }
    assert "# Loopback port of the Kubernetes API server" in (workdir / "config.yaml").read_text()


def test_configure_refuses_a_bad_value_and_writes_nothing(workdir: Path) -> None:
    hyp("init", "cluster-stack")
    before = (workdir / "config.yaml").read_text()
    res = hyp("configure", "--api-port", "http")
    assert res.exit_code == 1
    assert "api_port" in res.output and "Traceback" not in res.output
    assert (workdir / "config.yaml").read_text() == before


def test_configure_adds_simulated_instance_groups(workdir: Path) -> None:
    hyp("init", "cluster-stack")
    res = hyp(
        "configure",
        "--instance-groups",
        "[{name: local, kind: local}, {name: p5, instance_type: ml.p5.48xlarge, count: 4}]",
    )
    assert res.exit_code == 0, res.output
    groups = yaml.safe_load((workdir / "config.yaml").read_text())["instance_groups"]
    assert groups[1] == {"name": "p5", "instance_type": "ml.p5.48xlarge", "count": 4}
    assert hyp("validate", "--offline").exit_code == 0


def test_validate_prints_every_problem_with_its_field(workdir: Path) -> None:
    (workdir / "config.yaml").write_text(
        "provider: local\napi_port: 99999\nclustername: x\naddons: {kueue: maybe}\n"
    )
    res = hyp("validate")
    assert res.exit_code == 1
    for field in ("api_port", "clustername", "addons.kueue"):
        assert f"error: {field}:" in res.output


def test_validate_as_json_lists_problems(workdir: Path) -> None:
    (workdir / "config.yaml").write_text("provider: moon\n")
    res = hyp("validate", "-o", "json")
    assert res.exit_code == 1
    assert '"field": "provider"' in res.output


def test_create_with_the_port_in_use_creates_nothing(workdir: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        hyp("init", "cluster-stack")
        hyp("configure", "--api-port", str(port))
        res = hyp("create")
    assert res.exit_code == 1
    assert f"port {port} is already in use" in res.output
    assert "hyp configure --api-port" in res.output
    assert not (workdir / "home").exists()
    assert not (workdir / "kubeconfig").exists()


def test_create_with_an_unwritable_data_dir_names_the_field(workdir: Path) -> None:
    (workdir / "afile").write_text("not a directory")
    hyp("init", "cluster-stack")
    hyp("configure", "--data-dir", str(workdir / "afile" / "data"))
    res = hyp("create")
    assert res.exit_code == 1
    assert "data_dir" in res.output and "hyp configure --data-dir" in res.output
    assert not (workdir / "kubeconfig").exists()


def test_create_without_a_config_points_at_init(workdir: Path) -> None:
    res = hyp("create")
    assert res.exit_code == 1
    assert "hyp init cluster-stack" in res.output


def test_job_commands_against_a_cluster_that_is_down_say_so(workdir: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (workdir / "kubeconfig").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "gone",
                "clusters": [
                    {
                        "name": "gone",
                        "cluster": {
                            "server": f"https://127.0.0.1:{port}",
                            "insecure-skip-tls-verify": True,
                        },
                    }
                ],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "u"}}],
            }
        )
    )
    res = hyp("list", "hyp-pytorch-job")
    assert res.exit_code == 1
    assert "cannot reach the cluster" in res.output
    assert "Traceback" not in res.output


def test_job_commands_without_a_kubeconfig_hint_at_create(workdir: Path) -> None:
    res = hyp("list", "hyp-pytorch-job")
    assert res.exit_code == 1
    assert "hyp create" in res.output


def test_dry_run_prints_the_manifest_without_a_cluster(workdir: Path) -> None:
    args = ["create", "hyp-pytorch-job", "--job-name", "demo", "--image", "local/python",
            "--command", "[python, -m, hyperpod.examples.digits]", "--node-count", "2",
            "--dry-run"]  # fmt: skip
    res = hyp(*args)
    assert res.exit_code == 0, res.output
    manifest = yaml.safe_load(res.output)
    assert manifest["kind"] == "HyperPodPyTorchJob"
    assert manifest["spec"]["replicaSpecs"][0]["replicas"] == 2
    res = hyp(*args, "--kind", "pytorchjob")
    assert res.exit_code == 0, res.output
    manifest = yaml.safe_load(res.output)
    assert manifest["kind"] == "PyTorchJob"
    assert manifest["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 1


def _all_commands() -> list[list[str]]:
    import click

    out: list[list[str]] = []

    def walk(cmd: click.Command, path: list[str]) -> None:
        out.append(path)
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name])

    walk(cli, [])
    return out


@pytest.mark.parametrize("path", _all_commands(), ids=lambda p: " ".join(p) or "hyp")
def test_every_command_has_help_with_an_example(path: list[str]) -> None:
    res = hyp(*path, "--help") if path[-1:] != ["serve"] else None
    if res is None:  # `controlplane serve` passes --help through to the control plane
        from hyperpod.cli.controlplane import serve

        assert "Example:" in (serve.help or "")
        return
    assert res.exit_code == 0, res.output
    assert "Example" in res.output


def test_version_is_printed() -> None:
    from hyperpod import __version__

    res = hyp("--version")
    assert res.exit_code == 0 and __version__ in res.output


def test_configure_edits_an_aws_config_in_place(workdir: Path) -> None:
    hyp("init", "cluster-stack", "--provider", "aws")
    res = hyp("configure", "--region", "eu-west-1", "--eks.kubernetes-version", "1.31")
    assert res.exit_code == 0, res.output
    text = (workdir / "config.yaml").read_text()
    assert "region: eu-west-1" in text
    assert yaml.safe_load(text)["eks"]["kubernetes_version"] == "1.31"
    assert text.startswith("# template: cluster-stack")


def test_configure_refuses_a_field_of_the_other_provider(workdir: Path) -> None:
    hyp("init", "cluster-stack")
    res = hyp("configure", "--region", "eu-west-1")
    assert res.exit_code == 1
    assert "not a field of a provider: local config" in res.output


def test_create_dry_run_renders_the_control_plane_config_and_starts_nothing(workdir: Path) -> None:
    hyp("init", "cluster-stack")
    hyp(
        "configure",
        "--instance-groups",
        "[{name: local, kind: local}, {name: p5, instance_type: ml.p5.48xlarge, count: 4}]",
    )
    res = hyp("create", "--dry-run")
    assert res.exit_code == 0, res.output
    (run,) = (workdir / "run").iterdir()
    rendered = yaml.safe_load((run / "controlplane.yaml").read_text())
    (group,) = rendered["nodes"]["simulated"]
    assert (group["group"], group["instanceType"], group["count"]) == ("p5", "ml.p5.48xlarge", 4)
    assert (run / "config.yaml").exists()
    assert not (workdir / "home").exists()


def test_stack_commands_without_any_cluster_say_how_to_make_one(workdir: Path) -> None:
    for args in (["describe", "cluster-stack"], ["get", "kubeconfig"]):
        res = hyp(*args)
        assert res.exit_code == 1, args
        assert "hyp init cluster-stack" in res.output
    res = hyp("list", "cluster-stack")
    assert res.exit_code == 0 and "No cluster stacks" in res.output
    res = hyp("delete", "cluster-stack", "ghost")
    assert res.exit_code == 0 and "nothing to delete" in res.output


@pytest.mark.parametrize("flag", ["--template", "--version", "--provider"])
def test_configure_refuses_to_edit_the_template_lines(workdir: Path, flag: str) -> None:
    hyp("init", "cluster-stack")
    before = (workdir / "config.yaml").read_text()
    res = hyp("configure", flag, "x")
    assert res.exit_code == 1
    assert "fixed by `hyp init`" in res.output
    assert (workdir / "config.yaml").read_text() == before


def test_create_with_a_broken_kubeconfig_starts_nothing(workdir: Path) -> None:
    (workdir / "kubeconfig").write_text("clusters: [\n")
    hyp("init", "cluster-stack")
    res = hyp("create")
    assert res.exit_code == 1
    assert "not valid YAML" in res.output
    assert not (workdir / "home").exists()
    assert (workdir / "kubeconfig").read_text() == "clusters: [\n"


@pytest.mark.parametrize(
    ("flag", "value", "field", "expected"),
    [
        (
            "--availability-zone-ids",
            "[usw2-az1, usw2-az3]",
            "availability_zone_ids",
            ["usw2-az1", "usw2-az3"],
        ),
        (
            "--availability-zone-ids",
            "usw2-az1,usw2-az3",
            "availability_zone_ids",
            ["usw2-az1", "usw2-az3"],
        ),
        ("--availability-zone-ids", "usw2-az4", "availability_zone_ids", ["usw2-az4"]),
        ("--tags", "{team: ml, cost-center: '42'}", "tags", {"team": "ml", "cost-center": "42"}),
        ("--tags", "team=ml,owner=ana", "tags", {"team": "ml", "owner": "ana"}),
        (
            "--networking.eks-subnet-cidrs",
            "10.192.7.0/28,10.192.9.0/28",
            "networking.eks_subnet_cidrs",
            ["10.192.7.0/28", "10.192.9.0/28"],
        ),
        (
            "--eks.admin-principal-arns",
            "arn:aws:iam::123456789012:role/admin",
            "eks.admin_principal_arns",
            ["arn:aws:iam::123456789012:role/admin"],
        ),
    ],
)
def test_configure_sets_list_and_map_fields_of_an_aws_config(
    workdir: Path, flag: str, value: str, field: str, expected: object
) -> None:
    hyp("init", "cluster-stack", "--provider", "aws")
    res = hyp("configure", flag, value)
    assert res.exit_code == 0, res.output
    text = (workdir / "config.yaml").read_text()
    data = yaml.safe_load(text)
    for key in field.split("."):
        data = data[key]
    assert data == expected
    assert "# [Required] Availability zone IDs" in text  # the comments stay
    AwsClusterConfig.model_validate(yaml.safe_load(text))  # the file still parses as a whole


def test_configure_refuses_a_list_with_a_bad_item_and_names_it(workdir: Path) -> None:
    hyp("init", "cluster-stack", "--provider", "aws")
    before = (workdir / "config.yaml").read_text()
    res = hyp("configure", "--availability-zone-ids", "us-west-2a,usw2-az1")
    assert res.exit_code == 1
    assert "AZ ID" in res.output and "availability_zone_ids" in res.output
    assert (workdir / "config.yaml").read_text() == before
