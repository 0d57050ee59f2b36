"""The control plane's WSGI application: validate, answer or pass to moto, then notify.

For each signed API call:
1. **validate**: the per-service rules (route53.py, rds.py, ec2.py) reject what AWS rejects, with
   AWS's error code and status, before moto sees the request; nothing is half-done;
2. **answer**: a data plane that registered the operation answers it (real health-check
   observations, real RDS status), or the control plane itself (DynamoDB's ReplicaUpdates,
   dynamodb.py); otherwise moto does. Some answers are then amended (DescribeTable's replicas);
3. **notify**: after a successful mutating call, every part's ``on_change`` is told; a part that
   cannot apply the change fails the call (503, see ``_notify``).

Whatever goes wrong, the answer is an AWS error in the service's wire format: an unsigned request is
MissingAuthenticationToken and one signed otherwise than with SigV4 IncompleteSignature (as on AWS;
presigned SigV4 URLs are read like header-signed calls), a request that cannot be read is rejected by
``request.parse``, a service moto does not emulate gets InvalidAction naming it, and any unexpected
exception (ours or moto's) is a 500 InternalFailure, never an HTML page.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import re
import threading
from collections import OrderedDict
from typing import Any, Callable, Iterable, Mapping

from moto.moto_server.werkzeug_app import create_backend_app

from base.errors import StackError
from environments.loader import load
from environments.model import LocalEnvironment
from stack.local import servicemodels
from stack.local.awserror import AwsError, internal_failure, render
from stack.local.controlplane import (
    backends, cachepolicies, cloudfront, cloudwatch, defaultvpc, directconnect, dynamodb, dynamoitems, ec2, fis,
    globalaccelerator, modeltracking, mrsc, offerings, outposts, rds, request as requests_, route53, serializer, shield, vpn,
    wafv2, xray,
)
from stack.local.controlplane.dispatch import ScopedDispatcher
from stack.local.controlplane.rdsstore import MotoRdsStore
from stack.local.part import ApiHandler, ApiRequest, ApiResponse, Change, ChangeNotApplied, Part
from stack.local.services import AcceleratorHealth, GlobalTableItems, MetricStore, RdsStore, Services

# A validator raises AwsError to reject, or returns query parameters to rewrite before moto stores
# them (None removes one), as AWS does when it canonicalises a value.
Hook = Callable[[ApiRequest, Any], "Mapping[str, str | None] | None"]


def _chained(*tables: Mapping[str, Hook]) -> dict[str, Hook]:
    """One table of validators from several: where two check the same operation, both run, in order."""
    merged: dict[str, list[Hook]] = {}
    for table in tables:
        for operation, hook in table.items():
            merged.setdefault(operation, []).append(hook)

    def run_all(hooks: list[Hook]) -> Hook:
        def hook(request: ApiRequest, plane: Any) -> "Mapping[str, str | None] | None":
            changes: dict[str, str | None] = {}
            for one in hooks:
                changes.update(one(request, plane) or {})
            return changes or None
        return hook

    return {operation: hooks[0] if len(hooks) == 1 else run_all(hooks) for operation, hooks in merged.items()}


_SERVICES: dict[str, tuple[Mapping[str, Hook], Mapping[str, Hook]]] = {
    "route53": (route53.VALIDATE, route53.AFTER),
    "rds": ({**rds.VALIDATE, **defaultvpc.VALIDATE_RDS}, rds.AFTER),
    "ec2": (_chained(ec2.VALIDATE, defaultvpc.VALIDATE_EC2, outposts.VALIDATE_EC2), ec2.AFTER),
    "cloudwatch": (cloudwatch.VALIDATE, cloudwatch.AFTER),
    "fis": (fis.VALIDATE, {}),
    "cloudfront": (cloudfront.VALIDATE, cloudfront.AFTER),
    "wafv2": (wafv2.VALIDATE, {}),
    "shield": (shield.VALIDATE, {}),
}
# What the control plane answers itself (None: moto answers), and moto's answers it amends.
Answer = Callable[[ApiRequest, Any], "ApiResponse | None"]
Shown = Callable[[ApiRequest, ApiResponse, Any], ApiResponse]
_ANSWERS: dict[str, Mapping[str, Answer]] = {"dynamodb": dynamodb.ANSWER, "cloudwatch": cloudwatch.ANSWER, "fis": fis.ANSWER,
                                             "cloudfront": cachepolicies.ANSWER, "shield": shield.ANSWER, "wafv2": wafv2.ANSWER,
                                             "directconnect": directconnect.ANSWER, "ec2": vpn.ANSWER,
                                             "outposts": outposts.ANSWER}
# Services moto does not emulate, answered here entirely (every operation; the module answers unknown ones).
_OWN: dict[str, Answer] = {globalaccelerator.SERVICE: globalaccelerator.answer}
_SHOWN: dict[str, Mapping[str, Shown]] = {"dynamodb": dynamodb.SHOWN, "ec2": outposts.SHOWN_EC2}
# Services moto has no backend for: never refused as unserved (Outposts is answered from _ANSWERS).
_OWN_SERVICES = frozenset({"outposts", *_OWN})
# Operations run inside a wrapper (DynamoDB's writes: under the written tables' locks, then stamped).
Around = Callable[[ApiRequest, Any, Callable[[], ApiResponse]], ApiResponse]
# MRSC tables' writes and strong reads (mrsc.py) go through the DynamoDB part first, around the above.
_AROUND: dict[str, Mapping[str, Around]] = {"dynamodb": mrsc.outside(mrsc.AROUND, dynamoitems.AROUND)}
# How many calls that failed in _notify are remembered, by SDK invocation id and input (see _handle).
REMEMBERED_FAILURES = 256
_REASONS = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
            409: "Conflict", 500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable"}


_UNSIGNED_PATHS = ("/moto-api", "/latest/meta-data/", "/latest/api/")  # moto's own API and instance metadata
_QUERY_AUTH = re.compile(r"(^|&)(X-Amz-Credential|X-Amz-Signature|Signature|AWSAccessKeyId)=")
_S3_V2_HEADER = re.compile(r"^AWS [^:\s]+:\S+$")  # "AWS <access key>:<signature>"
_ACTION = re.compile(r"(^|&)Action=")


def _authenticated(environ: dict[str, Any], headers: Mapping[str, str]) -> bool:
    """Whether the request carries some AWS authentication (header or query), SigV4 or not."""
    return bool(headers.get("authorization") or _QUERY_AUTH.search(environ.get("QUERY_STRING", "")))


def _s3_signature_v2(environ: dict[str, Any], headers: Mapping[str, str], body: bytes) -> bool:
    """Whether the request is S3's Signature Version 2, which S3 alone still takes.

    boto3 presigns S3 URLs with it by default (AWSAccessKeyId, Signature, Expires), and moto serves
    an unscoped request as S3, so it goes there. A call with an Action or X-Amz-Target is another
    service's, and gets IncompleteSignature.
    """
    query = environ.get("QUERY_STRING", "")
    authorization = headers.get("authorization")
    if authorization:
        v2 = bool(_S3_V2_HEADER.match(authorization))
    else:
        names = {pair.split("=", 1)[0] for pair in query.split("&")}
        v2 = {"AWSAccessKeyId", "Signature", "Expires"} <= names and "SignatureVersion" not in names
    form = str(environ.get("CONTENT_TYPE", "")).startswith("application/x-www-form-urlencoded")
    calls = _ACTION.search(query) or (form and _ACTION.search(body.decode("latin-1"))) or headers.get("x-amz-target")
    return v2 and not calls


@dataclasses.dataclass(frozen=True)
class _Attempt:
    """What makes a request an SDK's retry of a call: its invocation id and the same call, input included."""

    invocation: str
    service: str
    operation: str
    region: str
    input_sha256: str


def _environment(instance: Any) -> LocalEnvironment:
    """The local environment the stack runs (``instance``'s, or the bundled one for a bare control plane)."""
    found = instance.resolved() if instance is not None else load("local")
    if not isinstance(found, LocalEnvironment):
        raise StackError(f"the control plane runs a local environment, got kind {found.kind!r}")
    return found


class ControlPlane:
    def __init__(self, log: logging.Logger | None = None, instance: Any = None, services: Services | None = None) -> None:
        """``instance`` (a stack.local.instance.Instance) places each Region's default VPC; without it,
        GAMEDAY_INSTANCE and the embedded environment do.

        ``services``: the stack's registry (a new one when None). The control plane provides ``RdsStore``
        in it, and its validators look up ``DbStatus`` there when a part provides it."""
        servicemodels.share_with_moto()
        modeltracking.stop()  # else moto keeps every object a backend ever made, dropped or not
        serializer.install()
        offerings.on_demand()
        rds.fix_cross_region_replicas()
        route53.fix_update_health_check()
        route53.fix_apex_soa()
        route53.fix_cloudwatch_health_checks()
        defaultvpc.install(defaultvpc.layout_for(instance))
        self.moto = ScopedDispatcher(create_backend_app)
        self.log = log or logging.getLogger("gameday.controlplane")
        self.parts: dict[str, Part] = {}
        self.services = services if services is not None else Services()
        self.services.provide(RdsStore, MotoRdsStore(), by="the control plane")
        environment = _environment(instance)
        cloudfront.install(environment.timescale)
        self.environment = environment
        self.directconnect = directconnect.DirectConnect(self.services, environment.timescale)
        self.cloudwatch = cloudwatch.Ledger(list(environment.regions), timescale=environment.timescale)
        self.services.provide(MetricStore, self.cloudwatch, by="the control plane")
        self.global_tables = dynamodb.GlobalTables(environment.regions, environment.timescale,
                                                   environment.dynamodb.replica_creation_s)
        self.global_items = dynamoitems.GlobalItems(self.global_tables)
        self.global_tables.denied = self.global_items.replication_denied
        # Which MRSC replicas are cut off: FIS's MRSC pause statement, or an MREC one, in their policy.
        self.global_tables.strong.denied = mrsc.paused_by(dynamoitems.denies_replication, backends.ACCOUNT_ID)
        self.services.provide(GlobalTableItems, self.global_items, by="the control plane")
        self.accelerators = globalaccelerator.Accelerators(environment.accelerator_cidr, list(environment.regions))
        self.accelerators.health = lambda: self.services.find(AcceleratorHealth)
        self._answers: dict[tuple[str, str], ApiHandler] = {}
        self.calls = 0
        self._count_lock = threading.Lock()
        self._unapplied: OrderedDict[_Attempt, ApiResponse] = OrderedDict()

    def attach(self, part: Part) -> None:
        self.parts[part.name] = part
        self._answers.update(part.answers())

    def detach_all(self) -> None:
        self.parts.clear()
        self._answers.clear()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request: ApiRequest | None = None
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length > 0 else b""
            environ["wsgi.input"] = io.BytesIO(body)
            headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
            with self._count_lock:
                self.calls += 1
            authorization = requests_.presigned_authorization(headers, environ.get("QUERY_STRING", ""))
            if authorization is not None:
                environ["HTTP_AUTHORIZATION"] = authorization  # so moto routes it to the service signed for
            if environ.get("PATH_INFO") == xray.PATH:  # OTLP/HTTP, not an AWS API call
                return self._respond(xray.answer(environ, headers, body, self._answers), start_response)
            refused = self._gate(environ, headers, body)
            if refused is not None:
                return self._respond(refused, start_response)
            try:
                request = requests_.parse(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""),
                                          environ.get("QUERY_STRING", ""), headers, body)
            except requests_.Rejected as rejected:
                self.log.info("rejected %s.%s: %s", rejected.request.service, rejected.request.operation, rejected.error)
                return self._respond(render(rejected.request, rejected.error), start_response)
            response = self._handle(request, environ, body, headers.get("amz-sdk-invocation-id", ""))
        except Exception:
            self.log.exception("unexpected failure serving %s %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
            response = internal_failure(request or self._shell(environ))
        return self._respond(response, start_response)

    def _gate(self, environ: dict[str, Any], headers: Mapping[str, str], body: bytes) -> ApiResponse | None:
        """The refusal of a request no service can take: unsigned, not SigV4, or for a service moto does not emulate.

        The SigV4 credential scope is the only thing that tells this one endpoint which service and
        Region a call is for; without it moto would guess (S3) and answer an unrelated 200.
        """
        if str(environ.get("PATH_INFO", "")).startswith(_UNSIGNED_PATHS):
            return None
        scope = requests_.scope(headers, environ.get("QUERY_STRING", ""))
        if scope is None and not _authenticated(environ, headers):
            return render(ApiRequest("", "", "us-east-1", {}), AwsError(
                "MissingAuthenticationToken", "The request must contain either a valid (registered) AWS access key ID or "
                                              "X.509 certificate: sign it (any AWS SDK or CLI does; dummy credentials are fine here)", 403))
        if scope is None and not _s3_signature_v2(environ, headers, body):
            scheme = (headers.get("authorization") or "").split(" ", 1)[0] or "query-string authentication"
            return render(ApiRequest("", "", "us-east-1", {}), AwsError(
                "IncompleteSignature", f"The request signature does not conform to AWS standards: got {scheme!r} without "
                                       "a SigV4 credential scope; the local endpoint needs Signature Version 4 "
                                       "(Authorization: AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request, "
                                       "or a presigned URL's X-Amz-Credential) to know the service and Region"))
        if scope is not None and scope[0] not in _OWN_SERVICES and not self._served(environ):
            service, region = scope
            return render(ApiRequest(service, "", region, {}), AwsError(
                "InvalidAction", f"The local endpoint does not serve the service {service!r} (signed for {region}); it serves "
                                 f"the AWS services moto emulates, for example ec2, rds, route53, dynamodb, s3"))
        return None

    def _handle(self, request: ApiRequest | None, environ: dict[str, Any], body: bytes, invocation: str) -> ApiResponse:
        if request is None:
            shell = self._shell(environ)
            if shell.service in _OWN_SERVICES:  # moto has no such service: it would only crash on the call
                return render(shell, AwsError("UnknownOperationException", f"Unknown operation: no {shell.service} "
                              f"operation is {environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')} with "
                              f"X-Amz-Target {environ.get('HTTP_X_AMZ_TARGET') or '(none)'}"))
            return self._call_moto(environ, shell)
        # boto3 retries a 5xx, and a retry of a change that is already stored would be answered
        # with something unrelated (NetworkAclEntryAlreadyExists), hiding why it failed. Every AWS
        # SDK keeps amz-sdk-invocation-id across the attempts of one call: a retry gets the same answer.
        # The id alone is not enough (a client may reuse it): a retry is also the same call, with the
        # same input (the body and query as sent, before any rewrite).
        key = _Attempt(invocation, request.service, request.operation, request.region,
                       hashlib.sha256(body + b"?" + str(environ.get("QUERY_STRING", "")).encode()).hexdigest())
        with self._count_lock:
            earlier = self._unapplied.get(key) if invocation else None
        if earlier is not None:
            return earlier
        validate, after = _SERVICES.get(request.service, ({}, {}))
        try:
            hook = validate.get(request.operation)
            changes = hook(request, self) if hook is not None else None
        except AwsError as error:
            self.log.info("rejected %s.%s: %s", request.service, request.operation, error)
            return render(request, error)
        if changes:
            request = self._rewrite(request, environ, body, changes)
        answer = self._answers.get((request.service, request.operation))
        own = _OWN.get(request.service) or _ANSWERS.get(request.service, {}).get(request.operation)
        shown = _SHOWN.get(request.service, {}).get(request.operation)
        parsed = request

        def call() -> ApiResponse:
            try:
                if answer is not None:
                    response = answer(parsed)
                else:
                    response = (own(parsed, self) if own is not None else None) or self._call_moto(environ, parsed)
            except AwsError as error:
                response = render(parsed, error)
            return shown(parsed, response, self) if shown is not None else response

        around = _AROUND.get(request.service, {}).get(request.operation)
        try:
            response = around(request, self, call) if around is not None else call()
        except AwsError as error:  # refused before moto saw the call (an MRSC table's conflict, no quorum)
            response = render(request, error)
        if response.status < 300 and requests_.is_mutating(request.operation):
            hook = after.get(request.operation)
            if hook is not None:
                hook(request, self)
            failed = self._notify(Change(request, response.body))
            if failed is not None:
                response = render(request, failed)
                if invocation:
                    with self._count_lock:
                        self._unapplied[key] = response
                        while len(self._unapplied) > REMEMBERED_FAILURES:
                            self._unapplied.popitem(last=False)
        return response

    @staticmethod
    def _rewrite(request: ApiRequest, environ: dict[str, Any], body: bytes, changes: Mapping[str, str | None]) -> ApiRequest:
        if body:  # a presigned call has its parameters in the query alone
            new_body = requests_.rewrite_form(body, changes)
            environ["wsgi.input"] = io.BytesIO(new_body)
            environ["CONTENT_LENGTH"] = str(len(new_body))
        if environ.get("QUERY_STRING"):
            environ["QUERY_STRING"] = requests_.rewrite_form(environ["QUERY_STRING"].encode(), changes).decode()
        params = {k: v for k, v in request.params.items() if k not in changes}
        params.update({k: v for k, v in changes.items() if v is not None})
        return dataclasses.replace(request, params=params)

    def _served(self, environ: dict[str, Any]) -> bool:
        """Whether moto has a backend for the service a signed request names."""
        try:
            self.moto.get_application(environ)
        except Exception:
            return False
        return True

    @staticmethod
    def _shell(environ: dict[str, Any]) -> ApiRequest:
        """What is known of a request that was not parsed: its service and Region when it is signed."""
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        scope = requests_.scope(headers, environ.get("QUERY_STRING", ""))
        service, region = scope if scope is not None and servicemodels.find(scope[0]) is not None else ("", "us-east-1")
        return ApiRequest(service, "", region, {})

    def _call_moto(self, environ: dict[str, Any], request: ApiRequest) -> ApiResponse:
        """moto's answer; a crash or an HTML error page from it becomes an AWS error."""
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
        response = ApiResponse(captured["status"], body, dict(captured["headers"]))
        # moto labels some JSON answers text/html, so the body, not the header, tells an error page.
        if response.status >= 400 and body.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")):
            self.log.warning("moto answered %s %s with an HTML %d page", environ.get("REQUEST_METHOD"),
                             environ.get("PATH_INFO"), response.status)
            if response.status == 404:
                return render(request, AwsError("InvalidAction", f"No {request.service or 'AWS'} operation matches "
                                                                 f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}", 404))
            if response.status < 500:
                return render(request, AwsError("InvalidRequest", "The request is not valid for this endpoint", response.status))
            return internal_failure(request)
        return response

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
