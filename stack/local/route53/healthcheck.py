"""Health check configurations as frozen dataclasses, parsed from boto3's ``HealthCheck`` shape."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Mapping

from stack.local.route53.errors import HealthCheckError


class CheckType(enum.Enum):
    HTTP = "HTTP"
    HTTPS = "HTTPS"
    HTTP_STR_MATCH = "HTTP_STR_MATCH"
    HTTPS_STR_MATCH = "HTTPS_STR_MATCH"
    TCP = "TCP"
    CALCULATED = "CALCULATED"
    CLOUDWATCH_METRIC = "CLOUDWATCH_METRIC"
    RECOVERY_CONTROL = "RECOVERY_CONTROL"

    @property
    def is_endpoint(self) -> bool:
        return self in ENDPOINT_TYPES

    @property
    def uses_tls(self) -> bool:
        return self in (CheckType.HTTPS, CheckType.HTTPS_STR_MATCH)

    @property
    def is_http(self) -> bool:
        return self in (CheckType.HTTP, CheckType.HTTPS, CheckType.HTTP_STR_MATCH, CheckType.HTTPS_STR_MATCH)

    @property
    def matches_string(self) -> bool:
        return self in (CheckType.HTTP_STR_MATCH, CheckType.HTTPS_STR_MATCH)


ENDPOINT_TYPES = frozenset({CheckType.HTTP, CheckType.HTTPS, CheckType.HTTP_STR_MATCH,
                            CheckType.HTTPS_STR_MATCH, CheckType.TCP})
DEFAULT_REQUEST_INTERVAL_S = 30
DEFAULT_FAILURE_THRESHOLD = 3


@dataclass(frozen=True)
class HealthCheckSpec:
    """What one health check is configured to do (``HealthCheckConfig`` plus its id and version)."""

    id: str
    check_type: CheckType
    ip_address: str = ""
    port: int = 0
    resource_path: str = "/"
    fqdn: str = ""
    search_string: str = ""
    request_interval_s: int = DEFAULT_REQUEST_INTERVAL_S
    failure_threshold: int = DEFAULT_FAILURE_THRESHOLD
    inverted: bool = False
    disabled: bool = False
    health_threshold: int = 0
    children: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()  # empty: the environment's checker Regions
    enable_sni: bool = False
    version: int = 1
    alarm_region: str = ""  # CLOUDWATCH_METRIC: the alarm it follows (AlarmIdentifier)
    alarm_name: str = ""
    insufficient_data: str = "LastKnownStatus"  # InsufficientDataHealthStatus: Healthy, Unhealthy, LastKnownStatus

    @property
    def effective_port(self) -> int:
        if self.port:
            return self.port
        return 443 if self.check_type.uses_tls else 80

    @property
    def endpoint(self) -> tuple[str, ...]:
        """Whatever identifies the endpoint: when it changes, earlier results no longer count."""
        return (self.check_type.value, self.ip_address, str(self.effective_port), self.resource_path, self.fqdn,
                self.search_string, str(self.enable_sni), self.alarm_region, self.alarm_name)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "HealthCheckSpec":
        """Parse one element of ``list_health_checks()["HealthChecks"]``. Raises HealthCheckError on a bad Type."""
        config = data.get("HealthCheckConfig") or {}
        ident = str(data.get("Id", ""))
        try:
            check_type = CheckType(str(config.get("Type", "")))
        except ValueError:
            allowed = ", ".join(t.value for t in CheckType)
            raise HealthCheckError(f"health check {ident}: Type {config.get('Type')!r} is not allowed; allowed: {allowed}") from None
        return cls(
            id=ident,
            check_type=check_type,
            ip_address=str(config.get("IPAddress") or ""),
            port=int(config.get("Port") or 0),
            resource_path=str(config.get("ResourcePath") or "/"),
            fqdn=str(config.get("FullyQualifiedDomainName") or ""),
            search_string=str(config.get("SearchString") or ""),
            request_interval_s=int(config.get("RequestInterval") or DEFAULT_REQUEST_INTERVAL_S),
            failure_threshold=int(config.get("FailureThreshold") or DEFAULT_FAILURE_THRESHOLD),
            inverted=bool(config.get("Inverted", False)),
            disabled=bool(config.get("Disabled", False)),
            health_threshold=int(config.get("HealthThreshold") or 0),
            children=tuple(str(c) for c in config.get("ChildHealthChecks") or ()),
            regions=tuple(str(r) for r in config.get("Regions") or ()),
            enable_sni=bool(config.get("EnableSNI", False)),
            version=int(data.get("HealthCheckVersion") or 1),
            alarm_region=str((config.get("AlarmIdentifier") or {}).get("Region") or ""),
            alarm_name=str((config.get("AlarmIdentifier") or {}).get("Name") or ""),
            insufficient_data=str(config.get("InsufficientDataHealthStatus") or "LastKnownStatus"),
        )
