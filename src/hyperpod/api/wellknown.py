"""Well-known label, annotation and taint names, spelled once.

Kubernetes' own (``kubernetes.io/...``, ``node.kubernetes.io/...``), SageMaker HyperPod's
(``sagemaker.amazonaws.com/...``) and this project's local-only ones (``hyperpod.local/...``).
"""

from __future__ import annotations

# Kubernetes labels.
HOSTNAME_LABEL = "kubernetes.io/hostname"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"

# Kubernetes node taints (the node lifecycle controller's and the cordon taint).
TAINT_NOT_READY = "node.kubernetes.io/not-ready"
TAINT_UNREACHABLE = "node.kubernetes.io/unreachable"
TAINT_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"

# SageMaker HyperPod node labels.
HEALTH_LABEL = "sagemaker.amazonaws.com/node-health-status"
DEEP_HEALTH_LABEL = "sagemaker.amazonaws.com/deep-health-check-status"
GROUP_LABEL = "sagemaker.amazonaws.com/instance-group-name"

# Simulated nodes: the label on them, and the annotation kwok-style tools look for.
SIMULATED_LABEL = "hyperpod.local/simulated"
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
# "false" on a node: its kubelet (real or simulated) stops renewing the lease.
HEARTBEAT_ANNOTATION = "hyperpod.local/simulate-heartbeat"
