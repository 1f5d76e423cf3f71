"""``hyp controlplane repair``: check a stopped cluster's store and manage quarantined rows.

Opening the registry moves every stored object that cannot be read back into the quarantine
table (the control plane does the same at start); this command then lists them, prints one,
or purges them. It refuses to run while the control plane of that data directory is up.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from hyperpod.apiserver.registry import Registry
from hyperpod.storage.revlog import RevisionLog


def _running_pid(data_dir: Path) -> int | None:
    try:
        pid = int((data_dir / "controlplane.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def run(args: argparse.Namespace) -> int:
    data_dir: Path = args.data_dir
    db = data_dir / "state.db"
    if not db.exists():
        print(f"error: no cluster state at {db}", file=sys.stderr)
        return 2
    pid = _running_pid(data_dir)
    if pid is not None:
        print(
            f"error: the control plane of {data_dir} is running (pid {pid}); "
            "stop it first (kill -TERM it, or stop the cluster), then run repair again",
            file=sys.stderr,
        )
        return 2
    reg = Registry(db)  # quarantines unreadable rows
    found = len(reg.quarantined)
    reg.close()
    log = RevisionLog(db)
    try:
        rows = log.quarantined()
        if args.show:
            match = [q for q in rows if q.key == args.show]
            if not match:
                print(f"error: {args.show} is not quarantined", file=sys.stderr)
                return 1
            sys.stdout.write(match[0].value.decode("utf-8", "replace") + "\n")
            return 0
        if args.purge or args.purge_key:
            n = log.purge_quarantined(args.purge_key)
            print(f"purged {n} quarantined row(s)")
            return 0
        if found:
            print(f"moved {found} unreadable object(s) aside")
        if not rows:
            print("the store is sound: nothing quarantined")
            return 0
        print(f"{'KEY':<60} {'QUARANTINED':<21} REASON")
        for q in rows:
            print(f"{q.key:<60} {q.at:<21} {q.reason[:120]}")
        print("purge them with --purge (or one with --purge-key KEY); print one with --show KEY")
        return 0
    finally:
        log.close()


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("repair", help="list or purge stored objects that cannot be read back")
    p.add_argument("--data-dir", required=True, type=Path)
    p.add_argument("--purge", action="store_true", help="drop every quarantined row")
    p.add_argument("--purge-key", default=None, help="drop the quarantined rows of one key")
    p.add_argument("--show", default=None, help="print the newest quarantined row of a key")
