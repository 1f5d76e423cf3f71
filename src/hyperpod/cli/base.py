"""What every hyp command shares: the group class that turns errors into one line plus a hint."""

from __future__ import annotations

import os
import select
import sys
from collections.abc import Callable
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
        except BrokenPipeError as exc:
            if not stdout_closed():
                if debug_enabled(ctx):
                    raise
                ctx.exit(fail(exc))
            # `hyp ... | head`: the reader left. Stop quietly, as a tool killed by SIGPIPE
            # would (exit 141), and keep Python from complaining when it flushes stdout.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(141)
        except Exception as exc:
            if debug_enabled(ctx):
                raise
            ctx.exit(fail(exc))


def stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader has gone (its write end polls as an error)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, ValueError, OSError):
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & select.POLLERR for _, events in poller.poll(0))


class LazyGroup(HypGroup):
    """A :class:`HypGroup` whose commands are imported when first named, so that running one
    command imports only its own module.

    ``lazy`` maps a command name to a zero-argument loader returning the command. Listing the
    commands (help, completion) or naming one that is not in ``lazy`` first calls
    ``load_all`` (when set), which must put every command in place, so help and errors are
    those of a group built eagerly.
    """

    def __init__(
        self,
        *args: Any,
        lazy: dict[str, Callable[[], click.Command]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy: dict[str, Callable[[], click.Command]] = dict(lazy or {})
        self.load_all: Callable[[], None] | None = None

    def load(self, name: str) -> click.Command | None:
        """The command ``name`` (importing it if it is lazy and not yet loaded)."""
        loader = self.lazy.pop(name, None)
        if loader is not None and name not in self.commands:
            self.add_command(loader(), name)
        return self.commands.get(name)

    def load_lazy(self) -> None:
        """Import every lazy command of this group."""
        for name in list(self.lazy):
            self.load(name)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd = self.load(cmd_name)
        if cmd is None and self.load_all is not None:
            self.load_all()
            cmd = self.commands.get(cmd_name)
        return cmd

    def list_commands(self, ctx: click.Context) -> list[str]:
        if self.load_all is not None:
            self.load_all()
        return super().list_commands(ctx)
