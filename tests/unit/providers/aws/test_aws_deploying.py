"""Following a stack: events once each with progress, the failing resource and its reason, and
the bootstrap gate signalled over HTTP (a real loopback server stands in for the S3 handle URL)."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from hyperpod.providers.aws import deploying
from hyperpod.providers.aws.errors import StackFailed

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class FakeCfn:
    """A CloudFormation whose stack advances one scripted step per DescribeStacks call."""

    def __init__(
        self, steps: list[tuple[str, list[tuple[str, str, str, str]]]], resources: Any = None
    ) -> None:
        self.steps = steps  # (stack status, new events: (logical, type, status, reason))
        self.i = -1
        self.events: list[dict[str, Any]] = []
        self.resources = resources or (lambda i: [])
        self.advance()

    def advance(self) -> None:
        self.i = min(self.i + 1, len(self.steps) - 1)
        for n, (logical, type_, status, reason) in enumerate(self.steps[self.i][1]):
            self.events.insert(
                0,
                {
                    "EventId": f"{self.i}-{n}",
                    "Timestamp": T0 + dt.timedelta(seconds=len(self.events)),
                    "LogicalResourceId": logical,
                    "ResourceType": type_,
                    "ResourceStatus": status,
                    "ResourceStatusReason": reason,
                },
            )

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        status = self.steps[self.i][0]
        self.advance()
        return {"Stacks": [{"StackStatus": status}]}

    def get_paginator(self, op: str) -> Any:
        fake = self

        class P:
            def paginate(self, **_: Any) -> Iterator[dict[str, Any]]:
                if op == "describe_stack_events":
                    yield {"StackEvents": list(fake.events)}
                else:
                    yield {"StackResourceSummaries": fake.resources(fake.i)}

        return P()


class FakeAws:
    region = "us-west-2"

    def __init__(self, cfn: FakeCfn) -> None:
        self.cfn = cfn

    def client(self, name: str) -> Any:
        return self.cfn


def test_a_failed_stack_names_the_first_failing_resource_and_its_reason() -> None:
    cfn = FakeCfn(
        [
            (
                "CREATE_IN_PROGRESS",
                [("s", "AWS::CloudFormation::Stack", "CREATE_IN_PROGRESS", "User Initiated")],
            ),
            ("CREATE_IN_PROGRESS", [("Vpc", "AWS::EC2::VPC", "CREATE_COMPLETE", "")]),
            (
                "ROLLBACK_IN_PROGRESS",
                [
                    (
                        "EksCluster",
                        "AWS::EKS::Cluster",
                        "CREATE_FAILED",
                        "Unsupported Kubernetes version 1.99",
                    ),
                    (
                        "LifecycleBucket",
                        "AWS::S3::Bucket",
                        "CREATE_FAILED",
                        "Resource creation cancelled",
                    ),
                ],
            ),
            ("ROLLBACK_COMPLETE", [("s", "AWS::CloudFormation::Stack", "ROLLBACK_COMPLETE", "")]),
        ]
    )
    seen: list[deploying.Event] = []
    with pytest.raises(StackFailed) as info:
        deploying.follow(FakeAws(cfn), "s", total=3, on_event=seen.append, poll_s=0)  # type: ignore[arg-type]
    assert info.value.failures[0] == ("EksCluster", "Unsupported Kubernetes version 1.99")
    assert info.value.failures[1][0] == "LifecycleBucket"
    assert (
        "ROLLBACK_COMPLETE" in info.value.message
        and "hyp delete cluster-stack s" in info.value.hint
    )
    # each event once, in order, with progress counted from completed resources
    assert [e.logical_id for e in seen] == ["s", "Vpc", "EksCluster", "LifecycleBucket", "s"]
    assert seen[1].done == 1 and seen[1].total == 3
    assert "[  1/3]" in seen[1].line() and "AWS::EC2::VPC" in seen[1].line()


@pytest.fixture
def handle() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class H(http.server.BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), H)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/signal", received
    finally:
        server.shutdown()
        server.server_close()


def _gate_steps(final: str) -> list[tuple[str, list[tuple[str, str, str, str]]]]:
    return [
        (
            "CREATE_IN_PROGRESS",
            [("BootstrapGate", "AWS::CloudFormation::WaitCondition", "CREATE_IN_PROGRESS", "")],
        ),
        ("CREATE_IN_PROGRESS", []),
        (
            "CREATE_IN_PROGRESS",
            [("HyperPodCluster", "AWS::SageMaker::Cluster", "CREATE_COMPLETE", "")],
        ),
        (final, []),
    ]


def _resources(url: str) -> Any:
    def at(i: int) -> list[dict[str, Any]]:
        return [
            {"LogicalResourceId": "BootstrapGate", "ResourceStatus": "CREATE_IN_PROGRESS"},
            {
                "LogicalResourceId": "BootstrapHandle",
                "ResourceStatus": "CREATE_COMPLETE",
                "PhysicalResourceId": url,
            },
        ]

    return at


def test_the_gate_is_signalled_once_after_the_bootstrap_succeeds(
    handle: tuple[str, list[dict[str, Any]]],
) -> None:
    url, received = handle
    calls: list[int] = []
    cfn = FakeCfn(_gate_steps("CREATE_COMPLETE"), _resources(url))
    result = deploying.follow(
        FakeAws(cfn),  # type: ignore[arg-type]
        "s",
        total=2,
        on_event=lambda e: None,
        bootstrap=lambda: calls.append(1) or "uploaded; applied 5 add-on objects",  # type: ignore[func-returns-value]
        poll_s=0,
    )
    assert result.status == "CREATE_COMPLETE" and result.bootstrapped
    assert calls == [1]
    assert received == [
        {
            "Status": "SUCCESS",
            "Reason": "uploaded; applied 5 add-on objects",
            "UniqueId": "hyp",
            "Data": "uploaded; applied 5 add-on objects",
        }
    ]


def test_a_failed_bootstrap_signals_failure_so_the_stack_rolls_back(
    handle: tuple[str, list[dict[str, Any]]],
) -> None:
    url, received = handle

    def boom() -> str:
        raise RuntimeError("applying DaemonSet nvidia-device-plugin: HTTP 403")

    cfn = FakeCfn(_gate_steps("ROLLBACK_COMPLETE"), _resources(url))
    with pytest.raises(RuntimeError):
        deploying.follow(
            FakeAws(cfn), "s", total=2, on_event=lambda e: None, bootstrap=boom, poll_s=0
        )  # type: ignore[arg-type]
    assert received[0]["Status"] == "FAILURE"
    assert "HTTP 403" in received[0]["Reason"]
