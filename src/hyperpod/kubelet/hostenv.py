"""The part of the control plane's environment a container inherits: an explicit allow-list.

Pods run the user's own Python and tools, so they need ``PATH``, the virtualenv/conda
variables, library paths, locale, ``HOME``/``TMPDIR`` and the GPU/torch/NCCL tuning variables.
Nothing else crosses over: in particular ``KUBECONFIG``, ``AWS_*``, cloud and registry
credentials, SSH agent sockets and any name that looks like a secret (``*TOKEN*``, ``*SECRET*``,
``*PASSWORD*``, ``*CREDENTIAL*``, ``*_KEY``) are dropped even when a prefix would allow them. A
pod that needs more sets it in ``env`` (from a Secret when it is one).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

EXACT = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "TERM",
        "TMPDIR",
        "TZ",
        "LANG",
        "LANGUAGE",
        "VIRTUAL_ENV",
        "CONDA_PREFIX",
        "CONDA_DEFAULT_ENV",
        "CONDA_EXE",
        "PYTHONPATH",
        "PYTHONUNBUFFERED",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONHASHSEED",
        "LD_LIBRARY_PATH",
        "LIBRARY_PATH",
        "CPATH",
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "KMP_AFFINITY",
        "HF_HOME",
        "HF_DATASETS_CACHE",
        "TRANSFORMERS_CACHE",
        "XDG_CACHE_HOME",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
    }
)
PREFIXES = ("LC_", "CUDA_", "NCCL_", "TORCH_", "PYTORCH_", "NVIDIA_", "CUDNN_", "FI_", "GLOO_")
_SECRETISH = re.compile(r"TOKEN|SECRET|PASSW|CREDENTIAL|(^|_)KEY($|_)|AUTH", re.IGNORECASE)


def allowed(name: str) -> bool:
    if _SECRETISH.search(name):
        return False
    return name in EXACT or name.startswith(PREFIXES)


def inherited(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables of ``environ`` a container inherits."""
    return {k: v for k, v in environ.items() if allowed(k)}
