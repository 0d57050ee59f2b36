"""Probe helpers: connections from a vantage point's address are seen by the fabric as that user."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

from stack.local.fabric.client import FabricClient
from stack.local.fabric.connect import address_in, session, source_socket

from .conftest import Net


class Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_backend() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"tcp:127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def sources(fabric: FabricClient) -> set[str]:
    return {link["source"] for link in fabric.stats()["links"] if link["connections"]}


def test_session_comes_from_its_vantage_point(fabric: FabricClient, net: Net, http_backend: str) -> None:
    address = net.host("eu-central-1a")
    port = fabric.expose(address, 0, http_backend)
    frankfurt = address_in(str(net.environment.vantage_points["frankfurt"].network))
    with session(frankfurt) as http:
        response = http.get(f"http://{address}:{port}/health", timeout=5)
    assert (response.status_code, response.text) == (200, "hello")
    assert sources(fabric) == {"frankfurt"}


def test_source_socket_binds_and_connects(fabric: FabricClient, net: Net, http_backend: str) -> None:
    address = net.host("us-west-2a")
    port = fabric.expose(address, 0, http_backend)
    with source_socket(net.vantage("oregon"), (address, port), timeout_s=5) as sock:
        assert sock.getsockname()[0] == net.vantage("oregon")
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert sock.recv(12).startswith(b"HTTP/1.0 200")
    assert sources(fabric) == {"oregon"}


def test_address_in_picks_a_host_of_the_subnet() -> None:
    assert address_in("127.200.3.0/24") == "127.200.3.10"
    assert address_in("127.200.3.0/24", 1) == "127.200.3.1"
