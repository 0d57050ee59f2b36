"""A tiny HTTP(S) endpoint for health-check tests: its status and body can be changed, and it can be killed."""
from __future__ import annotations

import datetime
import http.server
import ssl
import threading
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


class TargetServer:
    """Serves GET on ``host``:port with ``status`` and ``body``; records (client address, path, Host, SNI)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, tls_dir: Path | None = None) -> None:
        self.host = host
        self.status = 200
        self.body = b"all good"
        self.requests: list[tuple[str, str, str]] = []
        self.server_names: list[str | None] = []
        self._lock = threading.Lock()
        self._tls_dir = tls_dir
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = port
        self.start()

    def start(self) -> None:
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                with endpoint._lock:
                    endpoint.requests.append((self.client_address[0], self.path, self.headers.get("Host", "")))
                    status, body = endpoint.status, endpoint.body
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer((self.host, self.port), Handler)
        server.daemon_threads = True
        if self._tls_dir is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self_signed(self._tls_dir))
            context.sni_callback = lambda _sock, name, _ctx: self.server_names.append(name)  # type: ignore[assignment, func-returns-value]
            server.socket = context.wrap_socket(server.socket, server_side=True)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def kill(self) -> None:
        """Stop listening: new connections are refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def sources(self) -> set[str]:
        with self._lock:
            return {client for client, _, _ in self.requests}

    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def __enter__(self) -> "TargetServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


def self_signed(directory: Path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "endpoint.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)
