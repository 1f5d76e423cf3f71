"""The image store: archives from docker save / OCI layouts, layers with whiteouts, references."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest

from hyperpod.kubelet.images import ImageError, ImageStore, apply_layer, normalize
from oci_images import _layer, oci_archive


def _tar(entries: list[tuple[str, bytes | None]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


@pytest.mark.parametrize(
    ("ref", "full"),
    [
        ("busybox", "docker.io/library/busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox:1.36"),
        ("team/app", "docker.io/team/app:latest"),
        ("localhost/app:1", "localhost/app:1"),
        ("registry.example:5000/a/b", "registry.example:5000/a/b:latest"),
        ("ghcr.io/a/b@sha256:abc", "ghcr.io/a/b@sha256:abc"),
    ],
)
def test_references_are_normalised_like_a_container_runtime(ref: str, full: str) -> None:
    assert normalize(ref) == full


def test_an_oci_archive_is_unpacked_with_its_config_and_names(tmp_path: Path) -> None:
    layer = _layer({"bin/tool": (b"#!/bin/sh\n", 0o755)}, {"bin/alias": "tool"})
    archive = oci_archive(
        tmp_path / "a.tar",
        "localhost/tool:2",
        [layer],
        {"Entrypoint": ["/bin/tool"], "Env": ["A=1"]},
    )
    store = ImageStore(tmp_path / "node")
    assert store.load(archive) == ["localhost/tool:2"]
    image = store.get("localhost/tool:2")
    assert image is not None
    assert (image.rootfs / "bin" / "tool").read_bytes() == b"#!/bin/sh\n"
    assert (image.rootfs / "bin" / "tool").stat().st_mode & 0o777 == 0o755
    assert (image.rootfs / "bin" / "alias").readlink() == Path("tool")
    assert image.entrypoint == ["/bin/tool"] and image.env == ["A=1"]
    assert store.get("localhost/tool:3") is None


def test_later_layers_delete_files_through_whiteouts_and_opaque_directories(
    tmp_path: Path,
) -> None:
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    apply_layer(
        rootfs,
        io.BytesIO(
            _tar([("etc", None), ("etc/a", b"1"), ("etc/b", b"2"), ("var", None), ("var/x", b"x")])
        ),
    )
    apply_layer(
        rootfs,
        io.BytesIO(
            gzip.compress(_tar([("etc/.wh.a", b""), ("var/.wh..wh..opq", b""), ("var/y", b"y")]))
        ),
    )
    assert sorted(p.name for p in (rootfs / "etc").iterdir()) == ["b"]
    assert sorted(p.name for p in (rootfs / "var").iterdir()) == ["y"]


def test_a_layer_cannot_write_outside_the_root_filesystem(tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    apply_layer(rootfs, io.BytesIO(_tar([("../escape", b"no"), ("ok", b"yes")])))
    assert not (tmp_path / "escape").exists()
    assert (rootfs / "ok").read_bytes() == b"yes"


def test_a_docker_save_archive_loads_under_its_repo_tags(tmp_path: Path) -> None:
    layer = _tar([("hello.txt", b"hi")])
    config = json.dumps({"config": {"Cmd": ["cat", "/hello.txt"]}}).encode()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in (
            (
                "manifest.json",
                json.dumps(
                    [{"Config": "c.json", "RepoTags": ["app:7"], "Layers": ["l/layer.tar"]}]
                ).encode(),
            ),
            ("c.json", config),
            ("l/layer.tar", layer),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    archive = tmp_path / "docker.tar"
    archive.write_bytes(raw.getvalue())
    store = ImageStore(tmp_path / "node")
    assert store.load(archive) == ["docker.io/library/app:7"]
    image = store.get("app:7")
    assert image is not None and image.cmd == ["cat", "/hello.txt"]
    assert (image.rootfs / "hello.txt").read_bytes() == b"hi"


def test_an_archive_without_a_name_needs_a_tag_and_junk_is_refused(tmp_path: Path) -> None:
    layer = _layer({"f": (b"x", 0o644)}, {})
    archive = oci_archive(tmp_path / "a.tar", "", [layer], {"Cmd": ["sh"]})
    store = ImageStore(tmp_path / "node")
    with pytest.raises(ImageError, match="--tag"):
        store.load(archive)
    assert store.load(archive, tag="localhost/named:1") == ["localhost/named:1"]
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar")
    with pytest.raises(ImageError, match="not an image archive"):
        store.load(junk)


def test_pulling_without_a_puller_says_how_to_load_the_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no skopeo here
    with pytest.raises(ImageError, match="hyp load image"):
        ImageStore(tmp_path).pull("busybox")


def test_unpacked_files_keep_their_layer_mtime_so_cached_bytecode_stays_valid(
    tmp_path: Path,
) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("lib/mod.py")
        info.size, info.mtime = 2, 1_700_000_000
        tar.addfile(info, io.BytesIO(b"x\n"))
    raw.seek(0)
    apply_layer(tmp_path, raw)
    assert (tmp_path / "lib" / "mod.py").stat().st_mtime == 1_700_000_000
