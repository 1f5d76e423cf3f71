"""``hyp controlplane serve ...``: a thin wrapper that runs ``python -m hyperpod.controlplane``."""

from __future__ import annotations

import click

from hyperpod.cli.base import CONTEXT_SETTINGS


@click.group("controlplane", context_settings=CONTEXT_SETTINGS)
def controlplane() -> None:
    """Run the local control plane in the foreground (what `hyp create` starts in the background).

    \b
    Example:
      hyp controlplane serve --data-dir ~/.hyperpod/dev --port 7443
    """


@controlplane.command(
    "serve",
    context_settings={
        **CONTEXT_SETTINGS,
        "ignore_unknown_options": True,
        "allow_extra_args": True,
        "help_option_names": [],
    },
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def serve(args: tuple[str, ...]) -> None:
    """Serve the Kubernetes API and run every controller (arguments go to hyperpod.controlplane).

    \b
    Example:
      hyp controlplane serve --data-dir ~/.hyperpod/dev --port 7443 --config cp.yaml
    """
    import runpy
    import sys

    sys.argv = ["hyperpod.controlplane", "serve", *args]
    runpy.run_module("hyperpod.controlplane", run_name="__main__", alter_sys=True)


@controlplane.command("repair", context_settings=CONTEXT_SETTINGS)
@click.option("--data-dir", required=True, help="The cluster's data directory (stopped).")
@click.option("--purge", is_flag=True, help="Drop every quarantined object.")
@click.option("--purge-key", default=None, metavar="KEY", help="Drop one quarantined key.")
@click.option("--show", default=None, metavar="KEY", help="Print a quarantined object.")
def repair(data_dir: str, purge: bool, purge_key: str | None, show: str | None) -> None:
    """Check a stopped cluster's store: list, show or purge objects that cannot be read back.

    Stored objects that fail to load are moved aside at start (quarantined) so the cluster
    still starts; this lists them (KEY, when, why) and can print or purge them.

    \b
    Example:
      hyp controlplane repair --data-dir ~/.hyperpod/dev
      hyp controlplane repair --data-dir ~/.hyperpod/dev --purge
    """
    import runpy
    import sys

    argv = ["hyperpod.controlplane", "repair", "--data-dir", data_dir]
    if purge:
        argv.append("--purge")
    if purge_key:
        argv += ["--purge-key", purge_key]
    if show:
        argv += ["--show", show]
    sys.argv = argv
    runpy.run_module("hyperpod.controlplane", run_name="__main__", alter_sys=True)
