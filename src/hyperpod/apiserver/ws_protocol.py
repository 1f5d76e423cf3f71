"""uvicorn's WebSocket protocol, accepting the subprotocol names kubectl sends.

kubectl tunnels port-forward's SPDY in a WebSocket with the subprotocol
``SPDY/3.1+portforward.k8s.io``; the ``/`` is not a token character, and the ``websockets``
library refuses the whole handshake over it (kube-apiserver accepts it). uvicorn already splits
``Sec-WebSocket-Protocol`` into the ASGI scope and answers with the one the app accepts, so the
library's own parsing is skipped here; nothing else changes.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.datastructures import Headers
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol


class _ServerProtocol(ServerProtocol):
    def process_subprotocol(self, headers: Headers) -> Subprotocol | None:
        return None  # the ASGI app picks it (scope["subprotocols"]); uvicorn writes the header


class KubeWebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        old = self.conn
        self.conn = _ServerProtocol(
            extensions=old.available_extensions,
            max_size=(old.max_message_size, old.max_fragment_size),
            logger=old.logger,
        )
