"""``hyp`` tables print like ``kubectl get``: aligned plain columns, one line per row."""

from __future__ import annotations

import json

import pytest

from hyperpod.cli.output import table


def test_columns_line_up_under_upper_case_headers_without_trailing_spaces(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = [
        {"name": "a-long-job-name", "status": "Running", "queue_name": None},
        {"name": "b", "status": "Failed", "queue_name": "team-a"},
    ]
    table(rows, ["name", "status", "queue_name"], "table")
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "NAME              STATUS    QUEUE NAME",
        "a-long-job-name   Running",
        "b                 Failed    team-a",
    ]


def test_a_multi_line_message_stays_on_its_row(capsys: pytest.CaptureFixture[str]) -> None:
    table([{"reason": "X", "message": "first\nsecond  third"}], ["reason", "message"], "table")
    assert capsys.readouterr().out.splitlines()[1] == "X        first second third"


def test_a_title_comes_first_and_no_rows_print_the_empty_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    table([{"a": 1}], ["a"], "table", title="pending in cq")
    assert capsys.readouterr().out.splitlines() == ["pending in cq", "A", "1"]
    table([], ["a"], "table", empty="nothing here")
    assert capsys.readouterr().out == "nothing here\n"


def test_json_output_keeps_every_field_and_its_type(capsys: pytest.CaptureFixture[str]) -> None:
    table([{"a": 1, "b": None}], ["a"], "json")
    assert json.loads(capsys.readouterr().out) == [{"a": 1, "b": None}]
