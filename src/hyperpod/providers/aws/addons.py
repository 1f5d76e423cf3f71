"""Add-on manifests applied before the HyperPod nodes join (pure builders), and their applier.

We render the add-ons ourselves instead of running helm: the objects land in
``run/<timestamp>/addons/NN-*.yaml`` (in apply order, with ``versions.json``) for review and are
applied with server-side apply by the stack's creator while the stack waits at its bootstrap gate
(see ``template.py``): namespaces, then CRDs (waiting until each is Established), then the rest. Every workload
tolerates the HyperPod health taint and device plugins only run on instance types that have the
device. Image tags are pinned in ``IMAGES``; ``pins.table()`` (and docs/aws-pins.md) lists every pin.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from hyperpod.api import instance_types
from hyperpod.api.aws_config import AwsClusterConfig
from hyperpod.providers.aws import addon_manifests as am
from hyperpod.providers.aws.errors import AwsError

Manifest = dict[str, Any]
Applier = Callable[[dict[str, Any], list[Manifest]], list[str]]

HEALTH_TAINT_KEY = "sagemaker.amazonaws.com/node-health-status"
HEALTH_TOLERATION = {
    "key": HEALTH_TAINT_KEY,
    "operator": "Equal",
    "value": "Unschedulable",
    "effect": "NoSchedule",
}
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
IMAGES = {
    "nvidia": "nvcr.io/nvidia/k8s-device-plugin:v0.17.0",
    "efa": "602401143452.dkr.ecr.{region}.amazonaws.com/eks/aws-efa-k8s-device-plugin:v0.5.6",
    "neuron": "public.ecr.aws/neuron/neuron-device-plugin:2.22.4.0",
}
NAMESPACES = ("aws-hyperpod", "kubeflow")
PLURALS = {
    "Namespace": "namespaces",
    "ServiceAccount": "serviceaccounts",
    "DaemonSet": "daemonsets",
    "Deployment": "deployments",
    "ClusterRole": "clusterroles",
    "ClusterRoleBinding": "clusterrolebindings",
    "StorageClass": "storageclasses",
    "Endpoints": "endpoints",
}


def _types_with(pred: Callable[[instance_types.InstanceType], bool]) -> list[str]:
    return sorted(t.name for t in instance_types.INSTANCE_TYPES.values() if pred(t))


def _on_types(types: list[str]) -> dict[str, Any]:
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": INSTANCE_TYPE_LABEL, "operator": "In", "values": types}
                        ]
                    }
                ]
            }
        }
    }


def _device_plugin(
    name: str, image: str, types: list[str], extra_env: list[dict[str, str]]
) -> Manifest:
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": "hyp"}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": "kube-system", "labels": labels},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "priorityClassName": "system-node-critical",
                    "affinity": _on_types(types),
                    "tolerations": [
                        HEALTH_TOLERATION,
                        {"operator": "Exists", "effect": "NoSchedule"},
                    ],
                    "containers": [
                        {
                            "name": name,
                            "image": image,
                            "env": extra_env,
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "volumeMounts": [
                                {
                                    "name": "device-plugin",
                                    "mountPath": "/var/lib/kubelet/device-plugins",
                                }
                            ],
                        }
                    ],
                    "volumes": [
                        {
                            "name": "device-plugin",
                            "hostPath": {"path": "/var/lib/kubelet/device-plugins"},
                        }
                    ],
                },
            },
        },
    }


def groups(cfg: AwsClusterConfig, region: str) -> list[tuple[str, list[Manifest]]]:
    """The add-ons as ordered files: namespaces, CRDs, then the objects that use them."""
    helm = cfg.helm
    if not helm.install:
        return []
    namespaces = [am.namespace(ns) for ns in NAMESPACES]
    crds: list[Manifest] = []
    files: list[tuple[str, list[Manifest]]] = []
    if helm.training_operator:
        crds += am.training_operator_crds()
        files.append(("20-kubeflow-training-operator.yaml", am.training_operator()))
    if helm.health_monitoring_agent:
        files.append(("21-health-monitoring-agent.yaml", am.health_monitoring_agent(region)))
    if helm.deep_health_check:
        files.append(("22-deep-health-check.yaml", am.deep_health_check()))
    if helm.job_auto_restart:
        files.append(("23-job-auto-restart.yaml", am.job_auto_restart()))
    plugins = []
    if helm.nvidia_device_plugin:
        plugins.append(
            _device_plugin(
                "nvidia-device-plugin",
                IMAGES["nvidia"],
                _types_with(lambda t: t.gpus > 0),
                [{"name": "FAIL_ON_INIT_ERROR", "value": "false"}],
            )
        )
    if helm.efa_device_plugin:
        plugins.append(
            _device_plugin(
                "aws-efa-k8s-device-plugin",
                IMAGES["efa"].format(region=region),
                _types_with(lambda t: t.efa > 0),
                [],
            )
        )
    if helm.neuron_device_plugin:
        plugins.append(
            _device_plugin(
                "neuron-device-plugin",
                IMAGES["neuron"],
                _types_with(lambda t: t.accelerator_resource == instance_types.NEURON),
                [],
            )
        )
    if plugins:
        files.append(("24-device-plugins.yaml", plugins))
    if helm.kueue:
        namespaces.append(am.namespace(am.KUEUE_NS))
        crds += am.kueue_crds()
        files.append(("30-kueue.yaml", am.kueue()))
        files.append(("31-task-governance.yaml", am.task_governance(cfg)))
    if helm.mpi_operator:
        namespaces.append(am.namespace(am.MPI_NS))
        crds += am.mpi_operator_crds()
        files.append(("32-mpi-operator.yaml", am.mpi_operator()))
    if cfg.fsx.create and helm.fsx_csi_driver:
        files.append(("33-fsx-csi.yaml", am.fsx_csi(cfg)))
    if helm.observability:
        namespaces.append(am.namespace(am.OBSERVABILITY_NS))
        files.append(("40-observability.yaml", am.observability()))
    head = [("00-namespaces.yaml", namespaces)]
    if crds:
        head.append(("10-crds.yaml", crds))
    # Webhook configurations in a file of their own, applied last (see apply_order).
    hooks = [m for _, group in files for m in group if m["kind"] in WEBHOOK_KINDS]
    files = [(n, [m for m in g if m["kind"] not in WEBHOOK_KINDS]) for n, g in files]
    if hooks:
        files.append(("90-admission-webhooks.yaml", hooks))
    return head + files


def render(cfg: AwsClusterConfig, region: str) -> tuple[list[Manifest], list[str]]:
    """(manifests to apply in order, notes about add-ons left to the user or to EKS)."""
    if not cfg.helm.install:
        return [], ["helm.install is false: no add-ons applied"]
    manifests = [m for _, group in groups(cfg, region) for m in group]
    notes = []
    if cfg.helm.hyperpod_training_operator and cfg.eks.create:
        notes.append(
            "the HyperPod training operator is the EKS add-on "
            "amazon-sagemaker-hyperpod-training-operator in the stack (after the nodes join); "
            "create checks that hyperpodpytorchjobs.sagemaker.amazonaws.com is served"
        )
    if cfg.fsx.create and cfg.helm.fsx_csi_driver:
        notes.append("the FSx PersistentVolume is filled from the stack's file system when applied")
    if cfg.helm.observability:
        notes.append(
            "observability: hyp applies a node exporter (hyperpod-observability/node-exporter, "
            "scraped by annotation); the HyperPod observability add-on "
            "amazon-sagemaker-hyperpod-observability (Amazon Managed Prometheus and Grafana) is "
            "left to you (SageMaker AI console or aws eks create-addon); `hyp get-monitoring` "
            "then prints its URLs"
        )
    return manifests, notes


def write(run_dir: Path, cfg: AwsClusterConfig, region: str) -> list[Path]:
    """``run_dir/addons/NN-name.yaml`` (one YAML stream per step) and ``versions.json``."""
    out = run_dir / "addons"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, group in groups(cfg, region):
        path = out / name
        path.write_text(yaml.safe_dump_all(group, sort_keys=False))
        written.append(path)
    versions = {"versions": am.VERSIONS, "images": _all_images(region), "charts": am.CHARTS}
    (out / "versions.json").write_text(json.dumps(versions, indent=2) + "\n")
    return written


def _all_images(region: str) -> dict[str, str]:
    images = {k: v.format(region=region) for k, v in am.IMAGES.items()}
    images.update({f"device-plugin-{k}": v.format(region=region) for k, v in IMAGES.items()})
    return images


def read(run_dir: Path) -> list[Manifest]:
    """Every object of ``run_dir/addons/*.yaml`` in apply order (the files as reviewed)."""
    out: list[Manifest] = []
    for path in sorted((run_dir / "addons").glob("*.yaml")):
        out += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return out


def plural(kind: str) -> str:
    return PLURALS.get(kind) or kind.lower() + "s"


def api_path(obj: Manifest) -> str:
    """The REST path of ``obj`` (for server-side apply)."""
    api_version, kind, meta = obj["apiVersion"], obj["kind"], obj["metadata"]
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    ns = meta.get("namespace")
    scope = f"/namespaces/{ns}" if ns else ""
    return f"{base}{scope}/{plural(kind)}/{meta['name']}"


class Cluster:
    """The API server add-ons go to: base URL, TLS context and bearer token (stdlib HTTP)."""

    def __init__(self, kubeconfig: dict[str, Any], token: str) -> None:
        cluster = kubeconfig["clusters"][0]["cluster"]
        self.server = cluster["server"].rstrip("/")
        self.token = token
        self.ctx = ssl.create_default_context()
        ca = cluster.get("certificate-authority-data")
        if ca:
            try:
                self.ctx = ssl.create_default_context(cadata=base64.b64decode(ca).decode("ascii"))
            except (ValueError, ssl.SSLError) as exc:
                raise AwsError(
                    f"the cluster's certificate-authority data is not a PEM certificate ({exc})",
                    "check the EKS cluster with `aws eks describe-cluster`",
                ) from exc

    def request(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> tuple[int, dict[str, Any]]:
        req = urllib.request.Request(
            f"{self.server}{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={
                "Content-Type": content_type,
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")
            try:
                return exc.code, json.loads(text)
            except ValueError:
                return exc.code, {"message": text[:300]}
        except (urllib.error.URLError, OSError) as exc:
            raise AwsError(
                f"cannot reach the cluster's API endpoint {self.server}: {exc}",
                "the endpoint must be reachable from this machine (public access, or a VPN)",
            ) from exc

    def apply(self, obj: Manifest, *, dry_run: bool = False) -> None:
        query = "?fieldManager=hyp&force=true" + ("&dryRun=All" if dry_run else "")
        status, body = self.request(
            "PATCH", api_path(obj) + query, obj, "application/apply-patch+yaml"
        )
        if status >= 300:
            raise AwsError(
                f"applying {obj['kind']} {obj['metadata']['name']}: HTTP {status} "
                f"{str(body.get('message', body))[:300]}",
                "check your access entry on the cluster (hyp set-cluster-context checks it)",
            )

    def crd_established(self, name: str) -> bool:
        status, body = self.request(
            "GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
        )
        if status != 200:
            return False
        conds = body.get("status", {}).get("conditions", [])
        return any(c.get("type") == "Established" and c.get("status") == "True" for c in conds)

    def served_kinds(self) -> set[tuple[str, str]]:
        """(apiVersion, kind) of every served resource, from discovery."""
        found: set[tuple[str, str]] = set()
        _, core = self.request("GET", "/api/v1")
        found |= {("v1", r["kind"]) for r in core.get("resources", []) if "/" not in r["name"]}
        _, groups = self.request("GET", "/apis")
        for g in groups.get("groups", []):
            for v in g.get("versions", []):
                _, res = self.request("GET", f"/apis/{v['groupVersion']}")
                found |= {
                    (v["groupVersion"], r["kind"])
                    for r in res.get("resources", [])
                    if "/" not in r["name"]
                }
        return found


WEBHOOK_KINDS = ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")


def apply_order(manifests: list[Manifest]) -> list[Manifest]:
    """The order objects are applied in: CRDs, then the rest as rendered, then the admission
    webhook configurations last. Their servers (Kueue's manager) cannot answer before nodes
    join, and the API server calls them from the moment they exist: applied earlier, they
    would refuse the add-ons' own objects (the task-governance ClusterQueues) with
    "failed calling webhook ... no endpoints available"."""
    crds = [m for m in manifests if m["kind"] == "CustomResourceDefinition"]
    hooks = [m for m in manifests if m["kind"] in WEBHOOK_KINDS]
    rest = [m for m in manifests if m["kind"] not in (*WEBHOOK_KINDS, "CustomResourceDefinition")]
    return crds + rest + hooks


def apply_all(
    cluster: Cluster,
    manifests: list[Manifest],
    *,
    dry_run_kinds: frozenset[str] = frozenset(),
    crd_timeout_s: float = 60.0,
) -> list[str]:
    """Server-side apply in :func:`apply_order`: CRDs first (then wait until each is
    Established), then the rest, webhook configurations last; kinds in ``dry_run_kinds`` are only checked by the server (dryRun=All)."""
    import time

    ordered = apply_order(manifests)
    crds = [m for m in ordered if m["kind"] == "CustomResourceDefinition"]
    rest = [m for m in ordered if m["kind"] != "CustomResourceDefinition"]
    done = []
    for obj in crds:
        cluster.apply(obj)
        done.append(f"CustomResourceDefinition/{obj['metadata']['name']} applied")
    deadline = time.monotonic() + crd_timeout_s
    for obj in crds:
        name = obj["metadata"]["name"]
        while not cluster.crd_established(name):
            if time.monotonic() > deadline:
                raise AwsError(
                    f"CRD {name} was not Established within {crd_timeout_s:.0f} s",
                    f"inspect it: kubectl get crd {name} -o yaml",
                )
            time.sleep(0.2)
        done.append(f"CustomResourceDefinition/{name} established")
    for obj in rest:
        dry = obj["kind"] in dry_run_kinds
        cluster.apply(obj, dry_run=dry)
        done.append(
            f"{obj['kind']}/{obj['metadata']['name']} {'checked (dry run)' if dry else 'applied'}"
        )
    return done


def apply_with_token(
    kubeconfig: dict[str, Any], manifests: list[Manifest], token: str
) -> list[str]:
    """Server-side apply every manifest (field manager ``hyp``); returns a line per object."""
    return apply_all(Cluster(kubeconfig, token), manifests)


def fill_fsx(manifests: list[Manifest], values: dict[str, str]) -> list[Manifest]:
    """The manifests with the ``${Fsx...}`` placeholders of the PV replaced by ``values``."""
    text = json.dumps(manifests)
    for key, value in values.items():
        text = text.replace("${" + key + "}", value)
    return list(json.loads(text))
