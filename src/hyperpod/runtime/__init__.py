"""The runtime floor beneath controllers, scheduler and kubelet.

What every component is built from: the context the control plane hands it
(:mod:`~hyperpod.runtime.context`), informers, work queues and the event recorder
(:mod:`~hyperpod.runtime.machinery`), node objects and leases (:mod:`~hyperpod.runtime.nodes`),
pod eviction for node health (:mod:`~hyperpod.runtime.health_eviction`) and the on-disk record of
container attempts and their logs (:mod:`~hyperpod.runtime.attempts`,
:mod:`~hyperpod.runtime.podlogs`). It imports only ``api``, ``storage`` and ``apiserver``.
"""
