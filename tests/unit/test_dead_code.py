"""No dead code: vulture, at 80 % confidence, finds nothing unused in the package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "hyperpod"


def test_vulture_finds_no_unused_code_at_80_percent_confidence() -> None:
    pytest.importorskip("vulture")
    done = subprocess.run(
        [sys.executable, "-m", "vulture", "--min-confidence", "80", str(SRC)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.stdout == "", done.stdout
    assert done.returncode == 0, done.stderr
