"""GPU partitions (NVIDIA MIG profiles) per instance type, as HyperPod's CLI knows them.

A MIG profile ``mig-<g>g.<mem>gb`` is a slice of ``g`` of a GPU's 7 compute slices. A simulated
node group with ``migProfile: mig-1g.10gb`` (cluster config ``nodes.simulated[]``) is a node whose
GPUs are all split into that profile ("mixed" strategy of NVIDIA's device plugin): it advertises
``nvidia.com/mig-1g.10gb`` (partitions per GPU x GPUs) instead of ``nvidia.com/gpu`` and carries
the labels ``nvidia.com/mig.config=all-1g.10gb`` and ``nvidia.com/mig.config.state=success``
that the real CLI's ``--accelerator-partition-type`` selects on.
"""

from __future__ import annotations

import re

RESOURCE_PREFIX = "nvidia.com/"
LABEL_CONFIG = "nvidia.com/mig.config"
LABEL_CONFIG_STATE = "nvidia.com/mig.config.state"
SLICES_PER_GPU = 7

_A100_40 = ("mig-1g.5gb", "mig-1g.10gb", "mig-2g.10gb", "mig-3g.20gb", "mig-4g.20gb", "mig-7g.40gb")
_H100_80 = (
    "mig-1g.10gb",
    "mig-1g.20gb",
    "mig-2g.20gb",
    "mig-3g.40gb",
    "mig-4g.40gb",
    "mig-7g.80gb",
)
_H200 = ("mig-1g.18gb", "mig-1g.35gb", "mig-2g.35gb", "mig-3g.71gb", "mig-4g.71gb", "mig-7g.141gb")
_B200 = ("mig-1g.23gb", "mig-1g.45gb", "mig-2g.45gb", "mig-3g.90gb", "mig-4g.90gb", "mig-7g.180gb")

PROFILES: dict[str, tuple[str, ...]] = {
    "ml.p4d.24xlarge": _A100_40,
    "ml.p4de.24xlarge": _H100_80,  # A100 80 GB: the same profile names as H100 80 GB
    "ml.p5.48xlarge": _H100_80,
    "ml.p5e.48xlarge": _H200,
    "ml.p5en.48xlarge": _H200,
    "ml.p6-b200.48xlarge": _B200,
}
_PROFILE = re.compile(r"^mig-([1-7])g\.(\d+)gb$")


def profiles(instance_type: str) -> tuple[str, ...]:
    return PROFILES.get(instance_type, ())


def all_profiles() -> list[str]:
    return sorted({p for values in PROFILES.values() for p in values})


def slices(profile: str) -> int:
    """Compute slices of one partition: mig-3g.40gb -> 3; raises ValueError for a bad name."""
    found = _PROFILE.match(profile)
    if found is None:
        raise ValueError(f"{profile!r} is not a MIG profile (like mig-1g.10gb)")
    return int(found.group(1))


def per_gpu(profile: str) -> int:
    """Partitions of ``profile`` one GPU holds (NVIDIA's layouts: 7, 3, 2, 1, 1 for 1g-7g)."""
    return {1: 7, 2: 3, 3: 2, 4: 1, 7: 1}.get(slices(profile), 0)


def check(instance_type: str, profile: str) -> str | None:
    """Why ``profile`` cannot be used on ``instance_type``, or None."""
    allowed = profiles(instance_type)
    if not allowed:
        return f"instance type {instance_type!r} does not support accelerator partitions"
    if profile not in allowed:
        return (
            f"accelerator partition {profile!r} is not supported on {instance_type!r} "
            f"(allowed: {', '.join(allowed)})"
        )
    return None
