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


def short(finding: Finding, limit: int = 160) -> str:
    """One line for ``finding``: long enumerations (every instance type of a region) cut."""
    message = finding.message.splitlines()[0] if finding.message else ""
    if len(message) > limit:
        message = message[:limit].rstrip(" ,'[") + " ..."
    return f"{finding.rule} line {finding.line}: {message}"


def hint(finding: Finding, region: str) -> str:
    """What to do about ``finding``: most cfn-lint errors here mean the region lacks something."""
    if "is not one of" in finding.message or "does not exist in" in finding.message:
        return (
            f"a resource type or value is not available in {region}: run `hyp validate` for the "
            "region and instance-type checks, or pick another region"
        )
    return "the config passed validation but the template does not: please report it with lint.txt"
