"""How hyp prints: tables, JSON or YAML for data, and one line plus a hint for errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.console import Console

OUTPUT_FORMATS = ("table", "json", "yaml")


def output_option(default: str = "table") -> Any:
    return click.option(
        "--output",
        "-o",
        "output",
        type=click.Choice(OUTPUT_FORMATS),
        default=default,
        show_default=True,
        help="Output format.",
    )


def namespace_option() -> Any:
    return click.option(
        "--namespace",
        "-n",
        default="default",
        show_default=True,
        metavar="NS",
        help="Kubernetes namespace.",
    )


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # Pipes and files get wide lines rather than rich's 80-column default.
    width = None if stream.isatty() else 200
    return Console(stderr=stderr, highlight=False, width=width)


def dump(data: Any, fmt: str) -> None:
    """Print ``data`` as JSON or YAML."""
    if fmt == "json":
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        import yaml

        click.echo(yaml.safe_dump(data, sort_keys=False, default_flow_style=False).rstrip())


def table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    fmt: str,
    *,
    empty: str = "No resources found.",
    title: str | None = None,
) -> None:
    """Rows as aligned columns like ``kubectl get``, or as a JSON/YAML list of objects.

    Plain text on purpose: rendering with rich cost ~18 ms of imports on every ``hyp list``,
    a quarter of the command's time, for no visible gain in a pipe.
    """
    if fmt != "table":
        dump([dict(r) for r in rows], fmt)
        return
    if not rows:
        click.echo(empty)
        return
    header = [col.upper().replace("_", " ") for col in columns]
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(columns))]
    out = [title] if title else []
    for line in [header, *cells]:
        out.append("   ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())
    click.echo("\n".join(out))


def _cell(value: Any) -> str:
    """One table cell on one line (a multi-line message would break the columns)."""
    return "" if value is None else " ".join(str(value).split())


def fields(pairs: Sequence[tuple[str, Any]]) -> None:
    """Key: value lines for ``describe``."""
    width = max((len(k) for k, _ in pairs), default=0)
    for key, value in pairs:
        click.echo(f"{key + ':':<{width + 1}} {'' if value is None else value}")


def _api_message(exc: Any) -> tuple[str, str]:
    status = getattr(exc, "status", 0) or 0
    body = getattr(exc, "body", None)
    message = ""
    if body:
        try:
            message = json.loads(body).get("message", "")
        except (ValueError, AttributeError):
            message = str(body)[:300]
    message = message or str(getattr(exc, "reason", "")) or "request failed"
    hints = {
        401: "the kubeconfig's credentials were refused; for a local cluster run `hyp get kubeconfig`",
        403: "your identity lacks permission; on EKS check the cluster's access entries",
        404: "check the name and the namespace (-n)",
        409: "pick another name, or delete the existing one first",
        422: "fix the field named above",
    }
    return f"the cluster answered {status}: {message}", hints.get(int(status), "")


def explain(exc: BaseException) -> tuple[str, str, int]:
    """(message, hint, exit code) for an exception."""
    hint = getattr(exc, "hint", None)
    if hint is not None and type(exc).__module__.startswith("hyperpod."):
        return (
            str(getattr(exc, "message", None) or exc),
            str(hint),
            int(getattr(exc, "exit_code", 1)),
        )
    name = type(exc).__name__
    module = type(exc).__module__
    if module.startswith(("kubernetes", "hyperpod.client.lean")) and any(
        c.__name__ == "ApiException" for c in type(exc).__mro__
    ):
        msg, hint = _api_message(exc)
        return msg, hint, 1
    if name == "ConfigException" and module.startswith("kubernetes"):
        return (
            f"no usable kubeconfig: {exc}",
            "create a local cluster with `hyp create`, or point --kubeconfig/--context at one",
            1,
        )
    if module.startswith("urllib3") or isinstance(exc, ConnectionError):
        return (
            "cannot reach the cluster named by the kubeconfig",
            "is it running? `hyp list cluster-stack` shows local clusters; `hyp create` starts one",
            1,
        )
    if name == "ValidationError" and module.startswith("pydantic"):
        first = exc.errors()[0]  # type: ignore[attr-defined]
        loc = ".".join(str(p) for p in first["loc"])
        return f"{loc}: {first['msg']}", "run `hyp validate` to see every problem", 1
    if isinstance(exc, PermissionError):
        return f"permission denied: {exc.filename or exc}", "check the path's permissions", 1
    if isinstance(exc, FileNotFoundError):
        return f"file not found: {exc.filename or exc}", "check the path", 1
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}", "", 1
    return f"unexpected {name}: {exc}", "rerun with `hyp --debug ...` and report the traceback", 1


def fail(exc: BaseException) -> int:
    """Print ``exc`` as ``error: ...`` / ``hint: ...`` on stderr; returns the exit code."""
    message, hint, code = explain(exc)
    lines = message.splitlines() or [message]
    click.secho(f"error: {lines[0]}", fg="red", err=True)
    for extra in lines[1:]:
        click.echo(f"  {extra}", err=True)
    if hint:
        click.secho(f"hint: {hint}", fg="yellow", err=True)
    sys.stderr.flush()
    return code
