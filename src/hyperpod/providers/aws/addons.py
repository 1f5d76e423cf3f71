"""Add-on manifests applied before the HyperPod nodes join (pure builders), and their applier.

We render the add-ons ourselves instead of running helm: the objects land in
``run/<timestamp>/addons.json`` for review and are applied with server-side apply by the stack's
creator while the stack waits at its bootstrap gate (see ``template.py``). Every workload
tolerates the HyperPod health taint and device plugins only run on instance types that have the
device. Image tags are pinned in ``IMAGES``; check them against the upstream releases you trust.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from hyperpod.api import instance_types
from hyperpod.api.aws_config import AwsClusterConfig
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
    "training-operator": "kubeflow/training-operator:v1-855e096",
}
NAMESPACES = ("aws-hyperpod", "kubeflow")
PLURALS = {
    "Namespace": "namespaces",
    "ServiceAccount": "serviceaccounts",
    "DaemonSet": "daemonsets",
    "Deployment": "deployments",
    "ClusterRole": "clusterroles",
    "ClusterRoleBinding": "clusterrolebindings",
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


def _training_operator() -> list[Manifest]:
    name, ns = "training-operator", "kubeflow"
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": "hyp"}
    rules = [
        {"apiGroups": ["kubeflow.org"], "resources": ["*"], "verbs": ["*"]},
        {
            "apiGroups": [""],
            "resources": [
                "pods",
                "pods/exec",
                "services",
                "events",
                "configmaps",
                "serviceaccounts",
            ],
            "verbs": ["*"],
        },
        {
            "apiGroups": ["rbac.authorization.k8s.io"],
            "resources": ["roles", "rolebindings"],
            "verbs": ["*"],
        },
        {
            "apiGroups": ["scheduling.volcano.sh", "scheduling.x-k8s.io"],
            "resources": ["podgroups"],
            "verbs": ["*"],
        },
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["*"]},
    ]
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": ns}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": name,
            },
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}],
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": name,
                        "tolerations": [HEALTH_TOLERATION],
                        "containers": [
                            {
                                "name": name,
                                "image": IMAGES["training-operator"],
                                "args": ["--enable-scheme=pytorchjob"],
                            }
                        ],
                    },
                },
            },
        },
    ]


def render(cfg: AwsClusterConfig, region: str) -> tuple[list[Manifest], list[str]]:
    """(manifests to apply, notes about add-ons left to the user)."""
    helm = cfg.helm
    if not helm.install:
        return [], ["helm.install is false: no add-ons applied"]
    manifests: list[Manifest] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}} for ns in NAMESPACES
    ]
    notes: list[str] = []
    if helm.nvidia_device_plugin:
        manifests.append(
            _device_plugin(
                "nvidia-device-plugin",
                IMAGES["nvidia"],
                _types_with(lambda t: t.gpus > 0),
                [{"name": "FAIL_ON_INIT_ERROR", "value": "false"}],
            )
        )
    if helm.efa_device_plugin:
        manifests.append(
            _device_plugin(
                "aws-efa-k8s-device-plugin",
                IMAGES["efa"].format(region=region),
                _types_with(lambda t: t.efa > 0),
                [],
            )
        )
    if helm.neuron_device_plugin:
        manifests.append(
            _device_plugin(
                "neuron-device-plugin",
                IMAGES["neuron"],
                _types_with(lambda t: t.accelerator_resource == instance_types.NEURON),
                [],
            )
        )
    if helm.training_operator:
        manifests += _training_operator()
    left = [
        what
        for flag, what in (
            (helm.mpi_operator, "MPI operator"),
            (helm.kueue, "Kueue (task governance)"),
            (helm.health_monitoring_agent, "health monitoring agent"),
            (helm.deep_health_check, "deep health check"),
            (helm.job_auto_restart, "job auto-restart"),
        )
        if flag
    ]
    if left:
        notes.append(
            f"not rendered by hyp: {', '.join(left)}; install them from the HyperPod helm chart "
            "(helm_chart/HyperPodHelmChart in sagemaker-hyperpod-cli) once the stack is up"
        )
    return manifests, notes


def api_path(obj: Manifest) -> str:
    """The REST path of ``obj`` (for server-side apply)."""
    api_version, kind, meta = obj["apiVersion"], obj["kind"], obj["metadata"]
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    ns = meta.get("namespace")
    scope = f"/namespaces/{ns}" if ns else ""
    return f"{base}{scope}/{PLURALS[kind]}/{meta['name']}"


def apply_with_token(
    kubeconfig: dict[str, Any], manifests: list[Manifest], token: str
) -> list[str]:
    """Server-side apply every manifest (field manager ``hyp``); returns a line per object."""
    cluster = kubeconfig["clusters"][0]["cluster"]
    server = cluster["server"].rstrip("/")
    ctx = ssl.create_default_context()
    ca = cluster.get("certificate-authority-data")
    if ca:
        try:
            ctx = ssl.create_default_context(cadata=base64.b64decode(ca).decode("ascii"))
        except (ValueError, ssl.SSLError) as exc:
            raise AwsError(
                f"the cluster's certificate-authority data is not a PEM certificate ({exc})",
                "check the EKS cluster with `aws eks describe-cluster`",
            ) from exc
    done = []
    for obj in manifests:
        url = f"{server}{api_path(obj)}?fieldManager=hyp&force=true"
        req = urllib.request.Request(
            url,
            data=json.dumps(obj).encode(),
            method="PATCH",
            headers={
                "Content-Type": "application/apply-patch+yaml",
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
                resp.read()
        except urllib.error.HTTPError as exc:
            body = exc.read().decode(errors="replace")[:300]
            raise AwsError(
                f"applying {obj['kind']} {obj['metadata']['name']}: HTTP {exc.code} {body}",
                "check your access entry on the EKS cluster (hyp set-cluster-context checks it)",
            ) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise AwsError(
                f"cannot reach the EKS endpoint {server}: {exc}",
                "the endpoint must be reachable from this machine (public access, or a VPN)",
            ) from exc
        done.append(f"{obj['kind']}/{obj['metadata']['name']} applied")
    return done
