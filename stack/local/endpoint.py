"""Serve the control plane on the instance's AWS endpoint (threaded: data planes call back into it)."""
from __future__ import annotations

import threading
from typing import Any

from moto.moto_server.werkzeug_app import MotoRequestHandler
from werkzeug.serving import BaseWSGIServer, make_server

from base.errors import StackError

# How often serve_forever looks for a shutdown request: socketserver's 0.5 s was up to half a second of every
# `stack down`.
STOP_POLL_S = 0.1


class _RequestHandler(MotoRequestHandler):
    """moto's handler without werkzeug's access line per request: one line per API call drowned the
    supervisor's log and a failing test's captured log. Refusals and failures are logged by the control
    plane itself, and werkzeug still logs errors of the connection (log_error)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class AwsEndpoint:
    def __init__(self, app: Any, host: str, port: int) -> None:
        self.host, self.port = host, port
        try:
            self._server: BaseWSGIServer = make_server(host, port, app, threaded=True, request_handler=_RequestHandler)
        except OSError as error:
            raise StackError(f"cannot listen on {host}:{port} for the AWS endpoint: {error.strerror}; "
                             f"another stack may be using it (see `gameday stack status`, or set GAMEDAY_INSTANCE)") from None
        self.port = self._server.server_port  # the real one when asked for port 0
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": STOP_POLL_S},
                                        name="aws-endpoint", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
