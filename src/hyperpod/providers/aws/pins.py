"""Every version ``hyp create --provider aws`` pins, in one table, with where each comes from.

The values themselves live where they are used (``addon_manifests.VERSIONS``/``IMAGES``/
``CHARTS``, ``addons.IMAGES``, ``template``); this table names each one, the upstream it comes
from, and whether it was checked against that upstream. Nothing here has been checked against a
registry by this project (its machines have no network): ``checked`` says so on every row, and
``tests/unit/providers/aws/test_aws_pins.py`` checks only that the table, the code, the rendered
manifests, ``versions.json`` and ``docs/aws-pins.md`` agree with one another.
"""

from __future__ import annotations

from dataclasses import dataclass

from hyperpod.api.aws_config import Eks
from hyperpod.providers.aws import addon_manifests as am
from hyperpod.providers.aws import addons, template

UNCHECKED = "not checked against the registry (no network where hyp is built)"


@dataclass(frozen=True)
class Pin:
    name: str
    kind: str  # image | chart | eks-addon | kubernetes
    value: str  # the image reference, chart version, or "EKS default"
    pinned_in: str  # where the value is set in the code
    upstream: str  # where it comes from
    checked: str = UNCHECKED


def _image(key: str) -> str:
    return am.IMAGES[key]


def table() -> list[Pin]:
    """Every pinned image, chart, EKS add-on and the Kubernetes version, in one list."""
    m, a = "providers/aws/addon_manifests.py", "providers/aws/addons.py"
    rows = [
        Pin(
            "kubeflow-training-operator",
            "image",
            _image("training-operator"),
            f"{m} VERSIONS/IMAGES",
            "Docker Hub kubeflow/training-operator (github.com/kubeflow/training-operator releases)",
        ),
        Pin(
            "kueue",
            "image",
            _image("kueue"),
            f"{m} VERSIONS/IMAGES",
            "registry.k8s.io/kueue/kueue (github.com/kubernetes-sigs/kueue releases)",
        ),
        Pin(
            "mpi-operator",
            "image",
            _image("mpi-operator"),
            f"{m} VERSIONS/IMAGES",
            "Docker Hub mpioperator/mpi-operator (github.com/kubeflow/mpi-operator releases)",
        ),
        Pin(
            "aws-fsx-csi-driver",
            "image",
            _image("fsx-csi"),
            f"{m} VERSIONS/IMAGES",
            "public.ecr.aws/fsx-csi-driver (github.com/kubernetes-sigs/aws-fsx-csi-driver)",
        ),
        Pin(
            "node-exporter",
            "image",
            _image("node-exporter"),
            f"{m} VERSIONS/IMAGES",
            "quay.io/prometheus/node-exporter (github.com/prometheus/node_exporter releases)",
        ),
        Pin(
            "hyperpod-health-monitoring-agent",
            "image",
            _image("health-agent"),
            f"{m} VERSIONS/IMAGES",
            "AWS's regional ECR account 905418368575 (HyperPod docs: health monitoring agent)",
        ),
        Pin(
            "nvidia-device-plugin",
            "image",
            addons.IMAGES["nvidia"],
            f"{a} IMAGES",
            "nvcr.io/nvidia/k8s-device-plugin (github.com/NVIDIA/k8s-device-plugin releases)",
        ),
        Pin(
            "aws-efa-k8s-device-plugin",
            "image",
            addons.IMAGES["efa"],
            f"{a} IMAGES",
            "EKS's regional ECR account 602401143452 (github.com/aws/eks-charts aws-efa-k8s-device-plugin)",
        ),
        Pin(
            "neuron-device-plugin",
            "image",
            addons.IMAGES["neuron"],
            f"{a} IMAGES",
            "public.ecr.aws/neuron (AWS Neuron SDK release notes)",
        ),
    ]
    for name, chart in am.CHARTS.items():
        branch = chart["version"] in ("main", "master")
        checked = "not pinned: follows a branch" if branch else UNCHECKED
        rows.append(
            Pin(name, "chart", chart["version"], f"{m} CHARTS", chart["repository"], checked)
        )
    eks_addons = [*template.EKS_CORE_ADDONS, *template.EKS_NODE_ADDONS]
    eks_addons.append(template.HYPERPOD_TRAINING_OPERATOR)
    for name in eks_addons:
        rows.append(
            Pin(
                name,
                "eks-addon",
                "EKS default",
                "providers/aws/template.py (no AddonVersion)",
                "EKS picks its default version of the add-on for the cluster's Kubernetes version",
                "not pinned: EKS chooses at create time",
            )
        )
    rows.append(
        Pin(
            "kubernetes",
            "kubernetes",
            str(Eks.model_fields["kubernetes_version"].default),
            "api/aws_config.py Eks.kubernetes_version (default)",
            "EKS supported versions",
        )
    )
    return rows


def markdown() -> str:
    """The table as ``docs/aws-pins.md`` shows it."""
    lines = [
        "| name | kind | value | pinned in | comes from | checked |",
        "|---|---|---|---|---|---|",
    ]
    for p in table():
        lines.append(
            f"| {p.name} | {p.kind} | `{p.value}` | {p.pinned_in} | {p.upstream} | {p.checked} |"
        )
    return "\n".join(lines) + "\n"
