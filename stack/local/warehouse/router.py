"""The warehouse router's settings the team controls: BFD on its Direct Connect link.

``POST /bfd`` on the site's address (``{"link": "<site>/<link>", "enabled": bool}``); on the local
stack the fabric's BGP takes the setting (the SiteLinks service). On a real estate this is the team's
router configuration, not an AWS call.
"""
from __future__ import annotations

import json
import threading
from http.server import ThreadingHTTPServer
from typing import Callable

from stack.local.warehouse.jsonhttp import STOP_POLL_S, JsonHandler


class _Handler(JsonHandler):
    server: "RouterServer"

    def do_POST(self) -> None:
        if self.path != "/bfd":
            self._send(404, {"error": f"no such path {self.path}; POST /bfd"})
            return
        try:
            args = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            link, enabled = str(args["link"]), args["enabled"]
            if not isinstance(enabled, bool):
                raise ValueError(f"enabled is {enabled!r}; expected true or false")
        except (ValueError, KeyError, TypeError) as error:
            self._send(400, {"error": f"/bfd takes {{\"link\": \"<site>/<link>\", \"enabled\": bool}}: {error}"})
            return
        try:
            self.server.set_bfd(link, enabled)
        except Exception as error:  # noqa: BLE001 - no such link, or no fabric: the caller is told why
            self._send(409, {"error": str(error)})
            return
        self._send(200, {"link": link, "bfd": enabled})


class RouterServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], set_bfd: Callable[[str, bool], None]) -> None:
        super().__init__(address, _Handler)
        self.set_bfd = set_bfd
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": STOP_POLL_S}, name="warehouse-router",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(5)
