"""The names of the two training-job kinds (API group, version, plural, labels, container).

A module of constants only, so that commands which read jobs need not import the manifest
builders (:mod:`hyperpod.client.hyperpod_job`, :mod:`hyperpod.client.pytorch_job`), which
re-export these under their short names.
"""

from __future__ import annotations

# HyperPod's HyperPodPyTorchJob (what `hyp create hyp-pytorch-job` makes by default).
HP_GROUP = "sagemaker.amazonaws.com"
HP_VERSION = "v1"
HP_PLURAL = "hyperpodpytorchjobs"
HP_KIND = "HyperPodPyTorchJob"
HP_POD_LABEL = "HPJob"
HP_NODE_RANK_LABEL = "sagemaker.amazonaws.com/node-rank"
HP_CONTAINER = "pytorch-job-container"

# Kubeflow's PyTorchJob.
PT_GROUP = "kubeflow.org"
PT_VERSION = "v1"
PT_PLURAL = "pytorchjobs"
PT_KIND = "PyTorchJob"
PT_CONTAINER = "pytorch"
PT_JOB_NAME_LABEL = "training.kubeflow.org/job-name"
