"""Deploy a rendered stack with boto3, streaming its events, and run the bootstrap at the gate.

``follow`` polls ``DescribeStackEvents`` and reports each new event once with progress (resources
done / resources in the template) until a terminal status. When the stack waits at its
bootstrap gate, ``bootstrap`` uploads the lifecycle script, applies the add-ons and signals the
gate. Ctrl-C stops following, never the stack: ``hyp create`` again resumes, ``hyp describe`` and
``hyp delete`` handle whatever state it is in.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import botocore.exceptions

from hyperpod.providers.aws.errors import AwsError, StackFailed
from hyperpod.providers.aws.session import Aws, call, error_code, paginate

GATE = "BootstrapGate"
HANDLE = "BootstrapHandle"
DONE_STATUSES = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "DELETE_COMPLETE", "IMPORT_COMPLETE"}
FAILED_STATUSES = {
    "CREATE_FAILED",
    "ROLLBACK_COMPLETE",
    "ROLLBACK_FAILED",
    "DELETE_FAILED",
    "UPDATE_ROLLBACK_COMPLETE",
    "UPDATE_ROLLBACK_FAILED",
    "UPDATE_FAILED",
}
TEMPLATE_BODY_LIMIT = 51_200


@dataclass
class Event:
    """One stack event, as shown to the user."""

    time: dt.datetime
    logical_id: str
    resource_type: str
    status: str
    reason: str
    done: int = 0
    total: int = 0

    def line(self) -> str:
        stamp = self.time.strftime("%H:%M:%S")
        reason = f"  {self.reason}" if self.reason else ""
        return (
            f"[{self.done:>3}/{self.total}] {stamp} {self.logical_id:<28} "
            f"{self.resource_type:<40} {self.status}{reason}"
        )

    @property
    def failed(self) -> bool:
        return self.status.endswith("FAILED")


EventSink = Callable[[Event], None]


@dataclass
class FollowResult:
    status: str
    events: list[Event] = field(default_factory=list)
    bootstrapped: bool = False


def stack_status(aws: Aws, name: str) -> str | None:
    """The stack's status, or None when no such (live) stack exists."""
    try:
        stacks = call(aws.client("cloudformation").describe_stacks, StackName=name)["Stacks"]
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) == "ValidationError" and "does not exist" in str(exc):
            return None
        raise
    return str(stacks[0]["StackStatus"]) if stacks else None


def submit(aws: Aws, name: str, template_text: str, tags: list[dict[str, str]]) -> str:
    """CreateStack (named IAM, rollback on failure); returns the stack id."""
    body = template_text
    if len(body.encode()) > TEMPLATE_BODY_LIMIT:
        body = json.dumps(json.loads(body), separators=(",", ":"))
    if len(body.encode()) > TEMPLATE_BODY_LIMIT:
        raise AwsError(
            f"the template is {len(body)} bytes, over CloudFormation's {TEMPLATE_BODY_LIMIT} inline limit",
            "use fewer instance groups per stack",
        )
    resp = call(
        aws.client("cloudformation").create_stack,
        StackName=name,
        TemplateBody=body,
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
        OnFailure="ROLLBACK",
        Tags=tags,
        ClientRequestToken=f"hyp-{uuid.uuid4()}",
    )
    return str(resp["StackId"])


def _root_causes(events: list[Event]) -> list[tuple[str, str]]:
    """Failed resources with their reasons, the first failures first, cancellations last."""
    failed = [e for e in events if e.failed and e.reason]
    real = [e for e in failed if "cancelled" not in e.reason.lower()]
    seen: dict[str, str] = {}
    for e in real + failed:
        seen.setdefault(e.logical_id, e.reason)
    return list(seen.items())


def gate_url(aws: Aws, name: str) -> tuple[str | None, str | None]:
    """(status of the bootstrap gate, signal URL of its handle); None where absent."""
    resources = paginate(
        aws.client("cloudformation"),
        "list_stack_resources",
        "StackResourceSummaries",
        StackName=name,
    )
    gate = next((r for r in resources if r.get("LogicalResourceId") == GATE), None)
    handle = next((r for r in resources if r.get("LogicalResourceId") == HANDLE), None)
    return (
        gate.get("ResourceStatus") if gate else None,
        handle.get("PhysicalResourceId") if handle else None,
    )


def signal(url: str, ok: bool, reason: str) -> None:
    """Signal a wait-condition handle (a presigned S3 URL) with SUCCESS or FAILURE."""
    body = json.dumps(
        {
            "Status": "SUCCESS" if ok else "FAILURE",
            "Reason": reason[:4000],
            "UniqueId": "hyp",
            "Data": reason[:4000],
        }
    ).encode()
    req = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": ""})
    with urllib.request.urlopen(req, timeout=30) as resp:
        resp.read()


def follow(
    aws: Aws,
    name: str,
    *,
    total: int,
    on_event: EventSink,
    bootstrap: Callable[[], str] | None = None,
    poll_s: float = 5.0,
    timeout_s: float = 4 * 3600,
    success: frozenset[str] = frozenset(DONE_STATUSES),
) -> FollowResult:
    """Stream events until a terminal status; run ``bootstrap`` once when the gate waits.

    Raises StackFailed with the failing resources and reasons when the stack ends badly.
    """
    cfn = aws.client("cloudformation")
    seen: set[str] = set()
    done: set[str] = set()
    result = FollowResult(status="")
    deadline = time.monotonic() + timeout_s
    gate_passed = bootstrap is None
    while True:
        try:
            raw = paginate(cfn, "describe_stack_events", "StackEvents", StackName=name)
        except botocore.exceptions.ClientError as exc:
            if "does not exist" in str(exc):  # deleted while we watched
                result.status = "DELETE_COMPLETE"
                return result
            raise
        for e in reversed(raw):  # oldest first
            if e["EventId"] in seen:
                continue
            seen.add(e["EventId"])
            status = e.get("ResourceStatus", "")
            logical = e.get("LogicalResourceId", "")
            if status.endswith("_COMPLETE") and logical != name:
                done.add(logical)
            ev = Event(
                time=e["Timestamp"],
                logical_id=logical,
                resource_type=e.get("ResourceType", ""),
                status=status,
                reason=e.get("ResourceStatusReason", "") or "",
                done=min(len(done), total),
                total=total,
            )
            result.events.append(ev)
            on_event(ev)
        status = stack_status(aws, name) or "DELETE_COMPLETE"
        result.status = status
        if not gate_passed and bootstrap is not None:
            gate_status, url = gate_url(aws, name)
            if gate_status == "CREATE_IN_PROGRESS" and url:
                try:
                    reason = bootstrap()
                except Exception as exc:  # the gate must hear about any failure
                    signal(url, False, f"hyp bootstrap failed: {exc}")
                    gate_passed = True
                    raise
                signal(url, True, reason)
                gate_passed = result.bootstrapped = True
            elif gate_status is None and status in success:
                # an environment without wait conditions (moto): bootstrap after creation
                bootstrap()
                gate_passed = result.bootstrapped = True
            elif gate_status == "CREATE_COMPLETE":
                gate_passed = True  # a previous run signalled it
        if status in success:
            return result
        if status in FAILED_STATUSES or status.endswith("_FAILED"):
            causes = _root_causes(result.events)
            hint = (
                f"inspect with `hyp describe cluster-stack {name}`; remove with "
                f"`hyp delete cluster-stack {name}`"
            )
            raise StackFailed(f"stack {name} ended {status}", causes, hint)
        if time.monotonic() > deadline:
            raise AwsError(
                f"stack {name} still {status} after {timeout_s:.0f} s",
                "follow it with hyp describe",
            )
        time.sleep(poll_s)
