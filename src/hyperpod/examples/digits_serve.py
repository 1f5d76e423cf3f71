"""Serve the digits model over HTTP: the inference half of ``examples/inference-digits.yaml``.

Loads the newest ``ckpt-<step>.pt`` that :mod:`hyperpod.examples.digits` wrote to
``--checkpoint-dir`` (``$CHECKPOINT_DIR``) and answers:

- ``GET /healthz``: 200 once a checkpoint is loaded, 503 before (the readiness probe);
- ``POST /predict`` with ``{"pixels": [64 numbers, 0-16]}`` (one 8x8 image, the digits
  dataset's scale) or ``{"instances": [[64 numbers], ...]}``: ``{"predictions": [digit, ...],
  "checkpoint": "ckpt-....pt", "pod": "<hostname>"}``. Bad input is a 400 naming the problem.

A newer checkpoint (training still running, or a new run) is picked up on the next request.
Binds ``--host`` (default ``$POD_IP``, so replicas share the port) and ``--port`` (8080).

    python -m hyperpod.examples.digits_serve --checkpoint-dir /model
"""

from __future__ import annotations

import argparse
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch
from torch import nn

from hyperpod.examples.digits import build_model, newest_checkpoint

PIXELS = 64


class BadInput(ValueError):
    """The request body is not what /predict takes (answered with 400)."""


class Model:
    """The newest checkpoint of a directory, reloaded when a newer one appears."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.net: nn.Module | None = None
        self.loaded: Path | None = None
        self.lock = threading.Lock()

    def refresh(self) -> bool:
        newest = newest_checkpoint(self.directory)
        if newest is None:
            return self.net is not None
        with self.lock:
            if newest != self.loaded:
                try:
                    state = torch.load(newest, map_location="cpu", weights_only=True)
                except (OSError, RuntimeError):
                    return self.net is not None  # removed or half-written: keep the last one
                net = build_model()
                net.load_state_dict(state["model"])
                net.eval()
                self.net, self.loaded = net, newest
        return True

    def predict(self, rows: list[list[float]]) -> list[int]:
        if not self.refresh() or self.net is None:
            raise LookupError(f"no checkpoint in {self.directory} yet")
        with torch.no_grad():
            x = torch.tensor(rows, dtype=torch.float32) / 16.0
            return [int(i) for i in self.net(x).argmax(dim=1)]


def parse_rows(body: bytes) -> list[list[float]]:
    try:
        doc = json.loads(body or b"null")
    except ValueError as exc:
        raise BadInput(f"the body is not JSON: {exc}") from None
    if not isinstance(doc, dict) or not ("pixels" in doc or "instances" in doc):
        raise BadInput('send {"pixels": [64 numbers]} or {"instances": [[64 numbers], ...]}')
    rows = [doc["pixels"]] if "pixels" in doc else doc["instances"]
    if not isinstance(rows, list) or not rows:
        raise BadInput("instances must be a non-empty list of images")
    for i, row in enumerate(rows):
        where = "pixels" if "pixels" in doc else f"instances[{i}]"
        if (
            not isinstance(row, list)
            or len(row) != PIXELS
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in row)
        ):
            raise BadInput(f"{where} must be a list of {PIXELS} numbers (an 8x8 image, 0-16)")
    return rows


def handler(model: Model) -> type[BaseHTTPRequestHandler]:
    pod = os.environ.get("HOSTNAME", "")

    class Handler(BaseHTTPRequestHandler):
        def _send(self, code: int, doc: dict[str, Any]) -> None:
            body = (json.dumps(doc) + "\n").encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path != "/healthz":
                self._send(404, {"error": "GET /healthz or POST /predict"})
            elif model.refresh():
                self._send(200, {"checkpoint": model.loaded.name if model.loaded else None})
            else:
                self._send(503, {"error": f"no checkpoint in {model.directory} yet"})

        def do_POST(self) -> None:
            if self.path != "/predict":
                self._send(404, {"error": "GET /healthz or POST /predict"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            try:
                predictions = model.predict(parse_rows(self.rfile.read(length)))
            except BadInput as exc:
                self._send(400, {"error": str(exc)})
                return
            except LookupError as exc:
                self._send(503, {"error": str(exc)})
                return
            name = model.loaded.name if model.loaded else None
            self._send(200, {"predictions": predictions, "checkpoint": name, "pod": pod})

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hyperpod.examples.digits_serve",
        description="Serve the digits model's newest checkpoint over HTTP.",
    )
    parser.add_argument("--checkpoint-dir", default=os.environ.get("CHECKPOINT_DIR") or None)
    parser.add_argument("--host", default=os.environ.get("POD_IP") or "127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    if not args.checkpoint_dir:
        parser.error("--checkpoint-dir (or $CHECKPOINT_DIR) is required")
    torch.set_num_threads(1)
    model = Model(Path(args.checkpoint_dir))
    server = ThreadingHTTPServer((args.host, args.port), handler(model))
    print(f"serving {args.checkpoint_dir} on http://{args.host}:{args.port}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
