from pathlib import Path

from hyperpod.storage.revlog import OP_CREATE, OP_DELETE, OP_UPDATE, RevisionLog


def test_each_append_gets_the_next_global_revision(tmp_path: Path) -> None:
    log = RevisionLog(tmp_path / "s.db")
    assert log.append("/a", OP_CREATE, 0, b"1") == 1
    assert log.append("/b", OP_CREATE, 0, b"2") == 2
    assert log.append("/a", OP_UPDATE, 1, b"3") == 3


def test_current_holds_the_newest_live_row_of_each_key(tmp_path: Path) -> None:
    log = RevisionLog(tmp_path / "s.db")
    log.append("/a", OP_CREATE, 0, b"a1")
    log.append("/b", OP_CREATE, 0, b"b1")
    log.append("/a", OP_UPDATE, 1, b"a2")
    log.append("/b", OP_DELETE, 2, b"b1")
    rows = {r.key: r.value for r in log.current()}
    assert rows == {"/a": b"a2"}


def test_since_returns_rows_after_a_revision_under_a_prefix(tmp_path: Path) -> None:
    log = RevisionLog(tmp_path / "s.db")
    log.append("/pods/x", OP_CREATE, 0, b"1")
    log.append("/nodes/y", OP_CREATE, 0, b"2")
    log.append("/pods/z", OP_CREATE, 0, b"3")
    assert [r.rev for r in log.since(1, "/pods/")] == [3]
    assert [r.rev for r in log.since(0)] == [1, 2, 3]


def test_revisions_keep_increasing_after_reopening(tmp_path: Path) -> None:
    log = RevisionLog(tmp_path / "s.db")
    log.append("/a", OP_CREATE, 0, b"1")
    log.append("/a", OP_UPDATE, 1, b"2")
    log.close()
    again = RevisionLog(tmp_path / "s.db")
    assert again.rev == 2
    assert again.append("/a", OP_UPDATE, 2, b"3") == 3


def test_compaction_drops_superseded_history_but_keeps_current_values(tmp_path: Path) -> None:
    log = RevisionLog(tmp_path / "s.db")
    for i in range(10):
        log.append("/a", OP_CREATE if i == 0 else OP_UPDATE, i, str(i).encode())
    log.append("/gone", OP_CREATE, 0, b"x")
    log.append("/gone", OP_DELETE, 11, b"x")
    assert log.compact(keep=2) == 10
    assert {r.key: r.value for r in log.current()} == {"/a": b"9"}
    assert log.row_count() == 3  # the newest /a row, and both /gone rows above the target
    log.close()
    again = RevisionLog(tmp_path / "s.db")
    assert again.compacted == 10
    assert again.rev == 12
