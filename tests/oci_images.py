"""Build small OCI image archives for tests, from files on this machine (no registry needed).

``busybox_archive`` makes a one-layer image of Debian's static busybox with its applets
linked in ``/bin``: the layout ``buildah push ... oci-archive:`` writes (``index.json``,
``oci-layout``, ``blobs/sha256/...``), gzip-compressed layer included.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path
from typing import Any


def _static_busybox() -> str | None:
    """Debian's busybox-static (a dynamically linked busybox cannot run in a bare image)."""
    for path in ("/usr/bin/busybox", "/bin/busybox"):
        with contextlib.suppress(OSError):
            if b"ld-linux" not in Path(path).read_bytes()[:65536]:
                return path
    return None


BUSYBOX = _static_busybox()
RUNC = shutil.which("runc")
APPLETS = (
    "sh",
    "echo",
    "cat",
    "ls",
    "sleep",
    "id",
    "hostname",
    "httpd",
    "wget",
    "env",
    "pwd",
    "true",
    "false",
    "touch",
    "mkdir",
)


def _layer(files: dict[str, tuple[bytes, int]], links: dict[str, str]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        dirs = sorted({str(Path(p).parent) for p in [*files, *links]} - {"."})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for path, (data, mode) in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
        for path, target in links.items():
            info = tarfile.TarInfo(path)
            info.type, info.linkname, info.mode = tarfile.SYMTYPE, target, 0o777
            tar.addfile(info)
    return gzip.compress(raw.getvalue(), mtime=0)


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def oci_archive(
    out: Path,
    ref: str,
    layers: list[bytes],
    config: dict[str, Any],
) -> Path:
    """Write an OCI image layout archive holding one image named ``ref``."""
    blobs: dict[str, bytes] = {}

    def blob(data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return f"sha256:{digest}"

    diff_ids = [f"sha256:{hashlib.sha256(gzip.decompress(layer)).hexdigest()}" for layer in layers]
    image_config = {
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    cfg = json.dumps(image_config).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": blob(cfg),
            "size": len(cfg),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": blob(layer),
                "size": len(layer),
            }
            for layer in layers
        ],
    }
    man = json.dumps(manifest).encode()
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": blob(man),
                "size": len(man),
                "annotations": {"org.opencontainers.image.ref.name": ref},
            }
        ],
    }
    with tarfile.open(out, "w") as tar:
        _add(tar, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        _add(tar, "index.json", json.dumps(index).encode())
        for digest, data in blobs.items():
            _add(tar, f"blobs/sha256/{digest}", data)
    return out


def busybox_archive(out: Path, ref: str = "localhost/busybox:1", **config: Any) -> Path:
    """A busybox image: ``/bin/busybox`` plus applet links, ``Cmd ["sh"]`` unless given."""
    assert BUSYBOX is not None
    files = {
        "bin/busybox": (Path(BUSYBOX).read_bytes(), 0o755),
        "etc/motd": (b"from the image\n", 0o644),
    }
    links = {f"bin/{a}": "busybox" for a in APPLETS}
    base = {"Env": ["PATH=/bin", "IMAGE_GREETING=hello"], "Cmd": ["sh"], "WorkingDir": "/"}
    return oci_archive(out, ref, [_layer(files, links)], {**base, **config})
