"""hyperpod.progress: the file the kubelet points at, and the documented stdout line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hyperpod import progress


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "_first", None)
    monkeypatch.delenv(progress.ENV, raising=False)


def test_report_writes_the_file_named_by_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "progress.json"
    monkeypatch.setenv(progress.ENV, str(target))
    progress.report(5, 50, loss=0.5)
    progress.report(10, 50, loss=0.25, accuracy=0.9)
    data = json.loads(target.read_text())
    assert (data["step"], data["totalSteps"], data["firstStep"]) == (10, 50, 5)
    assert data["metrics"] == {"loss": 0.25, "accuracy": 0.9}
    assert data["time"] >= data["firstTime"]
    assert capsys.readouterr().out == ""  # the file is enough inside a pod
    assert [p.name for p in tmp_path.iterdir()] == ["progress.json"]  # no temp file left


def test_without_a_file_report_prints_the_documented_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    progress.report(120, 400, loss=0.41234567)
    assert capsys.readouterr().out == "PROGRESS 120/400 loss=0.412346\n"


def test_lines_round_trip_and_other_lines_are_ignored() -> None:
    line = progress.format_line(3, 9, {"loss": 1.5, "lr": 1e-4})
    assert progress.parse_line(line) == (3, 9, {"loss": 1.5, "lr": 1e-4})
    assert progress.parse_line("PROGRESS 3/9") == (3, 9, {})
    assert progress.parse_line("epoch 3 step 9") is None
    assert progress.parse_line("PROGRESS three/9") is None


def test_bad_calls_are_refused() -> None:
    with pytest.raises(ValueError, match="total_steps"):
        progress.report(1, 0)
    with pytest.raises(ValueError, match="negative"):
        progress.report(-1, 10)


def test_the_helper_imports_nothing_outside_the_standard_library() -> None:
    import ast

    tree = ast.parse(Path(progress.__file__).read_text())
    names = {
        a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    } | {
        n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
    }
    assert names <= {"__future__", "json", "math", "os", "re", "sys", "time"}
