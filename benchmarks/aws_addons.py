"""The AWS stack with every add-on on: template size against CloudFormation's inline limit,
the number of add-on objects hyp renders, and how long applying them to a local control plane
takes (the same applier ``hyp create`` uses on EKS; CRDs first and waited for, workloads with
dryRun=All, kinds the local server does not serve yet counted, not applied).

Run: .venv/bin/python benchmarks/aws_addons.py
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import yaml
from _cluster import report, start_control_plane

from hyperpod.api.aws_config import AwsClusterConfig
from hyperpod.providers.aws import addons, deploying, lint, template

DRY_RUN_KINDS = frozenset({"Deployment", "DaemonSet"})


def _largest() -> AwsClusterConfig:
    """20 instance groups (the maximum), FSx, an admin entry and every add-on switched on."""
    types = ["ml.p5.48xlarge", "ml.p4d.24xlarge", "ml.g5.48xlarge", "ml.trn1.32xlarge"]
    return AwsClusterConfig.model_validate(
        {
            "region": "us-west-2",
            "availability_zone_ids": ["usw2-az2", "usw2-az1"],
            "instance_groups": [
                {"name": f"group-{i}", "instance_type": types[i % 4], "instance_count": 8}
                for i in range(20)
            ],
            "fsx": {"create": True},
            "eks": {"admin_principal_arns": ["arn:aws:iam::123456789012:role/admins"]},
            "helm": {
                "kueue": True,
                "mpi_operator": True,
                "neuron_device_plugin": True,
                "observability": True,
            },
        }
    )


def main() -> None:
    cfg = _largest()
    tpl = template.render(cfg)
    indented = len(lint.template_text(tpl).encode())
    compact = len(json.dumps(tpl, separators=(",", ":")).encode())
    manifests, _ = addons.render(cfg, "us-west-2")
    manifests = addons.fill_fsx(
        manifests, {"FsxFileSystemId": "fs-0", "FsxDnsName": "d", "FsxMountName": "m"}
    )
    with tempfile.TemporaryDirectory() as tmp:
        cp = start_control_plane(
            Path(tmp) / "cp", {"addons": {"trainingOperator": False, "kueue": False}}
        )
        try:
            cluster = addons.Cluster(yaml.safe_load(cp.kubeconfig.read_text()), cp.token)
            crds = [m for m in manifests if m["kind"] == "CustomResourceDefinition"]
            t0 = time.perf_counter()
            addons.apply_all(cluster, crds)
            served = cluster.served_kinds()
            rest = [
                m for m in addons.apply_order(manifests) if m["kind"] != "CustomResourceDefinition"
            ]
            applied = [m for m in rest if (m["apiVersion"], m["kind"]) in served]
            for obj in applied:
                cluster.apply(obj, dry_run=obj["kind"] in DRY_RUN_KINDS)
            took = time.perf_counter() - t0
        finally:
            cp.stop()
    skipped = sorted({m["kind"] for m in rest if m not in applied})
    report(
        [
            ("figure", "measured", "target", "anchor"),
            (
                "template size, indented / compact JSON",
                f"{indented:,} B / {compact:,} B",
                f"<= {deploying.TEMPLATE_BODY_LIMIT:,} B",
                "CloudFormation inline TemplateBody limit",
            ),
            ("resources in the template", str(len(tpl["Resources"])), "-", "-"),
            ("add-on objects rendered", str(len(manifests)), "-", "-"),
            ("  of which CRDs", str(len(crds)), "-", "-"),
            (
                "apply to a local control plane (CRDs + wait + served objects)",
                f"{took * 1000:.0f} ms for {len(crds) + len(applied)} objects",
                "-",
                "-",
            ),
            ("kinds not served locally yet (not applied)", ", ".join(skipped) or "-", "-", "-"),
        ]
    )


if __name__ == "__main__":
    main()
