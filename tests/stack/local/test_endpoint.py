"""The AWS endpoint's HTTP server writes no access line per request."""
from __future__ import annotations

import logging
from typing import Any, Callable, Iterable

import pytest
import requests

from stack.local.endpoint import AwsEndpoint


def _app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


def test_an_answered_request_writes_no_access_line(caplog: pytest.LogCaptureFixture) -> None:
    endpoint = AwsEndpoint(_app, "127.0.0.1", 0)
    endpoint.start()
    try:
        with caplog.at_level(logging.DEBUG, logger="werkzeug"):
            assert requests.get(f"{endpoint.url}/anything", timeout=5).text == "ok"
    finally:
        endpoint.stop()
    assert not [r for r in caplog.records if r.name == "werkzeug" and "/anything" in r.getMessage()]
