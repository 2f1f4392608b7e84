"""A tiny HTTP receiver for alert notifications: JSON bodies by path; `/fail*` answers 500."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class WebhookSink:
    def __init__(self) -> None:
        self.received: list[tuple[str, Any]] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                sink.received.append((self.path, json.loads(body or b"null")))
                self.send_response(500 if self.path.startswith("/fail") else 200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self, path: str) -> list[Any]:
        return [b for p, b in self.received if p == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
