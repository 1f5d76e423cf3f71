"""The process kubelet: pods bound to this machine run as local process groups.

``agent`` (the component), ``pods`` (one worker per pod), ``shim`` and ``processes`` (container
attempts), ``env`` and ``volumes`` (what a container sees), ``devices`` (GPU/EFA discovery and
allocation), ``probes``, ``logs`` (``pods/log``) and ``simulated`` (kwok-like nodes).
"""
