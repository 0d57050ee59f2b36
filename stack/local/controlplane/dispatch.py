"""moto's dispatcher, with the backend of a SigV4-signed call remembered by its credential scope.

moto's ``DomainDispatcherApplication.get_application`` works out a request's backend afresh on every
call, listing moto's modules and the file system, under one lock that every request of every
service waits for: at thousands of DynamoDB writes a second it is most of the endpoint's time. For a
call signed with SigV4, the backend follows from the credential scope's service and Region, the Host
header, the X-Amz-Target's prefix (DynamoDB Streams signs as dynamodb) and the path's first segment
(SES v2 signs as ses), so the answer is kept per such key. S3 and the services moto tells apart by the path
(bedrock*, execute-api) are never remembered, nor is an unsigned call.
"""
from __future__ import annotations

import threading
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication

UNCACHED = ("s3", "bedrock", "execute-api")


class ScopedDispatcher(DomainDispatcherApplication):
    def __init__(self, create_app: Any) -> None:
        super().__init__(create_app)
        self._by_scope: dict[tuple[str, ...], Any] = {}
        self._scope_lock = threading.Lock()

    def get_application(self, environ: dict[str, Any]) -> Any:
        key = _scope(environ)
        if key is None:
            return super().get_application(environ)
        with self._scope_lock:
            found = self._by_scope.get(key)
        if found is None:
            found = super().get_application(environ)
            with self._scope_lock:
                self._by_scope[key] = found
        return found


def _scope(environ: dict[str, Any]) -> tuple[str, ...] | None:
    """What moto routes a header-signed SigV4 call by, for the services it routes without the rest of the path."""
    path = str(environ.get("PATH_INFO", ""))
    auth = str(environ.get("HTTP_AUTHORIZATION", ""))
    if not auth.startswith("AWS4-HMAC-SHA256") or path.startswith(("/moto-api", "/latest/")):
        return None
    try:
        _, _, region, service, _ = auth.split(",")[0].split()[1].split("=", 1)[1].split("/")
    except (IndexError, ValueError):
        return None
    if service.lower().startswith(UNCACHED):
        return None
    target = str(environ.get("HTTP_X_AMZ_TARGET", "")).split(".", 1)[0]
    return service.lower(), region, str(environ.get("HTTP_HOST", "")), target, path.split("/")[1] if "/" in path else ""
