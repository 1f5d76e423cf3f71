"""The HyperPodPyTorchJob manifest ``hyp create hyp-pytorch-job --kind hyperpodpytorchjob`` sends.

Shaped like the real HyperPod CLI's: one replica spec named ``pod`` with ``node-count``
replicas, a container named ``pytorch-job-container``, ``nprocPerNode`` as a string, the Kueue
labels on the job and its pod template, and ``runPolicy.jobMaxRetryCount`` from ``--max-retry``.
Resources, node selector, volumes and environment come from the PyTorchJob builder.
"""

from __future__ import annotations

import copy
from typing import Any

from hyperpod.client import pytorch_job as pj

GROUP = "sagemaker.amazonaws.com"
VERSION = "v1"
PLURAL = "hyperpodpytorchjobs"
KIND = "HyperPodPyTorchJob"
POD_LABEL = "HPJob"
CONTAINER = "pytorch-job-container"
REPLICA_NAME = "pod"


def build(spec: pj.JobSpec) -> dict[str, Any]:
    """The HyperPodPyTorchJob for ``spec`` (raises :class:`InvalidJobSpec` naming the flag)."""
    kubeflow = pj.build(spec)
    master = kubeflow["spec"]["pytorchReplicaSpecs"]["Master"]
    template = copy.deepcopy(master["template"])
    for container in template["spec"]["containers"]:
        if container.get("name") == pj.CONTAINER:
            container["name"] = CONTAINER
    job_spec: dict[str, Any] = {
        "nprocPerNode": str(kubeflow["spec"].get("nprocPerNode") or "auto"),
        "replicaSpecs": [{"name": REPLICA_NAME, "replicas": spec.node_count, "template": template}],
    }
    retries = spec.max_retry if spec.max_retry is not None else (1 if spec.auto_resume else None)
    if retries is not None:
        job_spec["runPolicy"] = {"cleanPodPolicy": "None", "jobMaxRetryCount": retries}
    metadata = {k: v for k, v in kubeflow["metadata"].items() if k != "annotations"}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": metadata,
        "spec": job_spec,
    }
