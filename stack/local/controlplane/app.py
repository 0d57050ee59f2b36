"""The control plane's WSGI application: validate, answer or pass to moto, then notify.

For each signed API call:
1. **validate**: the per-service rules (route53.py, rds.py, ec2.py) reject what AWS rejects, with
   AWS's error code and status, before moto sees the request; nothing is half-done;
2. **answer**: a data plane that registered the operation answers it (real health-check
   observations, real RDS status); otherwise moto does;
3. **notify**: after a successful mutating call, every part's ``on_change`` is told; a part that
   cannot apply the change fails the call (503, see ``_notify``).
"""
from __future__ import annotations

import io
import logging
import threading
from collections import OrderedDict
from typing import Any, Callable, Iterable

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from stack.local.controlplane import ec2, rds, request as requests_, route53
from stack.local.controlplane.awserror import AwsError, render
from stack.local.part import Answer, ApiRequest, ApiResponse, Change, ChangeNotApplied, Part

Hook = Callable[[ApiRequest, Any], None]
_SERVICES: dict[str, tuple[dict[str, Hook], dict[str, Hook]]] = {
    "route53": (route53.VALIDATE, route53.AFTER),
    "rds": (rds.VALIDATE, rds.AFTER),
    "ec2": (ec2.VALIDATE, ec2.AFTER),
}
# How many calls that failed in _notify are remembered, by SDK invocation id (see __call__).
REMEMBERED_FAILURES = 256
_REASONS = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 404: "Not Found",
            409: "Conflict", 500: "Internal Server Error", 503: "Service Unavailable"}


class ControlPlane:
    def __init__(self, log: logging.Logger | None = None) -> None:
        rds.fix_cross_region_replicas()
        route53.fix_update_health_check()
        self.moto = DomainDispatcherApplication(create_backend_app)
        self.log = log or logging.getLogger("gameday.controlplane")
        self.parts: dict[str, Part] = {}
        self._answers: dict[tuple[str, str], Answer] = {}
        self.calls = 0
        self._count_lock = threading.Lock()
        self._unapplied: OrderedDict[str, ApiResponse] = OrderedDict()

    def attach(self, part: Part) -> None:
        self.parts[part.name] = part
        self._answers.update(part.answers())

    def detach_all(self) -> None:
        self.parts.clear()
        self._answers.clear()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        request = requests_.parse(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""),
                                  environ.get("QUERY_STRING", ""), headers, body)
        with self._count_lock:
            self.calls += 1
        if request is None:
            return self.moto(environ, start_response)
        # boto3 retries a 5xx, and a retry of a change that is already stored would be answered
        # with something unrelated (NetworkAclEntryAlreadyExists), hiding why it failed. Every AWS
        # SDK keeps amz-sdk-invocation-id across the attempts of one call: a retry gets the same answer.
        invocation = headers.get("amz-sdk-invocation-id", "")
        with self._count_lock:
            earlier = self._unapplied.get(invocation) if invocation else None
        if earlier is not None:
            return self._respond(earlier, start_response)
        validate, after = _SERVICES.get(request.service, ({}, {}))
        try:
            hook = validate.get(request.operation)
            if hook is not None:
                hook(request, self)
        except AwsError as error:
            self.log.info("rejected %s.%s: %s", request.service, request.operation, error)
            return self._respond(render(request, error), start_response)
        answer = self._answers.get((request.service, request.operation))
        if answer is not None:
            try:
                response = answer(request)
            except AwsError as error:
                response = render(request, error)
        else:
            response = self._call_moto(environ)
        if response.status < 300 and requests_.is_mutating(request.operation):
            hook = after.get(request.operation)
            if hook is not None:
                hook(request, self)
            failed = self._notify(Change(request, response.body))
            if failed is not None:
                response = render(request, failed)
                if invocation:
                    with self._count_lock:
                        self._unapplied[invocation] = response
                        while len(self._unapplied) > REMEMBERED_FAILURES:
                            self._unapplied.popitem(last=False)
        return self._respond(response, start_response)

    def _call_moto(self, environ: dict[str, Any]) -> ApiResponse:
        captured: dict[str, Any] = {}

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            captured["status"], captured["headers"] = int(status.split()[0]), headers
            return lambda _data: None

        chunks = self.moto(environ, start)
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        return ApiResponse(captured["status"], body, dict(captured["headers"]))

    def _notify(self, change: Change) -> AwsError | None:
        """Tell every part; the error to answer instead of 200 when one could not apply the change.

        A 200 for a change no data plane enforces is how a fault becomes a silent no-op, so the
        call fails instead: 503 ServiceUnavailable, naming the part and why. moto has already
        stored the change (it is not undone): the API shows it, and the part's health reports what
        it does not enforce until the change is fixed or reverted. An SDK's retry of the call gets
        the same 503 (see ``__call__``); a new call meets the stored change, as after any 5xx on AWS.
        """
        failures = []
        for part in list(self.parts.values()):
            try:
                part.on_change(change)
            except ChangeNotApplied as error:
                self.log.error("%s could not apply %s.%s: %s", part.name, change.request.service,
                               change.request.operation, error.reason)
                failures.append(str(error))
            except Exception as error:  # noqa: BLE001 - a bug in one part must not keep the others uninformed
                self.log.exception("%s failed to apply %s.%s", part.name, change.request.service, change.request.operation)
                failures.append(f"{part.name}: {type(error).__name__}: {error}")
        if not failures:
            return None
        return AwsError("ServiceUnavailable", f"{change.request.operation} is stored, but the local stack could not "
                        f"apply it: {'; '.join(failures)}", status=503, sender=False)

    @staticmethod
    def _respond(response: ApiResponse, start_response: Callable[..., Any]) -> Iterable[bytes]:
        headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "transfer-encoding")}
        headers["Content-Length"] = str(len(response.body))
        start_response(f"{response.status} {_REASONS.get(response.status, 'Status')}", list(headers.items()))
        return [response.body]
