"""The node's image store: OCI images unpacked once, run by the OCI runtime (``oci.py``).

An image lives under ``<data_dir>/images/<id>/`` (``id`` is the digest of its config) as
``rootfs/`` (its layers applied in order, whiteouts honoured) and ``config.json`` (the image
config: Entrypoint, Cmd, Env, WorkingDir, User). ``refs.json`` maps normalised references
(``docker.io/library/busybox:1.36``) to ids.

Images arrive by :meth:`ImageStore.load`, from an archive made by ``docker save``,
``podman save`` (docker or OCI format), ``buildah push oci-archive:`` or ``skopeo copy``, like
``kind load image-archive``; or by :meth:`ImageStore.pull`, which asks ``skopeo`` to fetch the
image into such an archive first (no registry is reachable from some machines: the pull then
fails with skopeo's message, as a kubelet reports its runtime's).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

DEFAULT_DOMAIN = "docker.io"
_WHITEOUT = ".wh."
_OPAQUE = ".wh..wh..opq"


class ImageError(Exception):
    """An image that cannot be loaded, found or pulled; the message is the runtime's."""


def normalize(ref: str) -> str:
    """``busybox`` -> ``docker.io/library/busybox:latest``, as a container runtime reads it."""
    ref = ref.strip()
    if not ref:
        raise ImageError("the image reference is empty")
    name, at, digest = ref.partition("@")
    first, slash, _ = name.partition("/")
    if not slash:
        name = f"{DEFAULT_DOMAIN}/library/{name}"
    elif "." not in first and ":" not in first and first != "localhost":
        name = f"{DEFAULT_DOMAIN}/{name}"
    if at:
        return f"{name}@{digest}"
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


@dataclass(frozen=True)
class Image:
    """One unpacked image."""

    id: str
    path: Path
    config: dict[str, Any]

    @property
    def rootfs(self) -> Path:
        return self.path / "rootfs"

    @property
    def entrypoint(self) -> list[str]:
        return list(self.config.get("Entrypoint") or [])

    @property
    def cmd(self) -> list[str]:
        return list(self.config.get("Cmd") or [])

    @property
    def env(self) -> list[str]:
        return list(self.config.get("Env") or [])

    @property
    def working_dir(self) -> str:
        return str(self.config.get("WorkingDir") or "")

    @property
    def user(self) -> str:
        return str(self.config.get("User") or "")


class ImageStore:
    """Images of one node, kept under ``<data_dir>/images``."""

    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir) / "images"
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ lookup
    def _refs(self) -> dict[str, str]:
        try:
            data = json.loads((self.root / "refs.json").read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _write_refs(self, refs: dict[str, str]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / "refs.json.tmp"
        tmp.write_text(json.dumps(refs, indent=1, sort_keys=True))
        os.replace(tmp, self.root / "refs.json")

    def get(self, ref: str) -> Image | None:
        image_id = self._refs().get(normalize(ref))
        if image_id is None:
            return None
        path = self.root / image_id
        try:
            config = json.loads((path / "config.json").read_text())
        except (OSError, ValueError):
            return None
        if not (path / "rootfs").is_dir():
            return None
        return Image(image_id, path, config.get("config") or {})

    def references(self) -> dict[str, str]:
        """Every reference this node has, with its image id."""
        return self._refs()

    # ------------------------------------------------------------------ loading
    def load(self, archive: Path, tag: str | None = None) -> list[str]:
        """Unpack every image in an archive; returns the references now known to this node.

        ``tag`` names the image when the archive carries no reference of its own (or renames
        its only image).
        """
        try:
            tar = tarfile.open(archive)  # noqa: SIM115 - closed below
        except (OSError, tarfile.TarError) as exc:
            raise ImageError(f"{archive}: not an image archive ({exc})") from exc
        with tar:
            names = set(tar.getnames())
            if "index.json" in names or "./index.json" in names:
                found = _oci_manifests(tar)
            elif "manifest.json" in names or "./manifest.json" in names:
                found = _docker_manifests(tar)
            else:
                raise ImageError(
                    f"{archive}: not an image archive (no index.json or manifest.json); save "
                    "it with 'docker save', 'podman save' or 'buildah push ... oci-archive:'"
                )
            if not found:
                raise ImageError(f"{archive}: the archive holds no image")
            if tag is not None and len(found) != 1:
                raise ImageError(f"{archive}: holds {len(found)} images; --tag names only one")
            loaded: list[str] = []
            for refs, config_bytes, layers in found:
                image_id = hashlib.sha256(config_bytes).hexdigest()
                self._unpack(tar, image_id, config_bytes, layers)
                names_ = [tag] if tag is not None else refs
                if not names_:
                    raise ImageError(
                        f"{archive}: image {image_id[:12]} has no name in the archive; give one "
                        "with --tag"
                    )
                with self._lock:
                    all_refs = self._refs()
                    for r in names_:
                        all_refs[normalize(r)] = image_id
                        loaded.append(normalize(r))
                    self._write_refs(all_refs)
            return loaded

    def _unpack(
        self, tar: tarfile.TarFile, image_id: str, config: bytes, layers: list[str]
    ) -> None:
        target = self.root / image_id
        if (target / "config.json").is_file():
            return  # the same config digest is the same image
        self.root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{image_id[:12]}-", dir=self.root))
        try:
            rootfs = work / "rootfs"
            rootfs.mkdir()
            for layer in layers:
                member = _member(tar, layer)
                if member is None:
                    raise ImageError(f"the archive lacks layer {layer}")
                blob = tar.extractfile(member)
                if blob is None:
                    raise ImageError(f"layer {layer} is not a file")
                apply_layer(rootfs, blob)
            (work / "config.json").write_bytes(config)
            os.replace(work, target)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    # ------------------------------------------------------------------ pulling
    def pull(self, ref: str, auth: tuple[str, str] | None = None) -> Image:
        """Fetch ``ref`` with skopeo into this store; ImageError carries skopeo's message."""
        skopeo = shutil.which("skopeo")
        if skopeo is None:
            raise ImageError(
                f'failed to pull image "{ref}": no image puller on this node (install skopeo, '
                "or load the image with 'hyp load image')"
            )
        full = normalize(ref)
        with tempfile.TemporaryDirectory(prefix="pull-", dir=self._tmp()) as tmp:
            out = Path(tmp) / "image.tar"
            cmd = [skopeo, "copy", "--quiet", f"docker://{full}", f"oci-archive:{out}:{full}"]
            if auth is not None:
                cmd[2:2] = ["--src-creds", f"{auth[0]}:{auth[1]}"]
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            except subprocess.TimeoutExpired as exc:
                raise ImageError(f'failed to pull image "{ref}": timed out') from exc
            if done.returncode != 0:
                why = (done.stderr or done.stdout).strip().splitlines()
                raise ImageError(
                    f'failed to pull image "{ref}": ' + (why[-1] if why else "skopeo failed")
                )
            self.load(out, tag=full)
        image = self.get(full)
        if image is None:
            raise ImageError(f'failed to pull image "{ref}": nothing was unpacked')
        return image

    def _tmp(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        return self.root


def _member(tar: tarfile.TarFile, name: str) -> tarfile.TarInfo | None:
    for candidate in (name, f"./{name}"):
        with contextlib.suppress(KeyError):
            return tar.getmember(candidate)
    return None


def _read(tar: tarfile.TarFile, name: str) -> bytes:
    member = _member(tar, name)
    f = tar.extractfile(member) if member is not None else None
    if f is None:
        raise ImageError(f"the archive lacks {name}")
    return f.read()


def _blob(digest: str) -> str:
    algo, _, hexd = digest.partition(":")
    return f"blobs/{algo}/{hexd}"


Found = list[tuple[list[str], bytes, list[str]]]  # (refs, config bytes, layer member names)


def _oci_manifests(tar: tarfile.TarFile) -> Found:
    index = json.loads(_read(tar, "index.json"))
    out: Found = []
    for desc in index.get("manifests") or []:
        ref = (desc.get("annotations") or {}).get("org.opencontainers.image.ref.name", "")
        manifest = json.loads(_read(tar, _blob(desc["digest"])))
        if "manifests" in manifest:  # a nested index: take the first manifest for linux
            desc = manifest["manifests"][0]
            manifest = json.loads(_read(tar, _blob(desc["digest"])))
        config = _read(tar, _blob(manifest["config"]["digest"]))
        layers = [_blob(layer["digest"]) for layer in manifest.get("layers") or []]
        # A bare tag ("1.0") names the image only together with the archive's name.
        refs = [ref] if ref and (":" in ref or "/" in ref) else []
        out.append((refs, config, layers))
    return out


def _docker_manifests(tar: tarfile.TarFile) -> Found:
    out: Found = []
    for entry in json.loads(_read(tar, "manifest.json")):
        config = _read(tar, entry["Config"])
        out.append((list(entry.get("RepoTags") or []), config, list(entry.get("Layers") or [])))
    return out


def _open_layer(blob: IO[bytes]) -> tarfile.TarFile:
    # Stream mode with compression detected from the bytes: layers are tar or tar+gzip.
    return tarfile.open(fileobj=blob, mode="r|*")


def _inside(root: Path, rel: str) -> Path | None:
    parts = [p for p in PurePosixPath(rel).parts if p not in ("", ".", "/")]
    if not parts or ".." in parts:
        return None
    return root.joinpath(*parts)


def apply_layer(rootfs: Path, blob: IO[bytes]) -> None:
    """Apply one layer (tar, optionally gzipped) onto ``rootfs``, honouring whiteouts."""
    with _open_layer(blob) as layer:
        for member in layer:
            path = _inside(rootfs, member.name)
            if path is None:
                continue
            base = path.name
            if base == _OPAQUE:
                for child in list(path.parent.iterdir()) if path.parent.is_dir() else []:
                    _remove(child)
                continue
            if base.startswith(_WHITEOUT):
                _remove(path.with_name(base[len(_WHITEOUT) :]))
                continue
            if path.is_symlink() or (path.exists() and not (path.is_dir() and member.isdir())):
                _remove(path)
            if member.islnk():
                # Hard links name their target relative to the layer's root.
                target = _inside(rootfs, member.linkname)
                if target is None or not target.exists():
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                os.link(target, path)
                continue
            layer.extract(member, rootfs, set_attrs=False, filter="tar")
            _set_attrs(path, member)


def _set_attrs(path: Path, member: tarfile.TarInfo) -> None:
    if member.issym():
        return
    with contextlib.suppress(OSError):
        os.chmod(path, member.mode & 0o7777)
    with contextlib.suppress(OSError, OverflowError):
        # Python checks a cached .pyc against its source's mtime: keep the layer's.
        os.utime(path, (member.mtime, member.mtime))
    if os.geteuid() == 0:
        with contextlib.suppress(OSError):
            os.lchown(path, member.uid, member.gid)


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
