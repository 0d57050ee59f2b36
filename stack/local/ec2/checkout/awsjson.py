"""A small client for AWS's JSON protocol (DynamoDB), signed with Signature Version 4, on the standard library.

Checkout runs one process per instance, so it does not load an AWS SDK for a handful of DynamoDB calls:
one POST per call, ``X-Amz-Target: DynamoDB_20120810.<Operation>``, signed as AWS's SigV4 documentation
describes (checked against botocore's signer in the tests).

Credentials, in the order an SDK looks: ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` /
``AWS_SESSION_TOKEN`` in the environment (the local stack's EC2 part sets them), else the instance
profile through IMDSv2 (on a real EC2 instance), refreshed 5 minutes before they expire.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import json
import os
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable

IMDS_HOST = "169.254.169.254"  # only ever asked on a real EC2 instance: locally the environment has credentials
REFRESH_BEFORE = dt.timedelta(minutes=5)


class AwsCallError(Exception):
    """AWS answered with an error (code and message as AWS gave them)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message = status, code, message


class AwsUnreachable(Exception):
    """The endpoint could not be reached, or credentials could not be found."""


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    token: str | None = None
    expires: dt.datetime | None = None


def environment_credentials() -> Credentials | None:
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not key or not secret:
        return None
    return Credentials(key, secret, os.environ.get("AWS_SESSION_TOKEN") or None)


def instance_profile_credentials(timeout_s: float = 1.0) -> Credentials:
    """The instance role's credentials through IMDSv2 (a session token first, then the role's document)."""
    try:
        connection = http.client.HTTPConnection(IMDS_HOST, 80, timeout=timeout_s)
        connection.request("PUT", "/latest/api/token", headers={"X-aws-ec2-metadata-token-ttl-seconds": "21600"})
        token = connection.getresponse().read().decode()
        headers = {"X-aws-ec2-metadata-token": token}
        base = "/latest/meta-data/iam/security-credentials/"
        connection.request("GET", base, headers=headers)
        role = connection.getresponse().read().decode().split("\n")[0].strip()
        connection.request("GET", base + role, headers=headers)
        document = json.loads(connection.getresponse().read())
        connection.close()
    except (OSError, ValueError, http.client.HTTPException) as error:
        raise AwsUnreachable(f"no credentials: none in the environment, and the instance profile (IMDSv2 at "
                             f"{IMDS_HOST}) did not answer: {error}") from error
    expires = dt.datetime.fromisoformat(document["Expiration"].replace("Z", "+00:00"))
    return Credentials(document["AccessKeyId"], document["SecretAccessKey"], document.get("Token"), expires)


class CredentialSource:
    """The environment's credentials, else the instance profile's, cached until shortly before they expire."""

    def __init__(self, fetch: Callable[[], Credentials] = instance_profile_credentials) -> None:
        self._fetch = fetch
        self._lock = threading.Lock()
        self._current = environment_credentials()

    def get(self) -> Credentials:
        with self._lock:
            current = self._current
            if current is None or (current.expires is not None
                                   and dt.datetime.now(dt.timezone.utc) >= current.expires - REFRESH_BEFORE):
                current = self._current = self._fetch()
            return current


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sign(method: str, url: str, headers: dict[str, str], body: bytes, credentials: Credentials, service: str,
         region: str, now: dt.datetime) -> dict[str, str]:
    """``headers`` plus X-Amz-Date, X-Amz-Security-Token (with a session token) and Authorization (SigV4)."""
    parts = urllib.parse.urlsplit(url)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    day = stamp[:8]
    signed = {k.lower(): " ".join(v.split()) for k, v in headers.items()}
    signed["host"] = parts.netloc
    signed["x-amz-date"] = stamp
    if credentials.token:
        signed["x-amz-security-token"] = credentials.token
    names = ";".join(sorted(signed))
    canonical = "\n".join([method, urllib.parse.quote(parts.path or "/", safe="/-_.~"), parts.query,
                           "".join(f"{k}:{signed[k]}\n" for k in sorted(signed)), names,
                           hashlib.sha256(body).hexdigest()])
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{credentials.secret_key}".encode(), day), region), service), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    result = dict(headers)
    result["X-Amz-Date"] = stamp
    if credentials.token:
        result["X-Amz-Security-Token"] = credentials.token
    result["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
                               f"SignedHeaders={names}, Signature={signature}")
    return result


class JsonApi:
    """Calls one service of one Region at ``endpoint`` (e.g. https://dynamodb.us-east-1.amazonaws.com)."""

    def __init__(self, endpoint: str, region: str, service: str, target_prefix: str, credentials: CredentialSource,
                 content_type: str = "application/x-amz-json-1.0") -> None:
        parts = urllib.parse.urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"endpoint {endpoint!r} is not an http(s) URL such as https://dynamodb.us-east-1.amazonaws.com")
        self.endpoint, self.region, self.service = endpoint.rstrip("/") + "/", region, service
        self.target_prefix, self.content_type, self.credentials = target_prefix, content_type, credentials
        self._parts = parts

    def call(self, operation: str, params: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """One call; raises AwsCallError (AWS's error) or AwsUnreachable (no answer within ``timeout_s``)."""
        body = json.dumps(params).encode()
        headers = sign("POST", self.endpoint, {"Content-Type": self.content_type,
                                               "X-Amz-Target": f"{self.target_prefix}.{operation}"},
                       body, self.credentials.get(), self.service, self.region, dt.datetime.now(dt.timezone.utc))
        parts = self._parts
        connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        connection = connection_class(str(parts.hostname), parts.port, timeout=max(0.05, timeout_s))
        try:
            connection.request("POST", parts.path or "/", body=body, headers=headers)
            response = connection.getresponse()
            status, payload = response.status, response.read()
        except (OSError, http.client.HTTPException) as error:
            raise AwsUnreachable(f"{self.service} at {self.endpoint} ({self.region}): {error or type(error).__name__}") from error
        finally:
            connection.close()
        try:
            document = json.loads(payload or b"{}")
        except ValueError:
            raise AwsCallError(status, "InvalidResponse", payload[:200].decode(errors="replace")) from None
        if status >= 300:
            code = str(document.get("__type", "UnknownError")).rsplit("#", 1)[-1]
            raise AwsCallError(status, code, str(document.get("message") or document.get("Message") or ""))
        result: dict[str, Any] = document
        return result
