#!/bin/bash
# HyperPod lifecycle script for EKS nodes, written by hyp: runs once as root on every new node.
#
# 1. Everything it does is logged to /var/log/provision/provisioning.log (and to the node's
#    lifecycle log stream in CloudWatch, which captures stdout).
# 2. Container images and kubelet data (pod volumes, emptyDirs, logs) move off the small root
#    volume: onto the instance store (NVMe, mounted at /opt/dlami/nvme) when the instance has
#    one, else onto the extra EBS volume HyperPod mounts at /opt/sagemaker. Each directory is
#    bind-mounted in place and recorded in /etc/fstab so it survives a reboot.
# 3. The locked-memory limit EFA needs for NCCL is raised.
# It is idempotent: running it twice changes nothing the second time.
set -euo pipefail

ROOT="${HYP_LIFECYCLE_ROOT:-}" # tests point this at a scratch directory; empty on a node
LOG_DIR="$ROOT/var/log/provision"
LOG_FILE="$LOG_DIR/provisioning.log"
mkdir -p "$LOG_DIR"
exec > >(tee -a "$LOG_FILE") 2>&1

log() {
  echo "[hyp on_create $(date -u +%FT%TZ)] $*"
}

data_root() {
  local candidate
  for candidate in /opt/dlami/nvme /opt/sagemaker; do
    if mountpoint -q "$ROOT$candidate"; then
      echo "$ROOT$candidate"
      return 0
    fi
  done
  return 1
}

service_active() {
  systemctl is-active --quiet "$1" 2>/dev/null
}

# move_onto SOURCE TARGET SERVICE: copy SOURCE's contents to TARGET and bind-mount TARGET on
# SOURCE, with SERVICE stopped meanwhile (and started again if it was running).
move_onto() {
  local source="$1" target="$2" service="$3" was_active=0
  if mountpoint -q "$source"; then
    log "$source is already a mount point: left as it is"
    return 0
  fi
  if service_active "$service"; then
    was_active=1
    log "stopping $service"
    systemctl stop "$service"
  fi
  mkdir -p "$source" "$target"
  if [ -n "$(ls -A "$source")" ]; then
    log "copying $source to $target"
    cp -a "$source/." "$target/"
  fi
  mount --bind "$target" "$source"
  if ! grep -qs " $source none bind" "$ROOT/etc/fstab"; then
    echo "$target $source none bind 0 0" >> "$ROOT/etc/fstab"
  fi
  log "$source now lives on $target"
  if [ "$was_active" = 1 ]; then
    log "starting $service"
    systemctl start "$service"
  fi
}

log "starting on $(hostname)"
if DATA=$(data_root); then
  log "data volume: $DATA ($(df -h --output=size "$DATA" | tail -1 | tr -d ' '))"
  mkdir -p "$ROOT/etc"
  touch "$ROOT/etc/fstab"
  move_onto "$ROOT/var/lib/containerd" "$DATA/containerd" containerd
  move_onto "$ROOT/var/lib/kubelet" "$DATA/kubelet" kubelet
else
  log "no instance store or extra EBS volume mounted: container data stays on the root volume"
fi

if [ -d "$ROOT/etc/security/limits.d" ]; then
  printf '* soft memlock unlimited\n* hard memlock unlimited\n' \
    > "$ROOT/etc/security/limits.d/90-hyp-efa.conf"
  log "memlock unlimited for EFA"
fi

log "done"
