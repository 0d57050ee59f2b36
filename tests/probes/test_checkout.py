"""The checkout probe opens a new connection per request, and fails fast at connect() when the path is cut."""
from __future__ import annotations

import http.server
from typing import Iterator

import pytest

from probes import checkout
from tests.conftest import serving


class FixedAddress:
    name = "checkout.example."

    def __init__(self, address: str) -> None:
        self._address = address

    def address(self) -> str:
        return self._address


@pytest.fixture(params=["honours Connection: close", "keeps the connection open"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[http.server.ThreadingHTTPServer, list[tuple[str, int]]]]:
    """An HTTP/1.1 server; the second kind ignores the client's ``Connection: close`` and keeps the
    connection open after answering, as a slow or non-compliant server may. A probe that relies on
    the server to hang up would reuse that connection (or, when the server's FIN lands just as the
    next request goes out, fail with RemoteDisconnected: the flake this test pins down)."""
    peers: list[tuple[str, int]] = []
    keep_open = request.param == "keeps the connection open"

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive unless the client says otherwise

        def do_GET(self) -> None:
            peers.append(self.client_address)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.send_header("X-Region", "us-east-1")
            self.end_headers()
            self.wfile.write(b"ok")
            if keep_open:
                self.close_connection = False

        def log_message(self, *_: object) -> None:
            pass

    with serving(http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as httpd:
        yield httpd, peers


def test_each_request_opens_a_new_connection(server: tuple[http.server.ThreadingHTTPServer, list[tuple[str, int]]]) -> None:
    httpd, peers = server
    client = checkout.Client(FixedAddress("127.0.0.1"), httpd.server_port, None, 1.0, 1.0)  # type: ignore[arg-type]
    try:
        responses = [client.get("/health") for _ in range(3)]
    finally:
        client.close()
    assert [r.status for r in responses] == [200, 200, 200] and responses[0].region == "us-east-1"
    assert len(set(peers)) == 3, f"a pooled connection was reused: {peers}"


def test_timeouts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="connect_timeout_s must be > 0 s, got 0"):
        checkout.Client(FixedAddress("127.0.0.1"), 80, None, 0, 1.0)  # type: ignore[arg-type]
