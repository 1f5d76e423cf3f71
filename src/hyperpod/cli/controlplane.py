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


@controlplane.command("issue-cert", context_settings=CONTEXT_SETTINGS)
@click.option("--data-dir", required=True, type=click.Path(file_okay=False), help="Cluster data.")
@click.option("--user", required=True, help="User name (the certificate's Common Name).")
@click.option("--group", "groups", multiple=True, help="A group (Organization); repeatable.")
@click.option("--namespace", default="default", show_default=True, help="Context namespace.")
@click.option("--days", type=click.IntRange(1, 3650), default=365, show_default=True)
@click.option("--output", "-o", default=None, help="Write the kubeconfig to FILE (0600).")
def issue_cert(
    data_dir: str,
    user: str,
    groups: tuple[str, ...],
    namespace: str,
    days: int,
    output: str | None,
) -> None:
    """Sign a client certificate (CN = user, O = groups) and print a kubeconfig that uses it.

    \b
    Example:
      hyp controlplane issue-cert --data-dir ~/.hyperpod/dev --user carol --group ml -o carol.yaml
    """
    from hyperpod.controlplane import clientcerts

    args = ["issue", "--data-dir", data_dir, "--user", user, "--namespace", namespace]
    args += ["--days", str(days), *(a for g in groups for a in ("--group", g))]
    code = clientcerts.main([*args, *(["-o", output] if output else [])])
    if code:
        raise SystemExit(code)
