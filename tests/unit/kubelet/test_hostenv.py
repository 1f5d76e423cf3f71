"""Containers inherit an allow-list of the control plane's environment, never credentials."""

from __future__ import annotations

from hyperpod.kubelet.hostenv import inherited


def test_what_local_training_needs_crosses_over() -> None:
    env = {
        "PATH": "/venv/bin:/usr/bin",
        "VIRTUAL_ENV": "/venv",
        "LD_LIBRARY_PATH": "/usr/local/cuda/lib64",
        "CUDA_VISIBLE_DEVICES": "0",
        "NCCL_DEBUG": "INFO",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": "/home/u",
        "TMPDIR": "/tmp",
        "PYTHONPATH": "/src",
        "OMP_NUM_THREADS": "4",
    }
    assert inherited(env) == env


def test_kubeconfig_cloud_credentials_and_secret_looking_names_are_dropped() -> None:
    env = {
        "KUBECONFIG": "/root/.kube/config",
        "AWS_ACCESS_KEY_ID": "a",
        "AWS_SECRET_ACCESS_KEY": "b",
        "AWS_PROFILE": "admin",
        "GITHUB_TOKEN": "t",
        "SSH_AUTH_SOCK": "/tmp/agent",
        "NCCL_SECRET": "x",
        "CUDA_API_KEY": "y",
        "HF_TOKEN": "z",
        "RANDOM_TOOL_SETTING": "1",
        "PATH": "/usr/bin",
    }
    assert inherited(env) == {"PATH": "/usr/bin"}
