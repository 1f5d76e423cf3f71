"""Kueue: queueing, quota and admission of workloads (kueue.x-k8s.io)."""
