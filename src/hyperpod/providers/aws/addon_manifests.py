"""Builders of the add-on objects hyp applies to a HyperPod EKS cluster (pure functions).

Every object here is written for hyp; upstream projects are pinned by image tag and, where a
user may prefer their helm chart, referenced by repository and chart version in ``CHARTS``
(recorded next to the manifests, never copied). Each builder returns plain dicts in wire form.
"""

from __future__ import annotations

from typing import Any

from hyperpod.api import instance_types
from hyperpod.api import kueue as kueue_api
from hyperpod.api import pytorchjob as pytorchjob_api
from hyperpod.api.aws_config import AwsClusterConfig

Manifest = dict[str, Any]

HEALTH_TAINT_KEY = "sagemaker.amazonaws.com/node-health-status"
HEALTH_TOLERATION = {
    "key": HEALTH_TAINT_KEY,
    "operator": "Equal",
    "value": "Unschedulable",
    "effect": "NoSchedule",
}
MANAGED = {"app.kubernetes.io/managed-by": "hyp"}
HYPERPOD_NS = "aws-hyperpod"
KUEUE_NS = "kueue-system"
MPI_NS = "mpi-operator"
OBSERVABILITY_NS = "hyperpod-observability"
TEAM = "default"  # the team `hyp create compute-quota --team default` would make

# Pinned versions, recorded in run/<ts>/addons/versions.json. Check them against the releases
# you trust before a production create.
VERSIONS = {
    "kubeflow-training-operator": "v1.8.1",
    "kueue": "v0.10.2",
    "mpi-operator": "v0.6.0",
    "aws-fsx-csi-driver": "v1.3.0",
    "node-exporter": "v1.8.2",
    "hyperpod-health-monitoring-agent": "1.0.742.0_1.0.241.0",
}
IMAGES = {
    "training-operator": f"kubeflow/training-operator:{VERSIONS['kubeflow-training-operator']}",
    "kueue": f"registry.k8s.io/kueue/kueue:{VERSIONS['kueue']}",
    "mpi-operator": f"mpioperator/mpi-operator:{VERSIONS['mpi-operator'].lstrip('v')}",
    "fsx-csi": f"public.ecr.aws/fsx-csi-driver/aws-fsx-csi-driver:{VERSIONS['aws-fsx-csi-driver']}",
    "node-exporter": f"quay.io/prometheus/node-exporter:{VERSIONS['node-exporter']}",
    "health-agent": (
        "905418368575.dkr.ecr.{region}.amazonaws.com/hyperpod-health-monitoring-agent:"
        + VERSIONS["hyperpod-health-monitoring-agent"]
    ),
}
# Upstream helm charts for the same components, by repository and version (not copied here).
CHARTS = {
    "kueue": {"repository": "oci://registry.k8s.io/kueue/charts/kueue", "version": "0.10.2"},
    "aws-fsx-csi-driver": {
        "repository": "https://kubernetes-sigs.github.io/aws-fsx-csi-driver",
        "version": "1.11.0",
    },
    "hyperpod-dependencies": {
        "repository": "https://github.com/aws/sagemaker-hyperpod-cli (helm_chart/HyperPodHelmChart)",
        "version": "main",
    },
}


def namespace(name: str) -> Manifest:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": MANAGED}}


def service_account(name: str, ns: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": name, "namespace": ns, "labels": MANAGED},
    }


def cluster_role(name: str, rules: list[dict[str, Any]]) -> Manifest:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": MANAGED},
        "rules": rules,
    }


def binding(name: str, role: str, sa: str, ns: str) -> Manifest:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "labels": MANAGED},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}],
    }


def rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


def pod_template(
    name: str, container: dict[str, Any], *, sa: str | None = None, **spec: Any
) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": name, **MANAGED}
    pod: dict[str, Any] = {"tolerations": [HEALTH_TOLERATION], "containers": [container], **spec}
    if sa:
        pod["serviceAccountName"] = sa
    return {"metadata": {"labels": labels}, "spec": pod}


def deployment(name: str, ns: str, container: dict[str, Any], sa: str) -> Manifest:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": MANAGED},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": pod_template(name, container, sa=sa),
        },
    }


def daemonset(name: str, ns: str, container: dict[str, Any], **spec: Any) -> Manifest:
    sa = spec.pop("sa", None)
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": ns, "labels": MANAGED},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": pod_template(name, container, sa=sa, **spec),
        },
    }


def service(
    name: str, ns: str, port: int, target: int, selector: str, **annotations: str
) -> Manifest:
    md: dict[str, Any] = {"name": name, "namespace": ns, "labels": MANAGED}
    if annotations:
        md["annotations"] = annotations
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": md,
        "spec": {
            "selector": {"app.kubernetes.io/name": selector},
            "ports": [{"port": port, "targetPort": target, "protocol": "TCP"}],
        },
    }


def open_crd(group: str, kind: str, plural: str, version: str = "v2beta1") -> Manifest:
    """A CRD that keeps any spec and status (for operators whose schema we do not model)."""
    anything = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}", "labels": MANAGED},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "plural": plural,
                "singular": kind.lower(),
                "listKind": kind + "List",
            },
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"spec": anything, "status": anything},
                        }
                    },
                    "subresources": {"status": {}},
                }
            ],
        },
    }


# -- the add-ons ---------------------------------------------------------------------------


def training_operator_crds() -> list[Manifest]:
    return pytorchjob_api.crds()


def training_operator() -> list[Manifest]:
    name, ns = "training-operator", "kubeflow"
    rules = [
        rule(["kubeflow.org"], ["*"], ["*"]),
        rule(
            [""],
            ["pods", "pods/exec", "services", "events", "configmaps", "serviceaccounts"],
            ["*"],
        ),
        rule(["rbac.authorization.k8s.io"], ["roles", "rolebindings"], ["*"]),
        rule(["scheduling.volcano.sh", "scheduling.x-k8s.io"], ["podgroups"], ["*"]),
        rule(["coordination.k8s.io"], ["leases"], ["*"]),
    ]
    container = {
        "name": name,
        "image": IMAGES["training-operator"],
        "args": ["--enable-scheme=pytorchjob"],
    }
    return [
        service_account(name, ns),
        cluster_role(name, rules),
        binding(name, name, name, ns),
        deployment(name, ns, container, name),
    ]


def health_monitoring_agent(region: str) -> list[Manifest]:
    name = "health-monitoring-agent"
    rules = [
        rule([""], ["nodes"], ["get", "list", "watch", "patch", "update"]),
        rule([""], ["nodes/status"], ["patch", "update"]),
        rule([""], ["events"], ["create", "patch"]),
    ]
    gpu_or_neuron = sorted(t.name for t in instance_types.INSTANCE_TYPES.values() if t.accelerators)
    container = {
        "name": name,
        "image": IMAGES["health-agent"].format(region=region),
        "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
        "securityContext": {"privileged": True},
        "volumeMounts": [{"name": "log", "mountPath": "/var/log", "readOnly": True}],
    }
    return [
        service_account(name, HYPERPOD_NS),
        cluster_role(name, rules),
        binding(name, name, name, HYPERPOD_NS),
        daemonset(
            name,
            HYPERPOD_NS,
            container,
            sa=name,
            priorityClassName="system-node-critical",
            affinity=on_types(gpu_or_neuron),
            volumes=[{"name": "log", "hostPath": {"path": "/var/log"}}],
        ),
    ]


def deep_health_check() -> list[Manifest]:
    name = "deep-health-check"
    rules = [
        rule([""], ["nodes"], ["get", "list", "patch"]),
        rule([""], ["pods"], ["get", "list", "create", "delete"]),
        rule([""], ["pods/log"], ["get"]),
        rule([""], ["events"], ["create"]),
    ]
    settings = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": HYPERPOD_NS, "labels": MANAGED},
        "data": {
            "checks": "InstanceStress,InstanceConnectivity",
            "labelKey": "sagemaker.amazonaws.com/deep-health-check-status",
        },
    }
    return [
        service_account(name, HYPERPOD_NS),
        cluster_role(name, rules),
        binding(name, name, name, HYPERPOD_NS),
        settings,
    ]


def job_auto_restart() -> list[Manifest]:
    """Lets the HyperPod agents restart PyTorchJobs whose nodes were replaced (auto-resume)."""
    name = "job-auto-restart"
    rules = [
        rule(
            ["kubeflow.org"],
            ["pytorchjobs", "pytorchjobs/status"],
            ["get", "list", "watch", "patch", "update"],
        ),
        rule([""], ["pods"], ["get", "list", "watch", "delete"]),
        rule([""], ["nodes"], ["get", "list", "watch"]),
        rule([""], ["events"], ["create"]),
    ]
    return [
        service_account(name, HYPERPOD_NS),
        cluster_role(name, rules),
        binding(name, name, name, HYPERPOD_NS),
    ]


def on_types(types: list[str]) -> dict[str, Any]:
    term = {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": types}
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [term]}]
            }
        }
    }


def kueue_crds() -> list[Manifest]:
    return kueue_api.crds()


def kueue() -> list[Manifest]:
    name = "kueue-controller-manager"
    rules = [
        rule(["kueue.x-k8s.io"], ["*"], ["*"]),
        rule(
            ["kubeflow.org"],
            ["pytorchjobs", "mpijobs", "pytorchjobs/status", "mpijobs/status"],
            ["get", "list", "watch", "update", "patch"],
        ),
        rule(["batch"], ["jobs", "jobs/status"], ["get", "list", "watch", "update", "patch"]),
        rule(
            [""],
            ["pods", "namespaces", "nodes", "limitranges", "events"],
            ["get", "list", "watch", "create", "patch", "update"],
        ),
        rule(["scheduling.k8s.io"], ["priorityclasses"], ["get", "list", "watch"]),
        rule(["coordination.k8s.io"], ["leases"], ["*"]),
    ]
    container = {
        "name": "manager",
        "image": IMAGES["kueue"],
        "args": ["--zap-log-level=2"],
        "ports": [{"containerPort": 9443, "name": "webhook"}],
    }
    hook_client = {
        "service": {"name": "kueue-webhook-service", "namespace": KUEUE_NS, "path": "/validate"},
    }
    hook_rules = [
        {
            "apiGroups": ["kueue.x-k8s.io"],
            "apiVersions": ["v1beta1"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["clusterqueues", "localqueues", "resourceflavors", "workloads"],
        }
    ]

    def hook_config(kind: str, hook: str, path: str) -> Manifest:
        return {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": kind,
            "metadata": {"name": f"kueue-{hook}-webhook-configuration", "labels": MANAGED},
            "webhooks": [
                {
                    "name": f"{hook}.kueue.x-k8s.io",
                    "admissionReviewVersions": ["v1"],
                    "sideEffects": "None",
                    "failurePolicy": "Fail",
                    "clientConfig": {"service": {**hook_client["service"], "path": path}},
                    "rules": hook_rules,
                }
            ],
        }

    return [
        service_account(name, KUEUE_NS),
        cluster_role(name, rules),
        binding(name, name, name, KUEUE_NS),
        service("kueue-webhook-service", KUEUE_NS, 443, 9443, name),
        deployment("kueue-controller-manager", KUEUE_NS, container, name),
        hook_config("ValidatingWebhookConfiguration", "validating", "/validate-kueue"),
        hook_config("MutatingWebhookConfiguration", "mutating", "/mutate-kueue"),
    ]


def task_governance(cfg: AwsClusterConfig) -> list[Manifest]:
    """What `hyp create compute-quota --team default` makes for the whole cluster: one
    ResourceFlavor per instance type, the team namespace, ClusterQueue and LocalQueue."""
    per_type: dict[str, int] = {}
    for g in cfg.instance_groups:
        per_type[g.instance_type] = per_type.get(g.instance_type, 0) + g.instance_count
    gov = {"hyperpod.io/task-governance": "true", **MANAGED}
    team_ns = f"hyperpod-ns-{TEAM}"
    out: list[Manifest] = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": team_ns, "labels": {**gov, "hyperpod.io/team": TEAM}},
        }
    ]
    flavors = []
    covered: list[str] = []
    for type_name, count in sorted(per_type.items()):
        it = instance_types.get(type_name)
        if it is None:
            continue
        out.append(
            {
                "apiVersion": kueue_api.API_VERSION,
                "kind": "ResourceFlavor",
                "metadata": {"name": type_name, "labels": gov},
                "spec": {"nodeLabels": {"node.kubernetes.io/instance-type": type_name}},
            }
        )
        quota = {"cpu": it.vcpu * count, "memory": f"{it.memory_gib * count}Gi"}
        if it.accelerator_resource and it.accelerators:
            quota[it.accelerator_resource] = it.accelerators * count
        for r in quota:
            if r not in covered:
                covered.append(r)
        flavors.append((type_name, quota))
    if not flavors:
        return out
    out.append(
        {
            "apiVersion": kueue_api.API_VERSION,
            "kind": "ClusterQueue",
            "metadata": {
                "name": f"hyperpod-ns-{TEAM}-clusterqueue",
                "labels": {**gov, "hyperpod.io/team": TEAM},
            },
            "spec": {
                "cohort": "hyperpod-shared-cohort",
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": team_ns}},
                "queueingStrategy": "BestEffortFIFO",
                "resourceGroups": [
                    {
                        "coveredResources": covered,
                        "flavors": [
                            {
                                "name": name,
                                "resources": [
                                    {"name": r, "nominalQuota": str(quota.get(r, 0))}
                                    for r in covered
                                ],
                            }
                            for name, quota in flavors
                        ],
                    }
                ],
            },
        }
    )
    out.append(
        {
            "apiVersion": kueue_api.API_VERSION,
            "kind": "LocalQueue",
            "metadata": {
                "name": f"hyperpod-ns-{TEAM}-localqueue",
                "namespace": team_ns,
                "labels": gov,
            },
            "spec": {"clusterQueue": f"hyperpod-ns-{TEAM}-clusterqueue"},
        }
    )
    return out


def mpi_operator_crds() -> list[Manifest]:
    return [open_crd("kubeflow.org", "MPIJob", "mpijobs")]


def mpi_operator() -> list[Manifest]:
    name = "mpi-operator"
    rules = [
        rule(["kubeflow.org"], ["mpijobs", "mpijobs/status", "mpijobs/finalizers"], ["*"]),
        rule([""], ["pods", "services", "configmaps", "secrets", "events"], ["*"]),
        rule(["batch"], ["jobs"], ["*"]),
        rule(["coordination.k8s.io"], ["leases"], ["*"]),
    ]
    container = {"name": name, "image": IMAGES["mpi-operator"], "args": ["-alsologtostderr"]}
    return [
        service_account(name, MPI_NS),
        cluster_role(name, rules),
        binding(name, name, name, MPI_NS),
        deployment(name, MPI_NS, container, name),
    ]


FSX_PLACEHOLDER_ID = "${FsxFileSystemId}"
FSX_PLACEHOLDER_DNS = "${FsxDnsName}"
FSX_PLACEHOLDER_MOUNT = "${FsxMountName}"


def fsx_csi(cfg: AwsClusterConfig) -> list[Manifest]:
    """The FSx for Lustre CSI driver (node plugin), its StorageClass and a static PV + PVC for
    the stack's file system. ``${Fsx...}`` are filled from the stack when it is applied."""
    name = "fsx-csi-node"
    driver = "fsx.csi.aws.com"
    container = {
        "name": "fsx-plugin",
        "image": IMAGES["fsx-csi"],
        "args": ["--mode=node", "--endpoint=unix:///csi/csi.sock"],
        "securityContext": {"privileged": True},
    }
    capacity = f"{cfg.fsx.storage_capacity_gib}Gi"
    return [
        service_account(name, "kube-system"),
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "CSIDriver",
            "metadata": {"name": driver, "labels": MANAGED},
            "spec": {"attachRequired": False},
        },
        daemonset(name, "kube-system", container, sa=name, hostNetwork=True),
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": "fsx-lustre", "labels": MANAGED},
            "provisioner": driver,
            "reclaimPolicy": "Retain",
            "volumeBindingMode": "Immediate",
        },
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": "fsx-lustre", "labels": MANAGED},
            "spec": {
                "capacity": {"storage": capacity},
                "accessModes": ["ReadWriteMany"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": "fsx-lustre",
                "csi": {
                    "driver": driver,
                    "volumeHandle": FSX_PLACEHOLDER_ID,
                    "volumeAttributes": {
                        "dnsname": FSX_PLACEHOLDER_DNS,
                        "mountname": FSX_PLACEHOLDER_MOUNT,
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "fsx-claim", "namespace": "default", "labels": MANAGED},
            "spec": {
                "accessModes": ["ReadWriteMany"],
                "storageClassName": "fsx-lustre",
                "volumeName": "fsx-lustre",
                "resources": {"requests": {"storage": capacity}},
            },
        },
    ]


def observability() -> list[Manifest]:
    """A node exporter on every node and a Service Prometheus discovers by annotation."""
    name = "node-exporter"
    container = {
        "name": name,
        "image": IMAGES["node-exporter"],
        "args": ["--path.rootfs=/host"],
        "ports": [{"containerPort": 9100, "name": "metrics"}],
        "volumeMounts": [{"name": "root", "mountPath": "/host", "readOnly": True}],
    }
    return [
        service_account(name, OBSERVABILITY_NS),
        daemonset(
            name,
            OBSERVABILITY_NS,
            container,
            sa=name,
            hostNetwork=True,
            hostPID=True,
            volumes=[{"name": "root", "hostPath": {"path": "/"}}],
        ),
        service(
            name,
            OBSERVABILITY_NS,
            9100,
            9100,
            name,
            **{"prometheus.io/scrape": "true", "prometheus.io/port": "9100"},
        ),
    ]
