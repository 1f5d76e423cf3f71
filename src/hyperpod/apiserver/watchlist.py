"""The WatchList protocol's request options, checked like kube-apiserver's ValidateListOptions.

A watch with ``sendInitialEvents=true`` and ``resourceVersionMatch=NotOlderThan`` streams an
ADDED event per current object, then (when ``allowWatchBookmarks``) a BOOKMARK whose object
carries the annotation ``k8s.io/initial-events-end: "true"`` and the resourceVersion of that
snapshot, then the changes after it. kubectl 1.35+ and client-go informers wait for that
bookmark before they act on the stream.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

from hyperpod.apiserver.errors import BadRequest, Invalid, Timeout, cause, invalid

INITIAL_EVENTS_END = "k8s.io/initial-events-end"
NOT_OLDER_THAN = "NotOlderThan"
EXACT = "Exact"


def _forbidden(field: str, message: str) -> dict[str, str]:
    return cause(field, f"Forbidden: {message}", "FieldValueForbidden")


def _not_supported(field: str, value: str, supported: list[str]) -> dict[str, str]:
    values = ", ".join(f'"{s}"' for s in supported)
    return cause(
        field, f'Unsupported value: "{value}": supported values: {values}', "FieldValueNotSupported"
    )


def check(query: Mapping[str, str], *, watch: bool) -> bool | None:
    """The parsed ``sendInitialEvents`` (None when absent); raises 422 on invalid options."""
    raw = query.get("sendInitialEvents")
    send: bool | None = None
    if raw is not None:
        send = raw.lower() in ("true", "1")
    match = query.get("resourceVersionMatch") or ""
    rv = query.get("resourceVersion") or ""
    cont = query.get("continue") or ""
    causes: list[dict[str, str]] = []
    if watch:
        if send is not None and match != NOT_OLDER_THAN:
            causes.append(
                _forbidden(
                    "resourceVersionMatch",
                    f"sendInitialEvents requires setting resourceVersionMatch to {NOT_OLDER_THAN}",
                )
            )
        if match:
            if send is None:
                causes.append(
                    _forbidden(
                        "resourceVersionMatch",
                        "resourceVersionMatch is forbidden for watch unless sendInitialEvents "
                        "is provided",
                    )
                )
            if match != NOT_OLDER_THAN:
                causes.append(_not_supported("resourceVersionMatch", match, [NOT_OLDER_THAN]))
            if cont:
                causes.append(
                    _forbidden(
                        "resourceVersionMatch",
                        "resourceVersionMatch is forbidden when continue is provided",
                    )
                )
    else:
        if match:
            if not rv:
                causes.append(
                    _forbidden(
                        "resourceVersionMatch",
                        "resourceVersionMatch is forbidden unless resourceVersion is provided",
                    )
                )
            if cont:
                causes.append(
                    _forbidden(
                        "resourceVersionMatch",
                        "resourceVersionMatch is forbidden when continue is provided",
                    )
                )
            if match not in (EXACT, NOT_OLDER_THAN):
                causes.append(
                    _not_supported("resourceVersionMatch", match, [EXACT, NOT_OLDER_THAN, ""])
                )
            if match == EXACT and rv == "0":
                causes.append(
                    _forbidden(
                        "resourceVersionMatch",
                        'resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
                    )
                )
        if send is not None:
            causes.append(
                _forbidden("sendInitialEvents", "sendInitialEvents is forbidden for list")
            )
    if causes:
        raise list_options_invalid(causes)
    return send


def list_options_invalid(causes: list[dict[str, str]]) -> Invalid:
    """``NewInvalid(meta.k8s.io ListOptions, "", errs)`` as kube-apiserver words it."""
    return invalid("ListOptions", "", causes, group="meta.k8s.io")


def end_bookmark(kind: str, api_version: str, revision: int) -> dict[str, object]:
    """The BOOKMARK that ends the initial events of a watch-list."""
    return {
        "type": "BOOKMARK",
        "object": {
            "kind": kind,
            "apiVersion": api_version,
            "metadata": {
                "resourceVersion": str(revision),
                "annotations": {INITIAL_EVENTS_END: "true"},
            },
        },
    }


FRESHNESS_WAIT = 3.0  # seconds kube-apiserver's watch cache waits for a requested revision


async def wait_until_fresh(
    resource_version: str | None, current: Callable[[], int], wait: float = FRESHNESS_WAIT
) -> None:
    """NotOlderThan a revision that is not there yet: wait for it a little, then 504 like
    kube-apiserver (``Too large resource version``, retry after 1 s)."""
    if resource_version in (None, "", "0"):
        return
    try:
        wanted = int(resource_version)
    except ValueError as exc:
        raise BadRequest(f"invalid resourceVersion: {resource_version}") from exc
    deadline = time.monotonic() + wait
    while current() < wanted:
        if time.monotonic() >= deadline:
            raise Timeout(
                f"Too large resource version: {wanted}, current: {current()}",
                causes=[
                    {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}
                ],
                retry_after=1,
            )
        await asyncio.sleep(0.05)
