"""The edge's WAF: web ACLs read through the API, evaluated per request, metrics and samples published.

The CloudFront part holds one ``WafPlane``. For each request to a distribution whose config names
a web ACL (``WebACLId``, the web ACL's ARN for WAFv2), the edge calls ``evaluate`` before serving;
a blocked request gets the verdict's status (403) and is never forwarded to the origin.

The web ACL and its IP sets are read with GetWebACL and GetIPSet through the local endpoint, like
any user, on first use and again after any change to WAFv2 (``on_change`` only marks them stale:
it must not hold the control plane up). A web ACL that cannot be read or uses a statement the
local stack does not emulate fails closed: the edge answers 503 and ``problems`` names why, so a
protection is never silently off. The source's country is the one the environment gives the
vantage point (or bot subnet) the address is in.

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
from stack.local.cloudfront.waf import Verdict, WebAcl
from stack.local.cloudfront.wafrules import Network, WebRequest
from stack.local.messages import ApiHandler, ApiRequest, ApiResponse, Change

NAMESPACE = "AWS/WAFV2"
METRICS_REGION = "us-east-1"  # CloudFront web ACLs' metrics and API live in us-east-1
PERIOD_S = 60.0  # "AWS WAF reports metrics once a minute"
UNAVAILABLE = Verdict("BLOCK", "unavailable", 503)


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
        self._acls: dict[str, WebAcl] = {}
        self._stale: set[str] = set()
        self.problems: dict[str, str] = {}  # web ACL ARN -> why it is not enforced
        self._stopping = threading.Event()
        self._publisher: threading.Thread | None = None

    # -- the edge's hook --
    def evaluate(self, web_acl_arn: str, source_ip: str, method: str, path: str, query: str = "",
                 headers: Mapping[str, str] | None = None) -> Verdict:
        acl = self._acl(web_acl_arn)
        if acl is None:
            return UNAVAILABLE
        lowered = {k.lower(): v for k, v in (headers or {}).items()}
        return acl.evaluate(WebRequest(source_ip, self.geography.country(source_ip), method, path, query, lowered))

    def _acl(self, arn: str) -> WebAcl | None:
        with self._lock:
            acl = self._acls.get(arn)
            if acl is not None and arn not in self._stale:
                return acl
        try:
            loaded = self._load(arn)
        except (wafrules.Unsupported, ValueError, KeyError) as error:
            self._failed(arn, str(error))
            return None
        except Exception as error:  # noqa: BLE001 - the endpoint refused or failed: fail closed, say why
            self._failed(arn, f"{type(error).__name__}: {error}")
            return None
        if acl is not None:
            self._publish_one(acl)  # what the old version tallied is not lost
        with self._lock:
            self._acls[arn] = loaded
            self._stale.discard(arn)
            self.problems.pop(arn, None)
        return loaded

    def _failed(self, arn: str, reason: str) -> None:
        self._log.error("cloudfront: web ACL %s is not enforced, requests get 503: %s", arn, reason)
        with self._lock:
            self.problems[arn] = reason

    def _load(self, arn: str) -> WebAcl:
        scope, kind, name, ident = parse_arn(arn)
        if kind != "webacl" or scope != "CLOUDFRONT":
            raise ValueError(f"{arn!r} is not a CLOUDFRONT web ACL's ARN (…:global/webacl/NAME/ID)")
        wafv2 = self._client("wafv2", METRICS_REGION)
        acl = wafv2.get_web_acl(Name=name, Scope=scope, Id=ident)["WebACL"]

        def ip_sets(set_arn: str) -> list[Network]:
            set_scope, _, set_name, set_id = parse_arn(set_arn)
            found = wafv2.get_ip_set(Name=set_name, Scope=set_scope, Id=set_id)["IPSet"]
            return wafrules.ip_networks(list(found.get("Addresses") or []))
        return WebAcl(acl, ip_sets, self._clock, self._timescale.to_wall, self._wall_time)

    # -- the part's plumbing --
    def on_change(self, change: Change) -> None:
        """After any WAFv2 change, re-read the web ACLs at their next request (rate counters start anew)."""
        if change.request.service == "wafv2":
            with self._lock:
                self._stale.update(self._acls)
                self.problems.clear()

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
