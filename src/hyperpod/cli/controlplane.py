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


@controlplane.command(
    "repair",
    context_settings={
        **CONTEXT_SETTINGS,
        "ignore_unknown_options": True,
        "allow_extra_args": True,
        "help_option_names": [],
    },
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def repair(args: tuple[str, ...]) -> None:
    """Check a stopped cluster's store: list, show or purge objects that cannot be read back.

    \b
    Example:
      hyp controlplane repair --data-dir ~/.hyperpod/dev
      hyp controlplane repair --data-dir ~/.hyperpod/dev --purge
    """
    import runpy
    import sys

    sys.argv = ["hyperpod.controlplane", "repair", *args]
    runpy.run_module("hyperpod.controlplane", run_name="__main__", alter_sys=True)
