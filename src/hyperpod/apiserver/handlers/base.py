"""What every verb handler gets: the :class:`Server` view of the API server, and shared text."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from hyperpod.apiserver.httpio import Receive, Request, Send
from hyperpod.apiserver.registry import Registry
from hyperpod.apiserver.requestinfo import RequestInfo
from hyperpod.apiserver.resources import ResourceType


class Server(Protocol):
    reg: Registry
    services: dict[str, Any]

    async def _send_obj(
        self,
        req: Request,
        send: Send,
        rt: ResourceType,
        obj: dict[str, Any],
        code: int,
        warnings: list[str],
        version: str | None = None,
    ) -> None: ...

    async def _list(
        self, req: Request, send: Send, rt: ResourceType, namespace: str | None, version: str
    ) -> None: ...

    async def _watch(
        self,
        req: Request,
        receive: Receive,
        send: Send,
        rt: ResourceType,
        namespace: str | None,
        version: str,
    ) -> None: ...

    async def _log(
        self, req: Request, send: Send, rt: ResourceType, name: str, namespace: str | None
    ) -> None: ...

    async def _exec_over_http(self, req: Request) -> None: ...


Handler = Callable[[Server, Request, Receive, Send, RequestInfo, list[str]], Awaitable[None]]

# Pod streams the local cluster does not serve, and what to do instead.
# Pod streams the local cluster does not serve, and what to do instead.
UNSTREAMED = {
    "attach": (
        "attach is not served by the local cluster: follow the output with kubectl logs -f, "
        "or open a shell with kubectl exec -it"
    ),
}
