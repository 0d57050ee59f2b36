"""The edge's WAF: web ACLs read through the API, evaluated per request, metrics and samples published.

The CloudFront part holds one ``WafPlane`` (through waf.py's evaluator). For each request to a
distribution whose config names a web ACL (``WebACLId``, the web ACL's ARN for WAFv2), the edge
calls ``evaluate`` before serving; a blocked request gets the verdict's status (403) and never
reaches the origin. ``evaluate`` runs on the edge's event loop, so it does no I/O: every CLOUDFRONT
web ACL and the IP sets they reference are read with ListWebACLs, GetWebACL and GetIPSet through
the local endpoint, like any user, at start and again in ``on_change`` after any WAFv2 change,
before the call that made it returns (a change is in force when the API says it is done). A web
ACL whose rules and IP sets did not change keeps its state (rate counters, samples).

A request for a web ACL that does not exist or uses what the local stack does not emulate fails
closed: 503, and ``problems`` names why, so a protection is never silently off. The source's
country is the one the environment gives the vantage point (or bot subnet) the address is in.

Every ``to_wall(60)`` s the tallies are published to CloudWatch as WAF does for a CloudFront web
ACL: namespace AWS/WAFV2 in us-east-1, AllowedRequests / BlockedRequests / CountedRequests, Sum,
dimensions WebACL and Rule (``ALL`` for the whole web ACL), no Region dimension.
GetSampledRequests is answered here (moto has none).
"""
from __future__ import annotations

import datetime
import ipaddress
import json
import logging
import threading
import time
from typing import Any, Callable, Mapping

from environments.model import LocalEnvironment
from stack.local.awserror import AwsError, render
from stack.local.cloudfront import wafrules
from stack.local.cloudfront.wafacl import Decision, WebAcl
from stack.local.cloudfront.wafrules import WebRequest
from stack.local.messages import ApiHandler, ApiRequest, ApiResponse, Change

NAMESPACE = "AWS/WAFV2"
METRICS_REGION = "us-east-1"  # CloudFront web ACLs' metrics and API live in us-east-1
PERIOD_S = 60.0  # "AWS WAF reports metrics once a minute"
UNAVAILABLE = Decision("BLOCK", "unavailable", 503)


def parse_arn(arn: str) -> tuple[str, str, str, str]:
    """(scope, kind, name, id) of a WAFv2 ARN such as arn:aws:wafv2:us-east-1:123456789012:global/webacl/NAME/ID."""
    try:
        _, _, service, _, _, resource = arn.split(":", 5)
        place, kind, name, ident = resource.split("/")
    except ValueError:
        raise ValueError(f"{arn!r} is not a WAFv2 ARN (arn:aws:wafv2:REGION:ACCOUNT:global|regional/KIND/NAME/ID)") from None
    if service != "wafv2" or place not in ("global", "regional"):
        raise ValueError(f"{arn!r} is not a WAFv2 ARN (arn:aws:wafv2:REGION:ACCOUNT:global|regional/KIND/NAME/ID)")
    return ("CLOUDFRONT" if place == "global" else "REGIONAL"), kind, name, ident


class Geography:
    """The country of a source address: that of the vantage point or bot subnet it is in."""

    def __init__(self, environment: LocalEnvironment) -> None:
        places = {**environment.vantage_points, **environment.bots}
        self._networks = [(place.network, place.country) for place in places.values()]

    def country(self, address: str) -> str:
        try:
            found = ipaddress.ip_address(address)
        except ValueError:
            return ""
        return next((country for network, country in self._networks if found in network), "")


class WafPlane:
    def __init__(self, client: Callable[[str, str], Any], environment: LocalEnvironment, log: logging.Logger,
                 clock: Callable[[], float] = time.monotonic, wall_time: Callable[[], float] = time.time) -> None:
        """``client(service, region)``: a boto3 client for the local endpoint (PartContext.client)."""
        self._client = client
        self._timescale = environment.timescale
        self.geography = Geography(environment)
        self._log = log
        self._clock, self._wall_time = clock, wall_time
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._acls: dict[str, WebAcl] = {}
        self._fingerprints: dict[str, str] = {}
        self.problems: dict[str, str] = {}  # web ACL ARN -> why it is not enforced
        self._stopping = threading.Event()
        self._publisher: threading.Thread | None = None

    # -- the edge's hook (on the event loop: no I/O) --
    def evaluate(self, web_acl_arn: str, source_ip: str, method: str, path: str, query: str = "",
                 headers: Mapping[str, str] | None = None, body: bytes = b"") -> Decision:
        with self._lock:
            acl = self._acls.get(web_acl_arn)
            if acl is None:
                self.problems.setdefault(web_acl_arn, "no CLOUDFRONT web ACL with this ARN exists (or it could not be read)")
        if acl is None:
            return UNAVAILABLE
        lowered = {k.lower(): v for k, v in (headers or {}).items()}
        inspected = body[:acl.body_limit]
        return acl.evaluate(WebRequest(source_ip, self.geography.country(source_ip), method, path, query, lowered,
                                       inspected, body_oversize=len(body) > len(inspected)))

    # -- reading the web ACLs (off the loop) --
    def refresh(self) -> None:
        """Read every CLOUDFRONT web ACL again; keep the state of those that did not change."""
        with self._refresh_lock:
            wafv2 = self._client("wafv2", METRICS_REGION)
            summaries: list[Mapping[str, Any]] = []
            marker = None
            while True:
                page = wafv2.list_web_acls(Scope="CLOUDFRONT", Limit=100, **({"NextMarker": marker} if marker else {}))
                summaries += page.get("WebACLs") or []
                marker = page.get("NextMarker")
                if not marker or not page.get("WebACLs"):
                    break
            loaded: dict[str, WebAcl] = {}
            problems: dict[str, str] = {}
            for summary in summaries:
                arn = str(summary["ARN"])
                try:
                    loaded[arn] = self._load(wafv2, arn, summary)
                except (wafrules.Unsupported, ValueError, KeyError) as error:
                    problems[arn] = str(error)
                except Exception as error:  # noqa: BLE001 - the endpoint failed: this ACL fails closed, say why
                    problems[arn] = f"{type(error).__name__}: {error}"
            for arn, reason in problems.items():
                self._log.error("cloudfront: web ACL %s is not enforced, its requests get 503: %s", arn, reason)
            with self._lock:
                dropped = [acl for arn, acl in self._acls.items() if loaded.get(arn) is not acl]
                self._acls, self.problems = loaded, problems
        for acl in dropped:
            self._publish_one(acl)  # what a replaced version tallied is not lost

    def _load(self, wafv2: Any, arn: str, summary: Mapping[str, Any]) -> WebAcl:
        acl = wafv2.get_web_acl(Name=summary["Name"], Scope="CLOUDFRONT", Id=summary["Id"])["WebACL"]
        ip_sets: dict[str, list[str]] = {}
        for reference in _ip_set_arns(acl.get("Rules") or []):
            scope, _, name, ident = parse_arn(reference)
            found = wafv2.get_ip_set(Name=name, Scope=scope, Id=ident)["IPSet"]
            ip_sets[reference] = sorted(found.get("Addresses") or [])
        fingerprint = json.dumps([acl, ip_sets], sort_keys=True, default=str)
        with self._lock:
            current = self._acls.get(arn)
        if current is not None and self._fingerprints.get(arn) == fingerprint:
            return current
        built = WebAcl(acl, lambda reference: wafrules.ip_networks(ip_sets[reference]), self._clock,
                       self._timescale.to_wall, self._wall_time)
        self._fingerprints[arn] = fingerprint
        return built

    # -- the part's plumbing --
    def on_change(self, change: Change) -> None:
        """After a WAFv2 change, read the web ACLs again before the call returns (a few local API calls)."""
        if change.request.service == "wafv2":
            self.refresh()

    def answers(self) -> dict[tuple[str, str], ApiHandler]:
        return {("wafv2", "GetSampledRequests"): self._sampled}

    def _sampled(self, request: ApiRequest) -> ApiResponse:
        params = request.params
        arn = str(params.get("WebAclArn", ""))
        with self._lock:
            acl = self._acls.get(arn)
        if acl is None:
            try:
                scope, kind, name, ident = parse_arn(arn)
                self._client("wafv2", METRICS_REGION).get_web_acl(Name=name, Scope=scope, Id=ident)
            except Exception:  # noqa: BLE001 - any failure to find it is WAF's not-found
                return render(request, AwsError("WAFNonexistentItemException",
                                                f"WebAclArn {arn!r}: no such web ACL in scope {params.get('Scope')}"))
        window = params.get("TimeWindow") or {}
        start, end = _epoch(window.get("StartTime")), _epoch(window.get("EndTime"))
        if end <= start:
            return render(request, AwsError("WAFInvalidParameterException",
                                            f"TimeWindow: EndTime {window.get('EndTime')} is not after StartTime"))
        body = acl.samples.answer(str(params.get("RuleMetricName", "")), start, end, int(params.get("MaxItems", 100))) \
            if acl is not None else {"SampledRequests": [], "PopulationSize": 0, "TimeWindow": {"StartTime": start, "EndTime": end}}
        return ApiResponse(200, json.dumps(body).encode(), {"Content-Type": "application/x-amz-json-1.1"})

    def start(self) -> None:
        try:
            self.refresh()
        except Exception as error:  # noqa: BLE001 - read again at the next WAFv2 change; until then ACLs fail closed
            self._log.warning("cloudfront: first read of the web ACLs failed: %s", error)
        self._publisher = threading.Thread(target=self._publish_loop, name="waf-metrics", daemon=True)
        self._publisher.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._publisher is not None:
            self._publisher.join(timeout=5)
        self.publish()

    def _publish_loop(self) -> None:
        period = self._timescale.to_wall(PERIOD_S)
        while not self._stopping.wait(period):
            self.publish()

    def publish(self) -> int:
        """Send every web ACL's tallies since the last publication; how many data points were sent."""
        with self._lock:
            acls = list(self._acls.values())
        return sum(self._publish_one(acl) for acl in acls)

    def _publish_one(self, acl: WebAcl) -> int:
        tallies = acl.drain()
        if not tallies:
            return 0
        now = datetime.datetime.fromtimestamp(self._wall_time(), datetime.timezone.utc)
        data = [{"MetricName": metric, "Timestamp": now, "Unit": "Count", "Value": float(count),
                 "Dimensions": [{"Name": "WebACL", "Value": acl.metric}, {"Name": "Rule", "Value": rule}]}
                for (rule, metric), count in sorted(tallies.items())]
        try:
            cloudwatch = self._client("cloudwatch", METRICS_REGION)
            for i in range(0, len(data), 1000):
                cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=data[i:i + 1000])
        except Exception as error:  # noqa: BLE001 - the endpoint stopping: the edge goes on serving
            self._log.warning("cloudfront: publishing WAF metrics for %s failed: %s", acl.name, error)
            return 0
        return len(data)


def _ip_set_arns(value: Any) -> list[str]:
    """Every IPSetReferenceStatement ARN anywhere in ``value`` (rules, nested statements)."""
    if isinstance(value, list):
        return [arn for item in value for arn in _ip_set_arns(item)]
    if not isinstance(value, dict):
        return []
    own = [str(value["IPSetReferenceStatement"]["ARN"])] if "IPSetReferenceStatement" in value else []
    return own + [arn for key, item in value.items() if key != "IPSetReferenceStatement" for arn in _ip_set_arns(item)]


def _epoch(value: Any) -> float:
    """A TimeWindow time as epoch seconds (the JSON protocol sends a number; a parsed request may hold a string)."""
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    try:
        return float(str(value))
    except ValueError:
        return datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
