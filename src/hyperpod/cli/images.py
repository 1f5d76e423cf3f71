"""``hyp load image``: put a container image into the local cluster's node, like ``kind load``."""

from __future__ import annotations

from pathlib import Path

import click

from hyperpod.cli.base import CONTEXT_SETTINGS, HypGroup
from hyperpod.client.errors import UserError


@click.command("image", context_settings=CONTEXT_SETTINGS)
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--cluster", "cluster", default=None, help="Local cluster name (default: the only one)."
)
@click.option("--tag", default=None, help="Name the image (when the archive carries no name).")
def load_image(archive: Path, cluster: str | None, tag: str | None) -> None:
    """Load an image archive into the local cluster for pods run by the OCI runtime.

    The archive is what `docker save`, `podman save` or `buildah push IMAGE oci-archive:FILE`
    write. Pods use it with `imagePullPolicy: IfNotPresent` (or a tag other than latest).

    \b
    Example:
      podman save -o app.tar localhost/app:1 && hyp load image app.tar
    """
    from hyperpod.providers.local.daemon import LocalClusterError
    from hyperpod.providers.local.provider import LocalProvider

    prov = LocalProvider()
    names = prov.names()
    if cluster is None:
        if len(names) != 1:
            raise UserError(
                "name the cluster" if names else "no local cluster here",
                "--cluster NAME" if names else "create one with `hyp create`",
            )
        cluster = names[0]
    try:
        refs = prov.load_image(cluster, archive, tag=tag)
    except LocalClusterError as exc:
        raise UserError(str(exc), exc.hint) from exc
    for ref in refs:
        click.echo(f"Image {ref} loaded into cluster {cluster!r}.")


@click.command("python-image", context_settings=CONTEXT_SETTINGS)
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--tag", default="localhost/hyperpod-python:3.11", show_default=True, help="The image's name."
)
@click.option(
    "--with",
    "with_",
    multiple=True,
    metavar="DIST",
    help="A distribution installed here to put in the image, with its requirements "
    "(repeatable), e.g. --with torch --with scikit-learn.",
)
def build_python_image(out: Path, tag: str, with_: tuple[str, ...]) -> None:
    """Build a Python image from this machine's interpreter (no registry needed).

    The image holds the interpreter `hyp` runs under, its standard library, the hyperpod
    package, the distributions named with --with and the shared libraries they load. Load it
    with `hyp load image OUT` and use its tag as a container's image.

    \b
    Example:
      hyp build python-image torch.tar --tag localhost/torch:1 --with torch --with scikit-learn
      hyp load image torch.tar
    """
    from hyperpod.kubelet import python_image

    names = [w for item in with_ for w in item.split(",") if w.strip()]
    try:
        done = python_image.build(out, tag=tag, with_=names)
    except python_image.BuildError as exc:
        raise UserError(str(exc), "hyp build python-image --help") from exc
    size = done["bytes"] / 1e6
    click.echo(f"Image {done['tag']} written to {out} ({done['files']} files, {size:.0f} MB).")


def register(cli: click.Group) -> None:
    load = HypGroup(
        name="load",
        help="Load artefacts into a local cluster.\n\n\b\nExample:\n  hyp load image app.tar",
        context_settings=CONTEXT_SETTINGS,
    )
    load.add_command(load_image)
    cli.add_command(load)
    build = HypGroup(
        name="build",
        help="Build artefacts for a local cluster.\n\n\b\nExample:\n  hyp build python-image py.tar",
        context_settings=CONTEXT_SETTINGS,
    )
    build.add_command(build_python_image)
    cli.add_command(build)
