"""Instance types HyperPod offers: capacity of each, for simulated nodes, job requests and IP planning.

Figures are public AWS facts (see shared/reference/hyperpod.md). ``ips_per_node_eks`` follows
the rule there: the primary card keeps a full ENI of secondary IPs warm, plus one IP for each
other EFA card.
"""

from __future__ import annotations

from dataclasses import dataclass

GPU = "nvidia.com/gpu"
NEURON = "aws.amazon.com/neurondevice"
EFA = "vpc.amazonaws.com/efa"


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpu: int
    memory_gib: int
    accelerators: int = 0
    accelerator_resource: str | None = None  # GPU or NEURON
    accelerator_model: str = ""
    accelerator_memory_gib: int = 0  # per device
    efa: int = 0
    ips_per_node_eks: int = 0

    @property
    def gpus(self) -> int:
        return self.accelerators if self.accelerator_resource == GPU else 0

    def capacity(self, max_pods: int = 110) -> dict[str, str]:
        """Node capacity in Kubernetes quantity strings."""
        cap = {
            "cpu": str(self.vcpu),
            "memory": f"{self.memory_gib}Gi",
            "ephemeral-storage": "500Gi",
            "pods": str(max_pods),
        }
        if self.accelerator_resource and self.accelerators:
            cap[self.accelerator_resource] = str(self.accelerators)
        if self.efa:
            cap[EFA] = str(self.efa)
        return cap


def _t(
    name: str,
    vcpu: int,
    mem: int,
    acc: int = 0,
    res: str | None = None,
    model: str = "",
    acc_mem: int = 0,
    efa: int = 0,
    ips: int = 0,
) -> InstanceType:
    return InstanceType(name, vcpu, mem, acc, res, model, acc_mem, efa, ips)


_TYPES = [
    _t("ml.p4d.24xlarge", 96, 1152, 8, GPU, "A100", 40, 4, 51),
    _t("ml.p4de.24xlarge", 96, 1152, 8, GPU, "A100", 80, 4, 51),
    _t("ml.p5.48xlarge", 192, 2048, 8, GPU, "H100", 80, 32, 81),
    _t("ml.p5e.48xlarge", 192, 2048, 8, GPU, "H200", 141, 32, 81),
    _t("ml.p5en.48xlarge", 192, 2048, 8, GPU, "H200", 141, 16, 65),
    _t("ml.trn1.32xlarge", 128, 512, 16, NEURON, "Trainium", 0, 8, 57),
    _t("ml.trn2.48xlarge", 192, 2048, 16, NEURON, "Trainium2", 0, 16, 65),
    _t("ml.g5.xlarge", 4, 16, 1, GPU, "A10G", 24, 0, 15),
    _t("ml.g5.2xlarge", 8, 32, 1, GPU, "A10G", 24, 0, 15),
    _t("ml.g5.4xlarge", 16, 64, 1, GPU, "A10G", 24, 0, 15),
    _t("ml.g5.8xlarge", 32, 128, 1, GPU, "A10G", 24, 1, 15),
    _t("ml.g5.16xlarge", 64, 256, 1, GPU, "A10G", 24, 1, 15),
    _t("ml.g5.12xlarge", 48, 192, 4, GPU, "A10G", 24, 1, 15),
    _t("ml.g5.24xlarge", 96, 384, 4, GPU, "A10G", 24, 1, 15),
    _t("ml.g5.48xlarge", 192, 768, 8, GPU, "A10G", 24, 1, 15),
    _t("ml.m5.2xlarge", 8, 32, ips=15),
    _t("ml.t3.medium", 2, 4, ips=6),
]

INSTANCE_TYPES: dict[str, InstanceType] = {t.name: t for t in _TYPES}


def get(name: str) -> InstanceType | None:
    """The instance type called ``name`` (``ml.`` prefix optional), or None."""
    if not name.startswith("ml."):
        name = "ml." + name
    return INSTANCE_TYPES.get(name)


def names() -> list[str]:
    return sorted(INSTANCE_TYPES)
