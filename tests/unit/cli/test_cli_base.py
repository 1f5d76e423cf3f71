"""HypGroup: errors become one line plus a hint; a reader that leaves a pipe ends hyp quietly."""

from __future__ import annotations

import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

PROGRAM = textwrap.dedent(
    """
    import click
    from hyperpod.cli.base import HypGroup

    @click.group(cls=HypGroup)
    def cli():
        pass

    @cli.command()
    def flood():
        for i in range(200000):
            click.echo(f"line {i} " + "x" * 60)

    @cli.command()
    def peer():
        raise BrokenPipeError(32, "Broken pipe")

    cli(prog_name="hyp")
    """
)


def run_piped(command: str, where: Path) -> tuple[int, str, str]:
    """Run the small group with stdout piped into `head -1`; (hyp's exit, head's text, stderr)."""
    shell = (
        f"{shlex.quote(sys.executable)} -c {shlex.quote(PROGRAM)} {command} 2>err.txt | head -1; "
        'echo "rc=${PIPESTATUS[0]}"; cat err.txt'
    )
    out = subprocess.run(
        ["bash", "-c", shell], capture_output=True, text=True, timeout=60, cwd=where
    ).stdout
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("rc="))
    return int(lines[at].removeprefix("rc=")), "".join(lines[:at]), "\n".join(lines[at + 1 :])


def test_a_reader_closing_the_pipe_ends_hyp_with_141_and_no_error_text(tmp_path: Path) -> None:
    rc, first, err = run_piped("flood", tmp_path)
    assert first.startswith("line 0 ")
    assert rc == 141
    assert err == ""


def test_a_broken_pipe_to_the_server_is_still_reported_as_an_error(tmp_path: Path) -> None:
    rc, _first, err = run_piped("peer", tmp_path)
    assert rc == 1
    assert err.startswith("error: ")
