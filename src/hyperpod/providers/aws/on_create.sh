#!/bin/bash
# Default HyperPod lifecycle script (EKS): runs once on every new node as root.
# Keep it idempotent; its output goes to the node's lifecycle log in CloudWatch.
set -euo pipefail

echo "[hyp] on_create starting on $(hostname) at $(date -u +%FT%TZ)"

# Make the extra EBS volume (mounted by HyperPod at /opt/sagemaker) the home of container data
# when it exists, so images and scratch do not fill the root volume.
if mountpoint -q /opt/sagemaker; then
  mkdir -p /opt/sagemaker/containerd /opt/sagemaker/kubelet
  echo "[hyp] /opt/sagemaker is mounted ($(df -h --output=size /opt/sagemaker | tail -1))"
fi

# Raise the locked-memory limit EFA needs for NCCL.
if [ -d /etc/security/limits.d ]; then
  printf '* soft memlock unlimited\n* hard memlock unlimited\n' > /etc/security/limits.d/90-hyp-efa.conf
fi

echo "[hyp] on_create done"
