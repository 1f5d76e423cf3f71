"""The audit log writes one audit.k8s.io/v1 Event per line at Metadata level and rotates."""

from __future__ import annotations

from pathlib import Path

import orjson

from hyperpod.apiserver.audit import AuditLog, event
from hyperpod.apiserver.rbac import Attributes, UserInfo


def _event(code: int = 200) -> dict:  # type: ignore[type-arg]
    return event(
        received="2026-01-01T00:00:00.000000Z",
        method="GET",
        uri="/api/v1/namespaces/a/pods/p",
        attrs=Attributes("get", resource="pods", namespace="a", name="p"),
        user=UserInfo("alice", ("system:authenticated",)),
        impersonated=None,
        source_ip="127.0.0.1",
        user_agent="kubectl",
        code=code,
        decision="allow",
        reason="RBAC: allowed by RoleBinding",
    )


def test_an_event_has_the_metadata_level_fields(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit" / "audit.log")
    log.write(_event(403))
    log.close()
    line = (tmp_path / "audit" / "audit.log").read_text().splitlines()[0]
    ev = orjson.loads(line)
    assert (ev["apiVersion"], ev["kind"], ev["level"], ev["stage"]) == (
        "audit.k8s.io/v1",
        "Event",
        "Metadata",
        "ResponseComplete",
    )
    assert ev["objectRef"] == {"resource": "pods", "apiGroup": "", "namespace": "a", "name": "p"}
    assert ev["user"]["username"] == "alice" and ev["responseStatus"]["code"] == 403
    assert ev["annotations"]["authorization.k8s.io/decision"] == "allow"
    assert "requestObject" not in ev and "responseObject" not in ev
    assert (tmp_path / "audit" / "audit.log").stat().st_mode & 0o777 == 0o600


def test_the_log_rotates_by_size_and_keeps_a_bounded_number_of_backups(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.log", max_bytes=2000, max_backups=2)
    for _ in range(40):
        log.write(_event())
    log.close()
    backups = sorted(tmp_path.glob("audit-*.log"))
    assert len(backups) == 2
    assert all(p.stat().st_size >= 2000 for p in backups)
    for p in tmp_path.glob("audit*.log"):
        for line in p.read_text().splitlines():
            assert orjson.loads(line)["kind"] == "Event"
