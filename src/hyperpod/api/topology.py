"""EC2 network topology labels: what simulated nodes carry and Kueue topology annotations name."""

from __future__ import annotations

LAYER_PREFIX = "topology.k8s.aws/network-node-layer-"
ULTRASERVER = "topology.k8s.aws/ultraserver-id"
# The labels the real CLI accepts for --preferred-topology / --required-topology.
LABELS = (f"{LAYER_PREFIX}1", f"{LAYER_PREFIX}2", f"{LAYER_PREFIX}3", ULTRASERVER)
