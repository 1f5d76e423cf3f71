"""``AwsProvider``: the ``Provider`` interface for HyperPod on EKS (validate, create, describe,
list, delete, kubeconfig) plus ``list_clusters`` and ``stack_resources`` for the CLI.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.exceptions
import yaml
from pydantic import ValidationError

from hyperpod.api.aws_config import AwsClusterConfig
from hyperpod.providers.aws import addons, checks, deploying, kubeconfig, lint, template
from hyperpod.providers.aws import token as eks_token
from hyperpod.providers.aws.errors import AwsError, ClusterNotFound, StackFailed
from hyperpod.providers.aws.session import Aws, aws_errors, call, error_code, paginate
from hyperpod.providers.base import Problem, StackInfo

DEFAULT_SCRIPT = Path(__file__).with_name("on_create.sh")


def _print(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def parse_config(config: dict[str, Any] | AwsClusterConfig) -> AwsClusterConfig:
    if isinstance(config, AwsClusterConfig):
        return config
    try:
        return AwsClusterConfig.model_validate(config)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise AwsError(
            f"config.yaml: {where}: {first['msg']}", "run `hyp validate` for every problem"
        ) from exc


def config_problems(config: dict[str, Any]) -> list[Problem]:
    """Schema errors as Problems (field path, message)."""
    try:
        AwsClusterConfig.model_validate(config)
    except ValidationError as exc:
        return [
            Problem(
                ".".join(str(p) for p in e["loc"]) or "config",
                e["msg"].removeprefix("Value error, "),
            )
            for e in exc.errors()
        ]
    return []


class AwsProvider:
    """HyperPod on EKS through one CloudFormation stack."""

    name = "aws"

    def __init__(
        self,
        region: str | None = None,
        profile: str | None = None,
        *,
        out: Callable[[str], None] = _print,
        poll_s: float = 5.0,
        applier: addons.Applier | None = None,
        page_size: int | None = None,
        operator_check: Callable[[AwsClusterConfig, Aws], str] | None = None,
    ) -> None:
        self.page_size = page_size
        self._region = region
        self._profile = profile
        self._aws: Aws | None = None
        self.out = out
        self.poll_s = poll_s
        self.applier = applier
        self.operator_check = operator_check

    def aws(self, region: str | None = None) -> Aws:
        if self._aws is None or (region and region != self._aws.region):
            self._aws = Aws(region or self._region, self._profile)
        return self._aws

    # -- validate -------------------------------------------------------------------------
    @aws_errors
    def validate(self, config: dict[str, Any], *, online: bool = True) -> list[Problem]:
        problems = config_problems(config)
        if problems:
            return problems
        cfg = parse_config(config)
        problems = checks.offline(cfg)
        if online:
            try:
                aws = self.aws(cfg.region)
            except AwsError as exc:
                problems.append(
                    Problem("region", f"online checks skipped: {exc.message}", exc.hint, "info")
                )
            else:
                problems += checks.online(cfg, aws)
        return problems

    # -- create ---------------------------------------------------------------------------
    def render(self, cfg: AwsClusterConfig, run_dir: Path, region: str) -> dict[str, Any]:
        """Write template, parameters, add-ons and script under ``run_dir``; lint; return paths."""
        run_dir.mkdir(parents=True, exist_ok=True)
        tpl = template.render(cfg)
        text = lint.template_text(tpl)
        (run_dir / "template.json").write_text(text)
        (run_dir / "parameters.json").write_text(
            json.dumps(template.parameters(cfg), indent=2) + "\n"
        )
        (run_dir / "stack-tags.json").write_text(
            json.dumps(template.stack_tags(cfg), indent=2) + "\n"
        )
        (run_dir / "config.resolved.yaml").write_text(
            yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
        )
        manifests, notes = addons.render(cfg, region)
        (run_dir / "addons.json").write_text(json.dumps(manifests, indent=2) + "\n")
        addons.write(run_dir, cfg, region)
        script = (
            Path(cfg.lifecycle.script_file).expanduser()
            if cfg.lifecycle.script_file
            else DEFAULT_SCRIPT
        )
        (run_dir / cfg.lifecycle.on_create_script).write_bytes(script.read_bytes())
        findings = lint.lint(text, region)
        (run_dir / "lint.txt").write_text("".join(f"{f}\n" for f in findings) or "no findings\n")
        errors = lint.errors(findings)
        if errors:
            raise AwsError(
                f"the rendered template has {len(errors)} cfn-lint error(s); first: "
                f"{lint.short(errors[0])}",
                f"every finding is in {run_dir / 'lint.txt'}; " + lint.hint(errors[0], region),
            )
        return {
            "run_dir": str(run_dir),
            "template": str(run_dir / "template.json"),
            "resources": len(tpl["Resources"]),
            "lint": [str(f) for f in findings],
            "addons": len(manifests),
            "notes": notes,
        }

    def _bootstrap(self, cfg: AwsClusterConfig, aws: Aws, run_dir: Path) -> str:
        """Upload the lifecycle script and apply the add-ons (the gate waits for this)."""
        lines = []
        bucket = self._bucket_name(cfg, aws)
        script = (run_dir / cfg.lifecycle.on_create_script).read_bytes()
        call(
            aws.client("s3").put_object,
            Bucket=bucket,
            Key=cfg.lifecycle.on_create_script,
            Body=script,
        )
        lines.append(f"uploaded s3://{bucket}/{cfg.lifecycle.on_create_script}")
        self.out(f"bootstrap: {lines[-1]}")
        manifests = addons.read(run_dir)
        if any(m["kind"] == "PersistentVolume" for m in manifests):
            manifests = self._with_fsx(cfg, aws, manifests)
        if manifests:
            try:
                kcfg, _ = kubeconfig.for_eks(aws, cfg.eks_cluster_name, check=False)
            except ClusterNotFound:
                lines.append(f"EKS cluster {cfg.eks_cluster_name} not found: add-ons not applied")
                self.out(f"bootstrap: {lines[-1]}")
                return "; ".join(lines)
            applier = self.applier or self._apply_with_token(aws, cfg.eks_cluster_name)
            for line in applier(kcfg, manifests):
                self.out(f"bootstrap: {line}")
            lines.append(f"applied {len(manifests)} add-on objects")
        return "; ".join(lines)

    def _with_fsx(
        self, cfg: AwsClusterConfig, aws: Aws, manifests: list[addons.Manifest]
    ) -> list[addons.Manifest]:
        """Fill the FSx PV from the stack's file system, or leave the PV and its claim out."""
        try:
            fs_id = call(
                aws.client("cloudformation").describe_stack_resource,
                StackName=cfg.stack,
                LogicalResourceId="FsxLustre",
            )["StackResourceDetail"].get("PhysicalResourceId", "")
            fs = call(aws.client("fsx").describe_file_systems, FileSystemIds=[fs_id])[
                "FileSystems"
            ][0]
            values = {
                "FsxFileSystemId": fs_id,
                "FsxDnsName": fs["DNSName"],
                "FsxMountName": fs["LustreConfiguration"]["MountName"],
            }
        except (botocore.exceptions.ClientError, AwsError, KeyError, IndexError) as exc:
            self.out(
                f"bootstrap: the FSx file system is not ready ({exc}): its PV and claim are left "
                "out; `hyp create` again applies them"
            )
            return [
                m
                for m in manifests
                if m["kind"] not in ("PersistentVolume", "PersistentVolumeClaim")
            ]
        return addons.fill_fsx(manifests, values)

    def check_training_operator(self, cfg: AwsClusterConfig, aws: Aws) -> str:
        """Post-create check: is the HyperPod training operator's CRD served by the cluster?"""
        crd = "hyperpodpytorchjobs.sagemaker.amazonaws.com"
        try:
            kcfg, _ = kubeconfig.for_eks(aws, cfg.eks_cluster_name, check=False)
            tok, _ = eks_token.get_token(cfg.eks_cluster_name, aws.region, aws.session)
            served = addons.Cluster(kcfg, tok).crd_established(crd)
        except (
            AwsError,
            botocore.exceptions.BotoCoreError,
            botocore.exceptions.ClientError,
        ) as exc:
            return f"could not check that {crd} is served: {exc}"
        if served:
            return f"the HyperPod training operator is ready: {crd} is served"
        return (
            f"{crd} is not served yet: the add-on {template.HYPERPOD_TRAINING_OPERATOR} may still "
            f"be installing (aws eks describe-addon --cluster-name {cfg.eks_cluster_name} "
            f"--addon-name {template.HYPERPOD_TRAINING_OPERATOR})"
        )

    @staticmethod
    def _apply_with_token(aws: Aws, eks_name: str) -> addons.Applier:
        def apply(kcfg: dict[str, Any], manifests: list[addons.Manifest]) -> list[str]:
            tok, _ = eks_token.get_token(eks_name, aws.region, aws.session)
            return addons.apply_with_token(kcfg, manifests, tok)

        return apply

    def _reuse_bucket(self, cfg: AwsClusterConfig, aws: Aws) -> AwsClusterConfig:
        """The config to submit: a lifecycle bucket left by an earlier ``hyp delete`` (it is kept
        unless ``--purge``) is reused instead of failing with BucketAlreadyExists mid-create."""
        lc = cfg.lifecycle
        if not lc.create_bucket:
            return cfg
        name = self._bucket_name(cfg, aws)
        state = checks.bucket_state(aws, name)
        if state == "taken":
            raise AwsError(
                f"the lifecycle bucket {name} exists and belongs to another account",
                "set lifecycle.bucket_name to a free name starting with sagemaker-; nothing was created",
            )
        if state == "missing":
            return cfg
        self.out(
            f"reusing the existing lifecycle bucket {name} (kept by an earlier delete; "
            "`hyp delete cluster-stack --purge` removes it)"
        )
        lifecycle = lc.model_copy(update={"create_bucket": False, "bucket_name": name})
        return cfg.model_copy(update={"lifecycle": lifecycle})

    def _bucket_name(self, cfg: AwsClusterConfig, aws: Aws) -> str:
        return cfg.lifecycle.bucket_name or (
            f"sagemaker-{cfg.resource_name_prefix}-{aws.account_id()}-{aws.region}"
        )

    @aws_errors
    def create(self, config: dict[str, Any], run_dir: Path, *, dry_run: bool = False) -> StackInfo:
        cfg = parse_config(config)
        region = cfg.region or (self._aws.region if self._aws else None)
        if region is None:
            try:
                region = self.aws(cfg.region).region
            except AwsError:
                if not dry_run:
                    raise
                region = "us-east-1"
        rendered = self.render(cfg, run_dir, region)
        self.out(
            f"rendered {rendered['resources']} resources into {rendered['template']} (cfn-lint: 0 errors)"
        )
        for note in rendered["notes"]:
            self.out(f"note: {note}")
        if dry_run:
            return StackInfo(cfg.stack, self.name, "DRY_RUN", None, rendered)
        aws = self.aws(cfg.region)
        aws.require_credentials()
        status = deploying.stack_status(aws, cfg.stack)
        if status == "CREATE_COMPLETE":
            self.out(f"stack {cfg.stack} already exists (CREATE_COMPLETE)")
            return self.describe(cfg.stack) or StackInfo(cfg.stack, self.name, status)
        if status is not None and status != "CREATE_IN_PROGRESS":
            raise AwsError(
                f"stack {cfg.stack} exists in state {status}",
                f"inspect it with `hyp describe cluster-stack {cfg.stack}` and remove it with "
                f"`hyp delete cluster-stack {cfg.stack}` before creating again",
            )
        if status is None:
            reused = self._reuse_bucket(cfg, aws)
            if reused is not cfg:
                cfg = reused
                rendered = self.render(cfg, run_dir, region)
            deploying.submit(
                aws, cfg.stack, (run_dir / "template.json").read_text(), template.stack_tags(cfg)
            )
            self.out(f"creating stack {cfg.stack} in {aws.region}")
        else:
            self.out(f"stack {cfg.stack} is already being created: following it")
        total = rendered["resources"] + 1
        try:
            result = deploying.follow(
                aws,
                cfg.stack,
                total=total,
                on_event=lambda e: self.out(e.line()),
                bootstrap=lambda: self._bootstrap(cfg, aws, run_dir),
                poll_s=self.poll_s,
            )
        except KeyboardInterrupt:
            self.out(
                f"interrupted: stack {cfg.stack} keeps going in CloudFormation. `hyp create` again "
                f"resumes following it (and the add-on step); `hyp describe cluster-stack {cfg.stack}` "
                f"shows it; `hyp delete cluster-stack {cfg.stack}` removes it."
            )
            raise
        except StackFailed as exc:
            for resource, reason in exc.failures[:5]:
                self.out(f"failed: {resource}: {reason}")
            raise
        (run_dir / "events.json").write_text(
            json.dumps(
                [{**e.__dict__, "time": e.time.isoformat()} for e in result.events], indent=2
            )
            + "\n"
        )
        info = self.describe(cfg.stack) or StackInfo(cfg.stack, self.name, result.status)
        info.details["run_dir"] = str(run_dir)
        tpl = json.loads((run_dir / "template.json").read_text())
        if "HyperPodTrainingOperatorAddon" in tpl["Resources"]:
            line = (self.operator_check or self.check_training_operator)(cfg, aws)
            info.details["training_operator"] = line
            self.out(line)
        return info

    # -- describe / list ------------------------------------------------------------------
    @aws_errors
    def describe(self, name: str) -> StackInfo | None:
        aws = self.aws()
        cfn = aws.client("cloudformation")
        try:
            stack = call(cfn.describe_stacks, StackName=name)["Stacks"][0]
        except botocore.exceptions.ClientError as exc:
            if "does not exist" in str(exc):
                return None
            raise
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        tags = {t["Key"]: t["Value"] for t in stack.get("Tags", [])}
        resources = paginate(cfn, "list_stack_resources", "StackResourceSummaries", StackName=name)
        details: dict[str, Any] = {
            "region": aws.region,
            "stack_id": stack["StackId"],
            "created": stack["CreationTime"].isoformat(),
            "reason": stack.get("StackStatusReason", ""),
            "outputs": outputs,
            "resources": [
                {
                    "logical_id": r["LogicalResourceId"],
                    "type": r["ResourceType"],
                    "physical_id": r.get("PhysicalResourceId", ""),
                    "status": r["ResourceStatus"],
                    "reason": r.get("ResourceStatusReason", ""),
                }
                for r in resources
                if r.get("LogicalResourceId")
            ],
        }
        details["failures"] = [
            f"{r['logical_id']}: {r['reason']}"
            for r in details["resources"]
            if r["status"].endswith("FAILED")
        ]
        endpoint = None
        eks_name = outputs.get("EksClusterName") or tags.get("hyperpod:eks-cluster")
        if eks_name:
            details["eks_cluster"] = eks_name
            try:
                c = call(aws.client("eks").describe_cluster, name=eks_name)["cluster"]
                endpoint = c.get("endpoint")
                details["eks_status"] = c.get("status")
                details["kubernetes_version"] = c.get("version")
            except botocore.exceptions.ClientError:
                details["eks_status"] = "not found"
        hp_name = outputs.get("HyperPodClusterName") or tags.get("hyperpod:hyperpod-cluster")
        if hp_name:
            details["hyperpod_cluster"] = hp_name
            details["hyperpod"] = self._cluster_summary(aws, hp_name)
        return StackInfo(name, self.name, stack["StackStatus"], endpoint, details)

    @aws_errors
    def list_stacks(self) -> list[StackInfo]:
        aws = self.aws()
        stacks = paginate(aws.client("cloudformation"), "describe_stacks", "Stacks")
        found = []
        for s in stacks:
            tags = {t["Key"]: t["Value"] for t in s.get("Tags", [])}
            if tags.get("hyperpod:managed") != "true":
                continue
            found.append(
                StackInfo(
                    s["StackName"],
                    self.name,
                    s["StackStatus"],
                    None,
                    {
                        "created": s["CreationTime"].isoformat(),
                        "hyperpod_cluster": tags.get("hyperpod:hyperpod-cluster"),
                        "eks_cluster": tags.get("hyperpod:eks-cluster"),
                    },
                )
            )
        return sorted(found, key=lambda s: s.name)

    def _cluster_summary(self, aws: Aws, name: str) -> dict[str, Any] | None:
        try:
            d = call(aws.client("sagemaker").describe_cluster, ClusterName=name)
        except botocore.exceptions.ClientError:
            return None
        groups = [
            {
                "name": g["InstanceGroupName"],
                "instance_type": g["InstanceType"],
                "current": g.get("CurrentCount", 0),
                "target": g.get("TargetCount", 0),
            }
            for g in d.get("InstanceGroups", [])
        ]
        return {
            "name": d["ClusterName"],
            "arn": d["ClusterArn"],
            "status": d["ClusterStatus"],
            "nodes": sum(g["current"] for g in groups),
            "target": sum(g["target"] for g in groups),
            "instance_groups": groups,
            "failure": d.get("FailureMessage", ""),
        }

    @aws_errors
    def list_clusters(self) -> list[dict[str, Any]]:
        """Every HyperPod cluster in the region (all pages) with its node counts."""
        aws = self.aws()
        summaries = paginate(
            aws.client("sagemaker"), "list_clusters", "ClusterSummaries", page_size=self.page_size
        )
        found = []
        for s in summaries:
            summary = self._cluster_summary(aws, s["ClusterName"])
            found.append(
                summary
                or {"name": s["ClusterName"], "arn": s["ClusterArn"], "status": s["ClusterStatus"]}
            )
        return sorted(found, key=lambda c: c["name"])

    # -- delete ---------------------------------------------------------------------------
    @aws_errors
    def stack_resources(self, name: str) -> list[dict[str, str]]:
        """What deleting the stack removes (for the confirmation prompt)."""
        info = self.describe(name)
        return [] if info is None else list(info.details["resources"])

    @aws_errors
    def delete(
        self, name: str, *, purge: bool = False, retain_failed: bool = False, wait: bool = True
    ) -> None:
        """Delete the stack (missing is fine). ``retain_failed`` keeps resources that failed to
        delete last time (DELETE_FAILED); ``purge`` also empties and removes the retained bucket."""
        aws = self.aws()
        cfn = aws.client("cloudformation")
        info = self.describe(name)
        if info is None:
            self.out(f"stack {name} does not exist: nothing to delete")
            return
        kwargs: dict[str, Any] = {"StackName": name}
        if info.status == "DELETE_FAILED":
            failed = [
                r["logical_id"] for r in info.details["resources"] if r["status"] == "DELETE_FAILED"
            ]
            if not retain_failed:
                raise StackFailed(
                    f"stack {name} is DELETE_FAILED",
                    [
                        (r["logical_id"], r["reason"])
                        for r in info.details["resources"]
                        if r["status"] == "DELETE_FAILED"
                    ],
                    f"fix those resources and run again, or keep them: hyp delete cluster-stack {name} --retain-resources",
                )
            kwargs["RetainResources"] = failed
        bucket = info.details["outputs"].get("LifecycleBucketName")
        try:
            call(cfn.delete_stack, **kwargs)
        except botocore.exceptions.ClientError as exc:
            raise AwsError(
                f"CloudFormation refused to delete {name}: {exc}",
                f"see `hyp describe cluster-stack {name}`",
            ) from exc
        self.out(f"deleting stack {name}")
        if wait:
            deploying.follow(
                aws,
                info.details["stack_id"],
                total=len(info.details["resources"]) + 1,
                on_event=lambda e: self.out(e.line()),
                poll_s=self.poll_s,
                success=frozenset({"DELETE_COMPLETE"}),
            )
            self.out(f"stack {name} deleted")
        if purge and bucket:
            self._purge_bucket(aws, bucket)

    def _purge_bucket(self, aws: Aws, bucket: str) -> None:
        s3 = aws.client("s3")
        try:
            objects = paginate(s3, "list_objects_v2", "Contents", Bucket=bucket)
            for o in objects:
                call(s3.delete_object, Bucket=bucket, Key=o["Key"])
            call(s3.delete_bucket, Bucket=bucket)
            self.out(f"deleted bucket {bucket}")
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != "NoSuchBucket":
                raise

    # -- kubeconfig -----------------------------------------------------------------------
    def eks_name(self, name: str) -> str:
        """The EKS cluster for a stack name or a HyperPod cluster name."""
        aws = self.aws()
        info = self.describe(name)
        if info is not None and info.details.get("eks_cluster"):
            return str(info.details["eks_cluster"])
        return kubeconfig.eks_cluster_of(aws, name)

    @aws_errors
    def kubeconfig(self, name: str) -> dict[str, Any]:
        cfg, note = kubeconfig.for_eks(self.aws(), self.eks_name(name))
        if note:
            self.out(f"note: {note}")
        return cfg

    def close(self) -> None:
        self._aws = None


def run_dir_for(base: Path | None = None) -> Path:
    """``run/<UTC timestamp>`` under ``base`` (default: the current directory)."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return (base or Path.cwd()) / "run" / stamp
