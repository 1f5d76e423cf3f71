"""How long the AWS provider's pre-create work takes: offline validation, template rendering,
cfn-lint, and EKS token generation. Prints figure, target and anchor side by side.

Run: .venv/bin/python benchmarks/aws_plan.py
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import boto3

from hyperpod.api.aws_config import AwsClusterConfig
from hyperpod.providers.aws import checks, lint, template, token


def _big_config() -> AwsClusterConfig:
    """20 instance groups (the HyperPod maximum) in a /16, FSx on: the largest template we make."""
    types = [
        "ml.p5.48xlarge",
        "ml.p4d.24xlarge",
        "ml.g5.48xlarge",
        "ml.trn1.32xlarge",
        "ml.m5.2xlarge",
    ]
    groups = [
        {"name": f"group-{i}", "instance_type": types[i % len(types)], "instance_count": 8}
        for i in range(20)
    ]
    return AwsClusterConfig.model_validate(
        {
            "region": "us-west-2",
            "availability_zone_ids": ["usw2-az2", "usw2-az1"],
            "instance_groups": groups,
            "fsx": {"create": True},
            "eks": {"admin_principal_arns": ["arn:aws:iam::123456789012:role/admins"]},
        }
    )


def _median(fn: Callable[[], Any], n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    cfg = _big_config()
    validate_s = _median(lambda: checks.offline(cfg), 50)
    render_s = _median(lambda: template.render(cfg), 50)
    text = lint.template_text(template.render(cfg))
    t0 = time.perf_counter()
    findings = lint._lint_text.__wrapped__(text, "us-west-2")  # uncached, after imports
    lint_first = time.perf_counter() - t0
    lint_s = _median(lambda: lint._lint_text.__wrapped__(text, "us-west-2"), 3)
    session = boto3.Session(
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x", region_name="us-west-2"
    )
    token_s = _median(lambda: token.get_token("demo", "us-west-2", session), 20)
    errors = [f for f in findings if f.severity == "error"]
    rows = [
        (
            "offline validate, 20 groups",
            f"{validate_s * 1e3:.2f} ms",
            "<= 100 ms",
            "real hyp validate: schema types only",
        ),
        ("render template (20 groups, FSx)", f"{render_s * 1e3:.2f} ms", "<= 100 ms", "-"),
        (
            "template size",
            f"{len(text) / 1024:.1f} KiB",
            "<= 50 KiB inline (compact JSON sent)",
            "CloudFormation TemplateBody limit 51,200 B",
        ),
        ("cfn-lint, first run (imports included)", f"{lint_first:.2f} s", "<= 10 s", "-"),
        ("cfn-lint, warm", f"{lint_s:.2f} s", "<= 5 s", "-"),
        ("cfn-lint errors", str(len(errors)), "0", "-"),
        (
            "EKS token",
            f"{token_s * 1e3:.2f} ms",
            "<= 50 ms",
            "aws eks get-token: one AWS CLI start per call (not measured here)",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'figure':<{width}}  {'measured':>12}  {'target':<36}  anchor")
    for name, value, target, anchor in rows:
        print(f"{name:<{width}}  {value:>12}  {target:<36}  {anchor}")


if __name__ == "__main__":
    main()
