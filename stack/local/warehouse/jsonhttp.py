"""The warehouse's small HTTP servers (inventory API, BGP router, site control) all answer JSON."""
from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any

# How often serve_forever looks for a shutdown request. socketserver's default is 0.5 s, and `stack down` waited
# for it once per server, one after another (0.5-1 s for the warehouse).
STOP_POLL_S = 0.1


class JsonHandler(BaseHTTPRequestHandler):
    """A request handler that answers JSON and keeps quiet: a line per request would flood the part's log."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
