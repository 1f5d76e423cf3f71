"""cfn-lint over a rendered template: findings with rule, severity, line and message."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str  # "error" | "warning" | "informational"
    message: str
    line: int

    def __str__(self) -> str:
        return f"{self.rule} ({self.severity}) line {self.line}: {self.message}"


def template_text(template: dict[str, Any]) -> str:
    """The JSON text written to disk and sent to CloudFormation (line numbers match findings)."""
    return json.dumps(template, indent=2) + "\n"


def lint(template: dict[str, Any] | str, region: str = "us-east-1") -> list[Finding]:
    """Every cfn-lint finding for ``template`` in ``region``."""
    text = template if isinstance(template, str) else template_text(template)
    return list(_lint_text(text, region))


@functools.lru_cache(maxsize=32)
def _lint_text(text: str, region: str) -> tuple[Finding, ...]:
    from cfnlint.api import ManualArgs  # imported lazily: it is slow
    from cfnlint.api import lint as cfn_lint

    matches = cfn_lint(text, config=ManualArgs(regions=[region]))
    return tuple(
        Finding(m.rule.id, str(m.rule.severity).lower(), m.message, int(m.linenumber))
        for m in matches
    )


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "error"]
