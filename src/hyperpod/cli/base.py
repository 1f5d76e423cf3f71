"""What every hyp command shares: the group class that turns errors into one line plus a hint."""

from __future__ import annotations

from typing import Any

import click

from hyperpod.cli.output import fail

CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def debug_enabled(ctx: click.Context) -> bool:
    return bool(ctx.find_root().params.get("debug"))


class HypGroup(click.Group):
    """A group whose commands' errors are printed as ``error: ...`` + ``hint: ...``."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:
            if debug_enabled(ctx):
                raise
            ctx.exit(fail(exc))
