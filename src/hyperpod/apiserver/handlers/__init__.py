"""One handler per verb of a resource request (GET, POST, PUT, PATCH, DELETE).

``app.ApiServer`` parses the request (``requestinfo.parse``) and calls the handler of its HTTP
method from :data:`BY_METHOD`. Handlers see the server through ``base.Server``, the few
things they need of it; list, watch, log and exec streaming stay on the server.
"""

from __future__ import annotations

from hyperpod.apiserver.handlers import create, delete, get, patch, update
from hyperpod.apiserver.handlers.base import Handler

BY_METHOD: dict[str, Handler] = {
    "GET": get.handle,
    "POST": create.handle,
    "PUT": update.handle,
    "PATCH": patch.handle,
    "DELETE": delete.handle,
}
