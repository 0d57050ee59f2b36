"""An echo backend on a Unix socket: in a thread for most tests, or ``python echo.py <path>`` as a process."""
from __future__ import annotations

import selectors
import socket
import sys
import threading
from pathlib import Path


class EchoServer:
    """A Unix-socket echo backend on one selector thread; counts what it accepted and received."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.accepted = 0
        self.received = 0
        self.open = 0
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(path))
        self._listener.listen(1024)
        self._listener.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._running = True
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def backend(self) -> str:
        return f"unix:{self.path}"

    def _run(self) -> None:
        while self._running:
            for key, _ in self._selector.select(1.0):
                sock = key.fileobj
                if sock is self._wake_r:
                    continue
                if sock is self._listener:
                    try:
                        conn, _ = self._listener.accept()
                    except BlockingIOError:
                        continue
                    conn.setblocking(True)
                    self.accepted += 1
                    self.open += 1
                    self._selector.register(conn, selectors.EVENT_READ)
                    continue
                try:
                    data = sock.recv(1 << 16)  # type: ignore[union-attr]
                    if data:
                        self.received += len(data)
                        sock.sendall(data)  # type: ignore[union-attr]
                except OSError:
                    # The peer (the fabric's link) may close while an echo is on its way back: a
                    # real server sees EPIPE or ECONNRESET then, and closes its end, as this one does.
                    data = b""
                if not data:
                    self._selector.unregister(sock)
                    sock.close()  # type: ignore[union-attr]
                    self.open -= 1
        for key in list(self._selector.get_map().values()):
            if key.fileobj is not self._wake_r:
                key.fileobj.close()  # type: ignore[union-attr]
        self._selector.close()

    def close(self) -> None:
        # The wake pair outlives the thread and is closed here: the thread may see _running go False
        # at a select timeout and exit before the wake byte is sent, and a closed read end made that
        # send fail with EPIPE (the teardown flake).
        self._running = False
        self._wake_w.send(b"x")
        self._thread.join(5)
        self._wake_r.close()
        self._wake_w.close()
        self.path.unlink(missing_ok=True)


if __name__ == "__main__":
    server = EchoServer(Path(sys.argv[1]))
    print("ready", flush=True)
    sys.stdin.read()  # until the test closes our stdin or kills us
    server.close()
