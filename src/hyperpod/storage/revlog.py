"""A revision log in SQLite (the kine model): every write is a row with a global revision.

The table holds, per key, the rows of its history; the newest row of a key is its current
value unless it is a deletion. The revision is the Kubernetes ``resourceVersion``. The log is
the only writer's (one control-plane process): revisions are assigned here, in memory, and the
row is committed before the write is acknowledged. WAL mode with ``synchronous=NORMAL``
survives a ``kill -9`` of the process at any moment (only an OS crash could lose the tail).

Rows that cannot be read back (a damaged store, or one written by an older version with
weaker validation) are moved aside into the ``quarantine`` table with every row of their key,
so start-up never fails on them; ``hyp controlplane repair`` lists and purges them.
The database file and its WAL are private to the owner (0600): they hold every Secret.

Compaction keeps a bounded history: rows superseded before the compacted revision are
removed, and reads of history below it answer 410 (``Expired``) upstream.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

OP_CREATE = 1
OP_UPDATE = 2
OP_DELETE = 3

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS log (
        rev INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        op INTEGER NOT NULL,
        prev_rev INTEGER NOT NULL DEFAULT 0,
        value BLOB NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS log_key ON log (key, rev)",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    """CREATE TABLE IF NOT EXISTS quarantine (
        rev INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        op INTEGER NOT NULL,
        value BLOB NOT NULL,
        reason TEXT NOT NULL,
        at TEXT NOT NULL
    )""",
]
_PRIVATE = 0o600


@dataclass(slots=True)
class Quarantined:
    """A row moved aside because it could not be read back."""

    rev: int
    key: str
    reason: str
    at: str
    value: bytes


@dataclass(slots=True)
class Row:
    """One row of the log: what happened to ``key`` at ``rev``."""

    rev: int
    key: str
    op: int
    prev_rev: int
    value: bytes


class RevisionLog:
    """The durable log plus an index of each key's current row."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            _make_private(Path(self.path))
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        for stmt in _SCHEMA:
            self._db.execute(stmt)
        row = self._db.execute("SELECT COALESCE(MAX(rev), 0) FROM log").fetchone()
        self.rev: int = int(row[0])
        got = self._db.execute("SELECT value FROM meta WHERE name='compacted'").fetchone()
        self.compacted: int = int(got[0]) if got else 0
        got = self._db.execute("SELECT value FROM meta WHERE name='floor'").fetchone()
        # Revisions never go backwards, even if every row was compacted away.
        if got and int(got[0]) > self.rev:
            self.rev = int(got[0])
        if self.path != ":memory:":
            for suffix in ("-wal", "-shm"):
                side = Path(self.path + suffix)
                if side.exists():
                    side.chmod(_PRIVATE)

    # -- reads -------------------------------------------------------------------------
    def current(self) -> Iterator[Row]:
        """The live (not deleted) newest row of every key."""
        cur = self._db.execute(
            "SELECT l.rev, l.key, l.op, l.prev_rev, l.value FROM log l "
            "JOIN (SELECT key, MAX(rev) AS rev FROM log GROUP BY key) m "
            "ON l.key = m.key AND l.rev = m.rev WHERE l.op != ?",
            (OP_DELETE,),
        )
        for r in cur:
            yield Row(r[0], r[1], r[2], r[3], r[4])

    def since(self, rev: int, prefix: str = "") -> Iterator[Row]:
        """Rows after ``rev`` (exclusive), optionally only keys under ``prefix``."""
        if prefix:
            cur = self._db.execute(
                "SELECT rev, key, op, prev_rev, value FROM log WHERE rev > ? AND key >= ? "
                "AND key < ? ORDER BY rev",
                (rev, prefix, prefix + "\uffff"),
            )
        else:
            cur = self._db.execute(
                "SELECT rev, key, op, prev_rev, value FROM log WHERE rev > ? ORDER BY rev", (rev,)
            )
        for r in cur:
            yield Row(r[0], r[1], r[2], r[3], r[4])

    def at(self, rev: int) -> Row | None:
        r = self._db.execute(
            "SELECT rev, key, op, prev_rev, value FROM log WHERE rev = ?", (rev,)
        ).fetchone()
        return Row(r[0], r[1], r[2], r[3], r[4]) if r else None

    # -- writes ------------------------------------------------------------------------
    def next_rev(self) -> int:
        return self.rev + 1

    def append(self, key: str, op: int, prev_rev: int, value: bytes, rev: int | None = None) -> int:
        """Commit one row; returns its revision. ``rev`` must be ``next_rev()`` when given."""
        rev = self.rev + 1 if rev is None else rev
        if rev != self.rev + 1:
            raise ValueError(f"revision {rev} out of order (log is at {self.rev})")
        self._db.execute(
            "INSERT INTO log (rev, key, op, prev_rev, value) VALUES (?, ?, ?, ?, ?)",
            (rev, key, op, prev_rev, value),
        )
        self.rev = rev
        return rev

    def compact(self, keep: int) -> int:
        """Drop history older than the newest ``keep`` revisions; returns the compacted rev."""
        target = self.rev - keep
        if target <= self.compacted:
            return self.compacted
        with self._db:
            self._db.execute("BEGIN")
            # Superseded rows below the target, and deletion tombstones below it.
            self._db.execute(
                "DELETE FROM log WHERE rev <= ? AND (op = ? OR rev < "
                "(SELECT MAX(l2.rev) FROM log l2 WHERE l2.key = log.key))",
                (target, OP_DELETE),
            )
            self._db.execute(
                "INSERT INTO meta (name, value) VALUES ('compacted', ?) "
                "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (target,),
            )
            self._db.execute(
                "INSERT INTO meta (name, value) VALUES ('floor', ?) "
                "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (self.rev,),
            )
        self.compacted = target
        return target

    # -- quarantine --------------------------------------------------------------------
    def quarantine(self, key: str, reason: str) -> int:
        """Move every row of ``key`` aside (one transaction); returns how many moved."""
        at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT OR REPLACE INTO quarantine (rev, key, op, value, reason, at) "
                "SELECT rev, key, op, value, ?, ? FROM log WHERE key = ?",
                (reason, at, key),
            )
            moved = self._db.execute("DELETE FROM log WHERE key = ?", (key,)).rowcount
            # Revisions never go backwards, even when the newest row was moved aside.
            self._db.execute(
                "INSERT INTO meta (name, value) VALUES ('floor', ?) "
                "ON CONFLICT(name) DO UPDATE SET value = MAX(value, excluded.value)",
                (self.rev,),
            )
        return int(moved)

    def quarantined(self) -> list[Quarantined]:
        """The newest quarantined row of each key, oldest key first."""
        cur = self._db.execute(
            "SELECT q.rev, q.key, q.reason, q.at, q.value FROM quarantine q "
            "JOIN (SELECT key, MAX(rev) AS rev FROM quarantine GROUP BY key) m "
            "ON q.key = m.key AND q.rev = m.rev ORDER BY q.rev"
        )
        return [Quarantined(r[0], r[1], r[2], r[3], r[4]) for r in cur]

    def purge_quarantined(self, key: str | None = None) -> int:
        """Drop the quarantined rows of ``key`` (every key when None); returns the count."""
        with self._db:
            if key is None:
                return int(self._db.execute("DELETE FROM quarantine").rowcount)
            return int(self._db.execute("DELETE FROM quarantine WHERE key = ?", (key,)).rowcount)

    def row_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM log").fetchone()[0])

    def close(self) -> None:
        try:
            self._db.close()
        except sqlite3.Error:
            pass


def _make_private(path: Path) -> None:
    """Create ``path`` 0600 if absent, and make an existing one 0600."""
    if path.exists():
        path.chmod(_PRIVATE)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, _PRIVATE))
