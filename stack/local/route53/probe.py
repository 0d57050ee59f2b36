"""One health-check request from one checker: HTTP(S), string match or TCP, with AWS's rules and texts.

Timeouts. AWS gives a checker 4 s to connect and 2 more for an HTTP status (TCP: 10 s to connect).
Here they are AWS durations like any other, so they run scaled by ``time_scale``, but never below
``MIN_TIMEOUT_S``: network delay is *not* scaled on the fabric (RTTs reach a third of a second), and a
scaled 0.2 s would fail healthy far-away endpoints. At scale 0.1 a check therefore waits 1 s to
connect and 1 s for the status; at scale 1 it waits exactly AWS's 4 + 2 s. The fabric stalls a denied
connection after the kernel has accepted it, so such an endpoint shows up as a response timeout.

HTTP is spoken with h11 over asyncio streams; HTTPS does not validate certificates (as Route 53).
"""
from __future__ import annotations

import asyncio
import http
import ssl
from dataclasses import dataclass
from typing import Awaitable, Callable, TypeVar

import h11

from base.timescale import TimeScale
from stack.local.geography import CheckerSite
from stack.local.route53.health import ProbeResult
from stack.local.route53.healthcheck import CheckType, HealthCheckSpec

AWS_HTTP_CONNECT_S = 4.0
AWS_HTTP_RESPONSE_S = 2.0
AWS_TCP_CONNECT_S = 10.0
MIN_TIMEOUT_S = 1.0
BODY_SEARCH_BYTES = 5120
USER_AGENT = "Amazon-Route53-Health-Check-Service (ref gameday-local; report http://amzn.to/1vsZADi)"

TIMED_OUT = ("Failure: Connection timed out. The endpoint or the internet connection is down, "
             "or requests are being blocked by your firewall. See "
             "https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-router-firewall-rules.html")
REFUSED = "Failure: Connection refused. The endpoint is not accepting connections on port {port}."
RESPONSE_TIMED_OUT = ("Failure: The endpoint did not return an HTTP status code within {seconds:g} seconds "
                      "after the connection was established.")
TCP_OK = "Success: TCP connection established."

Probe = Callable[[HealthCheckSpec, CheckerSite], Awaitable[ProbeResult]]
Resolve = Callable[[str], "str | None"]  # FQDN -> IPv4 address


@dataclass(frozen=True)
class Timeouts:
    connect_s: float
    response_s: float

    @classmethod
    def for_check(cls, check_type: CheckType, scale: TimeScale, min_timeout_s: float = MIN_TIMEOUT_S) -> "Timeouts":
        def scaled(aws_s: float) -> float:
            return scale.timeout(aws_s, floor=min_timeout_s)

        if check_type is CheckType.TCP:
            return cls(scaled(AWS_TCP_CONNECT_S), 0.0)
        return cls(scaled(AWS_HTTP_CONNECT_S), scaled(AWS_HTTP_RESPONSE_S))


def status_phrase(code: int, reason: bytes) -> str:
    try:
        return http.HTTPStatus(code).phrase
    except ValueError:
        return reason.decode("latin-1") or "Unknown"


def host_header(spec: HealthCheckSpec, address: str) -> str:
    """Route 53's Host header: the FQDN (else the IP), with ``:port`` unless the port is the scheme's default."""
    host = spec.fqdn or address
    default = 443 if spec.check_type.uses_tls else 80
    return host if spec.effective_port == default else f"{host}:{spec.effective_port}"


class Prober:
    """The real probe: connects from the checker's source address through the fabric."""

    def __init__(self, scale: TimeScale, resolve: Resolve | None = None, min_timeout_s: float = MIN_TIMEOUT_S) -> None:
        self.scale = scale
        self.resolve = resolve
        self.min_timeout_s = min_timeout_s

    async def __call__(self, spec: HealthCheckSpec, site: CheckerSite) -> ProbeResult:
        address = spec.ip_address
        if not address:
            address = (self.resolve(spec.fqdn) if self.resolve and spec.fqdn else None) or ""
            if not address:
                return ProbeResult(False, f"Failure: DNS resolution of {spec.fqdn or '(no name)'} failed.")
        timeouts = Timeouts.for_check(spec.check_type, self.scale, self.min_timeout_s)
        port = spec.effective_port
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(address, port, local_addr=(site.source_ip, 0)), timeouts.connect_s)
        except (asyncio.TimeoutError, TimeoutError):
            return ProbeResult(False, TIMED_OUT)
        except ConnectionRefusedError:
            return ProbeResult(False, REFUSED.format(port=port))
        except OSError as error:
            return ProbeResult(False, f"Failure: Could not connect to the endpoint: {error.strerror or error}.")
        try:
            if spec.check_type is CheckType.TCP:
                return ProbeResult(True, TCP_OK)
            try:
                async with asyncio.timeout(timeouts.response_s):
                    return await self._http(spec, address, reader, writer)
            except TimeoutError:
                return ProbeResult(False, RESPONSE_TIMED_OUT.format(seconds=AWS_HTTP_RESPONSE_S))
            except ssl.SSLError as error:
                return ProbeResult(False, f"Failure: SSL handshake failed: {error.reason or error}.")
            except h11.ProtocolError as error:
                return ProbeResult(False, f"Failure: The endpoint returned an invalid HTTP response: {error}.")
            except (ConnectionError, OSError) as error:
                return ProbeResult(False, f"Failure: The connection was closed by the endpoint: {error}.")
        finally:
            writer.transport.abort()

    async def _http(self, spec: HealthCheckSpec, address: str, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter) -> ProbeResult:
        if spec.check_type.uses_tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE  # Route 53 does not validate certificates
            # SNI only when asked for, with the FQDN: an empty server_hostname sends none.
            await writer.start_tls(context, server_hostname=spec.fqdn if spec.enable_sni and spec.fqdn else "")
        connection = h11.Connection(h11.CLIENT)
        request = h11.Request(method="GET", target=spec.resource_path or "/", headers=[
            ("Host", host_header(spec, address)), ("User-Agent", USER_AGENT), ("Connection", "close")])
        writer.write(connection.send(request) + (connection.send(h11.EndOfMessage()) or b""))
        await writer.drain()
        response = await _next(connection, reader, (h11.Response,))
        code = response.status_code
        text = f"HTTP Status Code {code}, {status_phrase(code, response.reason)}"
        if not 200 <= code < 400:
            return ProbeResult(False, f"Failure: {text}")
        if not spec.check_type.matches_string:
            return ProbeResult(True, f"Success: {text}")
        body = bytearray()
        while len(body) < BODY_SEARCH_BYTES:
            event = await _next(connection, reader, (h11.Data, h11.EndOfMessage))
            if not isinstance(event, h11.Data):  # EndOfMessage
                break
            body += event.data
        if spec.search_string.encode() in bytes(body[:BODY_SEARCH_BYTES]):
            return ProbeResult(True, f"Success: {text}. Found the search string in the response body.")
        return ProbeResult(False, f"Failure: {text}. The search string {spec.search_string!r} was not found in the "
                                  f"first {BODY_SEARCH_BYTES} bytes of the response body.")


_Wanted = TypeVar("_Wanted", bound=h11.Event)


async def _next(connection: h11.Connection, reader: asyncio.StreamReader,
                wanted: tuple[type[_Wanted], ...]) -> _Wanted:
    """The next h11 event of one of the ``wanted`` types. Raises ConnectionError when the endpoint hangs up."""
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            # b"" tells h11 about the EOF; it then ends the message or raises RemoteProtocolError.
            connection.receive_data(await reader.read(4096))
            continue
        if isinstance(event, wanted):
            return event
        if isinstance(event, h11.ConnectionClosed):
            raise ConnectionError("closed before a complete response")
