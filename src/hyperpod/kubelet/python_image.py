"""A Python image built from this machine's interpreter, for pods run by the OCI runtime.

No registry is reachable from some machines, so ``hyp build python-image`` makes the image
from what is installed here: the interpreter this command runs under (its binary, its
standard library without the test suite, IDLE and tkinter), the distributions asked for with
their requirements (read from the environment's metadata, e.g. ``torch`` and
``scikit-learn`` for the digits example), the ``hyperpod`` package (``hyperpod.progress``,
``hyperpod.examples``), and every shared library those ELF files load (found with ``ldd``,
the dynamic loader included). Files keep their absolute paths, so the interpreter finds its
prefix as it does here; ``python`` and ``python3`` are on the image's PATH. The result is an
OCI image archive (one uncompressed layer) that ``hyp load image`` loads.

The image runs only on machines with the same CPU architecture and a kernel the copied C
library accepts, like any image built for one platform.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from importlib import metadata
from pathlib import Path
from typing import IO, Any

import hyperpod

DEFAULT_TAG = "localhost/hyperpod-python:3.11"
_SKIP_STDLIB = {
    "test",
    "idlelib",
    "tkinter",
    "turtledemo",
    "ensurepip",
    "lib2to3",
    "site-packages",
    "dist-packages",
}
_ELF = b"\x7fELF"
_LDD_LINE = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x")


class BuildError(Exception):
    """The image cannot be built; the message names what is missing."""


def _requirement_names(dist: metadata.Distribution) -> list[str]:
    out = []
    for req in dist.requires or []:
        if ";" in req and "extra ==" in req.split(";", 1)[1]:
            continue  # only the distribution's own requirements, not its extras'
        name = re.split(r"[\s<>=!~;\[(]", req.strip(), maxsplit=1)[0]
        if name:
            out.append(name)
    return out


def distributions(names: Iterable[str]) -> list[metadata.Distribution]:
    """The named distributions and everything they require, from the running environment."""
    seen: dict[str, metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen or key == "hyperpod":
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError as exc:
            if name in names:
                raise BuildError(
                    f"{name!r} is not installed in {sys.prefix}: install it there, or leave it "
                    "out of --with"
                ) from exc
            continue  # an optional requirement this environment does not have
        seen[key] = dist
        todo.extend(_requirement_names(dist))
    return list(seen.values())


def _walk(root: Path, skip: set[str] | None = None) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        if skip and Path(dirpath) == root:
            # config-3.11-*: the static library and Makefile, for building C extensions only
            dirnames[:] = [d for d in dirnames if d not in skip and not d.startswith("config-")]
        elif skip:
            dirnames[:] = [d for d in dirnames if d != "test"]  # ctypes/test, unittest/test
        dirnames.sort()
        for name in sorted(filenames):
            if ".opt-" not in name:  # the -O / -OO bytecode: no container here runs with -O
                yield Path(dirpath) / name
        for name in dirnames:
            path = Path(dirpath) / name
            if path.is_symlink():
                yield path


def _dist_files(dist: metadata.Distribution) -> Iterator[Path]:
    for rel in dist.files or []:
        path = Path(str(dist.locate_file(rel))).resolve()
        if path.is_file():
            yield path


class _Plan:
    """Files for the image: ``image path -> host path`` (or None for a directory)."""

    def __init__(self) -> None:
        self.files: dict[str, Path] = {}
        self.links: dict[str, str] = {}

    def add(self, image_path: str, host: Path) -> None:
        self.files.setdefault(image_path.lstrip("/"), host)

    def add_host(self, host: Path) -> None:
        """A host file at its own path; a symlink is kept as one, its target added too.

        A linked directory on the way (``/lib -> usr/lib`` on a merged-/usr system) becomes
        the same link in the image, and the file goes where the link leads.
        """
        host = Path(os.path.abspath(host))
        for parent in reversed(host.parents):
            if parent.is_symlink():
                self.links.setdefault(str(parent).lstrip("/"), os.readlink(parent))
                self.add_host(parent.resolve() / host.relative_to(parent))
                return
        if host.is_symlink():
            target = os.readlink(host)
            self.links.setdefault(str(host).lstrip("/"), target)
            self.add_host((host.parent / target).resolve())
            return
        self.add(str(host), host)


def _is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(4) == _ELF
    except OSError:
        return False


def shared_libraries(elves: list[Path]) -> set[Path]:
    """Every library the given ELF files load (``ldd``), the loader included."""
    ldd = shutil.which("ldd")
    if ldd is None:
        raise BuildError("ldd is not installed (apt-get install libc-bin)")
    found: set[Path] = set()
    for start in range(0, len(elves), 64):
        batch = [str(p) for p in elves[start : start + 64]]
        done = subprocess.run([ldd, *batch], capture_output=True, text=True)
        for line in done.stdout.splitlines():
            match = _LDD_LINE.search(line)
            if match:
                found.add(Path(match.group(1)))
    return found


def plan(with_: Iterable[str]) -> _Plan:
    """What the image holds (see the module docstring)."""
    p = _Plan()
    executable = Path(sys._base_executable if hasattr(sys, "_base_executable") else sys.executable)
    p.add_host(executable)
    real = executable.resolve()
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in _walk(stdlib, _SKIP_STDLIB):
        p.add_host(path)
    purelib = Path(
        sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix})["purelib"]
    )
    for dist in distributions(list(with_)):
        site = Path(str(dist.locate_file(""))).resolve()
        for path in _dist_files(dist):
            try:
                rel = path.relative_to(site)
            except ValueError:
                continue  # a script or data file outside site-packages
            p.add(str(purelib / rel), path)
    package = Path(hyperpod.__file__).resolve().parent
    for path in _walk(package):
        if "__pycache__" not in path.parts and path.is_file():
            p.add(str(purelib / "hyperpod" / path.relative_to(package)), path)
    elves = [h for h in p.files.values() if (h.suffix == ".so" or ".so." in h.name or h == real)]
    elves = [h for h in elves if _is_elf(h)]
    for lib in shared_libraries(elves):
        if str(lib).lstrip("/") not in p.files:
            p.add_host(lib)
    for name in ("python", "python3"):
        p.links.setdefault(f"usr/local/bin/{name}", str(real))
    return p


def _etc() -> dict[str, bytes]:
    return {
        "etc/passwd": b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        "etc/group": b"root:x:0:\nnogroup:x:65534:\n",
        "etc/nsswitch.conf": b"hosts: files dns\npasswd: files\ngroup: files\n",
    }


def _dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, mode
    tar.addfile(info)


def write_layer(p: _Plan, out: IO[bytes]) -> None:
    """The image's one layer as an uncompressed tar."""
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        names = sorted({*p.files, *p.links})
        dirs: set[str] = {"tmp", "root", "etc", "usr/local/bin"}
        for name in names:
            parent = os.path.dirname(name)
            while parent:
                dirs.add(parent)
                parent = os.path.dirname(parent)
        for d in sorted(dirs - set(p.links)):
            _dir(tar, d, 0o1777 if d == "tmp" else 0o755)
        for name, data in _etc().items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
        for name in sorted(p.links):
            if name in p.files:
                continue
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.mode = tarfile.SYMTYPE, p.links[name], 0o777
            tar.addfile(info)
        for name in sorted(p.files):
            if name in p.links:
                continue
            host = p.files[name]
            st = host.stat()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = st.st_size, st.st_mode & 0o7777, int(st.st_mtime)
            with host.open("rb") as fh:
                tar.addfile(info, fh)


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build(out: Path, tag: str = DEFAULT_TAG, with_: Iterable[str] = ()) -> dict[str, Any]:
    """Write the image archive to ``out``; returns a summary (tag, files, bytes)."""
    p = plan(with_)
    real = Path(sys.executable).resolve()
    config = {
        "Env": [
            f"PATH=/usr/local/bin:{real.parent}:/usr/bin:/bin",
            "LANG=C.UTF-8",
        ],
        "Cmd": ["python3"],
        "WorkingDir": "/",
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="python-image-", dir=out.parent) as tmp:
        layer_path = Path(tmp) / "layer.tar"
        with layer_path.open("wb") as fh:
            write_layer(p, fh)
        layer_digest = _digest(layer_path)
        image_config = {
            "architecture": "amd64" if os.uname().machine == "x86_64" else os.uname().machine,
            "os": "linux",
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_digest}"]},
        }
        cfg = json.dumps(image_config).encode()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": "sha256:" + hashlib.sha256(cfg).hexdigest(),
                    "size": len(cfg),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": f"sha256:{layer_digest}",
                        "size": layer_path.stat().st_size,
                    }
                ],
            }
        ).encode()
        index = {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": "sha256:" + hashlib.sha256(manifest).hexdigest(),
                    "size": len(manifest),
                    "annotations": {"org.opencontainers.image.ref.name": tag},
                }
            ],
        }
        partial = out.with_name(out.name + ".part")
        with tarfile.open(partial, "w") as tar:
            _add(tar, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
            _add(tar, "index.json", json.dumps(index).encode())
            _add(tar, f"blobs/sha256/{hashlib.sha256(cfg).hexdigest()}", cfg)
            _add(tar, f"blobs/sha256/{hashlib.sha256(manifest).hexdigest()}", manifest)
            tar.add(str(layer_path), arcname=f"blobs/sha256/{layer_digest}")
        os.replace(partial, out)
    return {"tag": tag, "files": len(p.files), "bytes": out.stat().st_size}
