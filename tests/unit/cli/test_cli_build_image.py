"""``hyp build python-image``: an image archive ``hyp load image`` takes, or a clear error."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

from click.testing import CliRunner

from hyperpod.cli.main import cli


def test_a_distribution_that_is_not_installed_is_a_user_error(tmp_path: Path) -> None:
    out = tmp_path / "py.tar"
    res = CliRunner().invoke(cli, ["build", "python-image", str(out), "--with", "no-such-dist"])
    assert res.exit_code == 1
    assert "'no-such-dist' is not installed" in res.output and "hint:" in res.output
    assert not out.exists()


def test_the_archive_is_an_oci_layout_named_by_the_tag(tmp_path: Path) -> None:
    out = tmp_path / "py.tar"
    res = CliRunner().invoke(cli, ["build", "python-image", str(out), "--tag", "localhost/p:1"])
    assert res.exit_code == 0, res.output
    assert f"Image localhost/p:1 written to {out}" in res.output
    with tarfile.open(out) as tar:
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
        names = tar.getnames()
    ref = index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]
    assert ref == "localhost/p:1" and "oci-layout" in names
