"""The stack's child processes import what they run, not the environment model (pydantic) the supervisor reads.

Each of these runs as a process of its own for as long as the stack does; pydantic cost the warehouse
11 MiB of its 34 MiB, to read two port numbers from a module that also described the environment."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

CHILD_ENTRY_POINTS = {
    "warehouse": "import stack.local.warehouse.__main__",
    "store": "import stack.local.stores.__main__",
    "fabric": "import stack.local.fabric.__main__",
    "checkout zygote": "import stack.local.zygote.server; from stack.local.ec2.checkout import preload; preload.preload()",
}


@pytest.mark.parametrize("child", sorted(CHILD_ENTRY_POINTS))
def test_a_child_process_does_not_load_pydantic(child: str) -> None:
    check = CHILD_ENTRY_POINTS[child] + "\nimport sys\nprint(sorted(m for m in sys.modules if m.split('.')[0] == 'pydantic'))"
    run = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]", f"{child} imports {run.stdout.strip()}"


# A checkout instance serving requests, exporting its spans and publishing its metrics, in one process that
# has run the zygote's preload. Whatever it imports beyond that is a private copy in every forked instance.
SERVING_INSTANCE = r'''
import http.server, json, socket, sys, tempfile, threading, time
from pathlib import Path
from stack.local.ec2.checkout import preload
preload.preload()

posted = set()
class Collector(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        posted.add("traces" if self.path == "/v1/traces" else "metrics")
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
collector = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
threading.Thread(target=collector.serve_forever, daemon=True).start()
endpoint = "http://127.0.0.1:%d" % collector.server_address[1]
before = set(sys.modules)

from stack.local.ec2.checkout.server import main
uds = Path(tempfile.mkdtemp()) / "checkout.sock"
args = ["--uds", str(uds), "--instance-id", "i-0123456789abcdef0", "--region", "us-east-1", "--az", "us-east-1a",
        "--dns", "127.0.0.1:53", "--otlp-endpoint", endpoint + "/v1/traces", "--metrics-endpoint", endpoint,
        "--metrics-flush-s", "0.2"]
threading.Thread(target=main, args=(args,), daemon=True).start()
deadline = time.monotonic() + 20
answered = 0
while time.monotonic() < deadline and (answered < 3 or posted != {"traces", "metrics"}):
    try:
        with socket.socket(socket.AF_UNIX) as conn:
            conn.settimeout(2)
            conn.connect(str(uds))
            # /products (the seed catalog): traced, unlike the shallow /health
            conn.sendall(b"GET /products HTTP/1.1\r\nHost: checkout\r\nConnection: close\r\n\r\n")
            answered += conn.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        pass
    time.sleep(0.1)
print(json.dumps({"answered": answered, "posted": sorted(posted), "imported": sorted(set(sys.modules) - before)}))
'''


def test_a_serving_checkout_instance_imports_nothing_the_zygote_did_not_preload() -> None:
    run = subprocess.run([sys.executable, "-c", SERVING_INSTANCE], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["answered"] >= 3 and seen["posted"] == ["metrics", "traces"], (seen, run.stderr[-2000:])
    assert seen["imported"] == [], f"each forked instance imports a private copy of {seen['imported']}"
