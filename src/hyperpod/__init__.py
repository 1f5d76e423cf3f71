"""hyperpod: a HyperPod-style, Kubernetes-native platform for distributed ML training."""

__version__ = "0.1.0"
