"""Start a throwaway control plane for a benchmark (same launcher as the tests)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support import RunningControlPlane, control_plane, start_control_plane

__all__ = ["RunningControlPlane", "control_plane", "start_control_plane"]


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


def report(rows: list[tuple[str, str, str, str]]) -> None:
    """Print figure | measured | target | anchor side by side."""
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)))
