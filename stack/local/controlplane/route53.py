"""Route 53 rules AWS enforces and moto does not (health checks and routing)."""
from __future__ import annotations

import ipaddress
from typing import Any, Callable, Mapping

from stack.local.controlplane import backends
from stack.local.awserror import AwsError
from stack.local.part import ApiRequest

HEALTH_CHECK_TYPES = ("HTTP", "HTTPS", "HTTP_STR_MATCH", "HTTPS_STR_MATCH", "TCP", "CALCULATED",
                      "CLOUDWATCH_METRIC", "RECOVERY_CONTROL")
CHECKER_REGIONS = ("us-east-1", "us-west-1", "us-west-2", "eu-west-1", "ap-southeast-1", "ap-southeast-2",
                   "ap-northeast-1", "sa-east-1")


# Public health checks refuse special-use addresses (botocore's route53 model, HealthCheckConfig.IPAddress:
# RFC 5735 and RFC 6598 for IPv4, RFC 5156 for IPv6). 127.0.0.0/8 stands in for the Internet on the
# local stack (every endpoint lives there), so it is the one special-use range allowed.
_SPECIAL_USE = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
    "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
    "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    "::/128", "::1/128", "::ffff:0:0/96", "fe80::/10", "fc00::/7", "2001:db8::/32", "ff00::/8"))


def _invalid(message: str) -> AwsError:
    return AwsError("InvalidInput", f"Invalid parameter : {message}")


def _int(config: dict[str, Any], key: str) -> int | None:
    value = config.get(key)
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _invalid(f"{key} must be an integer, got {value!r}") from None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _check_endpoint(config: dict[str, Any]) -> None:
    address = config.get("IPAddress")
    if address is not None:
        try:
            ip = ipaddress.ip_address(str(address))
        except ValueError:
            raise _invalid(f"IPAddress {address!r} is not an IPv4 or IPv6 address") from None
        if any(ip in network for network in _SPECIAL_USE):
            raise _invalid(f"IPAddress {address} is in a local, private, non-routable or multicast range "
                           f"(RFC 5735, RFC 6598, RFC 5156); a health check cannot check it")
    port = _int(config, "Port")
    if port is not None and not 1 <= port <= 65535:
        raise _invalid(f"Port must be between 1 and 65535, got {port}")


def _check_ranges(config: dict[str, Any]) -> None:
    _check_endpoint(config)
    threshold = _int(config, "FailureThreshold")
    if threshold is not None and not 1 <= threshold <= 10:
        raise _invalid(f"FailureThreshold must be between 1 and 10, got {threshold}")
    health_threshold = _int(config, "HealthThreshold")
    if health_threshold is not None and not 0 <= health_threshold <= 256:
        raise _invalid(f"HealthThreshold must be between 0 and 256, got {health_threshold}")
    search = config.get("SearchString")
    if search is not None and len(search) > 255:
        raise _invalid(f"SearchString must be at most 255 characters, got {len(search)}")
    regions = _as_list((config.get("Regions") or {}).get("Region") if isinstance(config.get("Regions"), dict) else None)
    if regions:
        bad = [r for r in regions if r not in CHECKER_REGIONS]
        if bad:
            raise _invalid(f"Regions: {bad[0]} is not a health-checker Region; allowed: {', '.join(CHECKER_REGIONS)}")
        if len(set(regions)) < 3:
            raise _invalid(f"Regions must name at least 3 health-checker Regions, got {len(set(regions))}")


def create_health_check(request: ApiRequest, plane: Any) -> None:
    config = request.params.get("HealthCheckConfig") or {}
    kind = config.get("Type")
    if kind not in HEALTH_CHECK_TYPES:
        raise _invalid(f"Type must be one of {', '.join(HEALTH_CHECK_TYPES)}, got {kind!r}")
    interval = _int(config, "RequestInterval")
    if interval is not None and interval not in (10, 30):
        raise _invalid(f"RequestInterval must be 10 or 30, got {interval}")
    _check_ranges(config)
    if kind == "CALCULATED":
        children = _as_list((config.get("ChildHealthChecks") or {}).get("ChildHealthCheck"))
        checks = backends.route53().health_checks
        for child in children:
            if child not in checks:
                raise AwsError("NoSuchHealthCheck", f"No health check exists with the specified ID {child}", 404)
            if checks[child].type_ == "CALCULATED":
                raise _invalid(f"ChildHealthChecks: {child} is a CALCULATED health check; calculated checks cannot be nested")
    elif kind not in ("CLOUDWATCH_METRIC", "RECOVERY_CONTROL"):
        if not config.get("IPAddress") and not config.get("FullyQualifiedDomainName"):
            raise _invalid(f"a {kind} health check needs IPAddress or FullyQualifiedDomainName")
    if kind in ("HTTP_STR_MATCH", "HTTPS_STR_MATCH") and not config.get("SearchString"):
        raise _invalid(f"a {kind} health check needs a SearchString")
    if kind == "CLOUDWATCH_METRIC":
        alarm = config.get("AlarmIdentifier") or {}
        if not alarm.get("Region") or not alarm.get("Name"):
            raise _invalid("a CLOUDWATCH_METRIC health check needs AlarmIdentifier (Region and Name of the alarm)")
    _check_insufficient(config)
    if config.get("AlarmIdentifier") or config.get("InsufficientDataHealthStatus"):
        _PENDING[str(request.params.get("CallerReference"))] = dict(config)


# CreateHealthCheck's alarm settings by CallerReference, until moto's new check first shows its config.
_PENDING: dict[str, dict[str, Any]] = {}


INSUFFICIENT_DATA_STATUSES = ("Healthy", "Unhealthy", "LastKnownStatus")


def _check_insufficient(config: dict[str, Any]) -> None:
    status = config.get("InsufficientDataHealthStatus")
    if status is not None and status not in INSUFFICIENT_DATA_STATUSES:
        raise _invalid(f"InsufficientDataHealthStatus must be one of {', '.join(INSUFFICIENT_DATA_STATUSES)}, got {status!r}")


def _keep_alarm(check: Any, config: Mapping[str, Any]) -> None:
    alarm = config.get("AlarmIdentifier")
    if alarm:
        check.alarm_identification = {"Region": str(alarm.get("Region")), "Name": str(alarm.get("Name"))}
    if config.get("InsufficientDataHealthStatus"):
        check.insufficient_data_health_status = str(config["InsufficientDataHealthStatus"])


def update_health_check(request: ApiRequest, plane: Any) -> None:
    params = dict(request.params)
    for immutable in ("Type", "RequestInterval", "MeasureLatency"):
        if immutable in params:
            raise _invalid(f"{immutable} cannot be changed after a health check is created")
    check = backends.route53().health_checks.get(params.get("HealthCheckId"))
    if check is None:
        raise AwsError("NoSuchHealthCheck", f"No health check exists with the specified ID {params.get('HealthCheckId')}", 404)
    version = _int(params, "HealthCheckVersion")
    if version is not None and version != check.health_check_version:
        raise AwsError("HealthCheckVersionMismatch",
                       f"The value of HealthCheckVersion ({version}) does not match the health check's current version "
                       f"({check.health_check_version}); get the health check again and retry", 409)
    _check_ranges(params)


def _zone_apex(request: ApiRequest) -> str | None:
    zone_id = str(request.params.get("Id", "")).rsplit("/", 1)[-1]
    zone = backends.route53().zones.get(zone_id)
    return str(zone.name).rstrip(".").lower() + "." if zone is not None else None


def _check_values(record: dict[str, Any], apex: str | None) -> None:
    name = str(record.get("Name", "")).rstrip(".").lower() + "."
    kind = record.get("Type")
    if kind == "CNAME" and apex is not None and name == apex:
        raise AwsError("InvalidChangeBatch", f"RRSet of type CNAME with DNS name {name} is not permitted at apex in zone {apex}")
    if record.get("AliasTarget") or kind not in ("A", "AAAA"):
        return
    wanted, problem = (ipaddress.IPv4Address, "ARRDATAIllegalIPv4Address (Value is not a valid IPv4 address)") if kind == "A" \
        else (ipaddress.IPv6Address, "AAAARDATAIllegalIPv6Address (Value is not a valid IPv6 address)")
    for item in _as_list((record.get("ResourceRecords") or {}).get("ResourceRecord")):
        value = item.get("Value") if isinstance(item, dict) else item
        try:
            wanted(str(value))
        except ValueError:
            raise AwsError("InvalidChangeBatch",
                           f"[Invalid Resource Record: 'FATAL problem: {problem} encountered with '{value}'']") from None


def change_resource_record_sets(request: ApiRequest, plane: Any) -> None:
    batch = request.params.get("ChangeBatch")
    changes = _as_list((batch.get("Changes") or {}).get("Change")) if isinstance(batch, dict) else []
    if not changes:
        raise _invalid("ChangeBatch.Changes must contain at least 1 Change, got none")
    apex = _zone_apex(request)
    for index, change in enumerate(changes, start=1):
        if not isinstance(change, dict):
            raise _invalid(f"changeBatch.changes.{index} is not a Change")
        record = change.get("ResourceRecordSet") or {}
        where = f"changeBatch.changes.{index}.resourceRecordSet"
        _check_values(record, apex)
        weight = _int(record, "Weight")
        if weight is not None and not 0 <= weight <= 255:
            raise _invalid(f"{where}.weight must be between 0 and 255, got {weight}")
        ttl = _int(record, "TTL")
        if ttl is not None and not 0 <= ttl <= 2147483647:
            raise _invalid(f"{where}.TTL must be between 0 and 2147483647, got {ttl}")
        failover = record.get("Failover")
        if failover is not None and failover not in ("PRIMARY", "SECONDARY"):
            raise _invalid(f"{where}.failover must be PRIMARY or SECONDARY, got {failover!r}")
        policies = [key for key in ("Weight", "Region", "GeoLocation", "Failover", "MultiValueAnswer") if key in record]
        if len(policies) > 1:
            raise AwsError("InvalidChangeBatch",
                           f"{record.get('Name')}: a record set can have only one routing policy, got {', '.join(policies)}")
        if policies and not record.get("SetIdentifier"):
            raise AwsError("InvalidChangeBatch", f"{record.get('Name')}: a {policies[0]} record set needs a SetIdentifier")
        if record.get("MultiValueAnswer") in ("true", True) and record.get("AliasTarget"):
            raise AwsError("InvalidChangeBatch", f"{record.get('Name')}: multivalue answer record sets cannot be alias records")
        geo = record.get("GeoLocation")
        if isinstance(geo, dict) and geo.get("SubdivisionCode") and geo.get("CountryCode") != "US":
            raise AwsError("InvalidChangeBatch", f"{record.get('Name')}: a GeoLocation SubdivisionCode needs CountryCode US")


VALIDATE: dict[str, Callable[[ApiRequest, Any], None]] = {
    "CreateHealthCheck": create_health_check,
    "UpdateHealthCheck": update_health_check,
    "ChangeResourceRecordSets": change_resource_record_sets,
}
AFTER: dict[str, Callable[[ApiRequest, Any], None]] = {}


def fix_cloudwatch_health_checks() -> None:
    """Show a CLOUDWATCH_METRIC check's AlarmIdentifier and InsufficientDataHealthStatus in its
    HealthCheckConfig, as Route 53 does; moto drops both. CreateHealthCheck's are kept by CallerReference
    (``_PENDING``) and set on moto's check the first time its config is read (its own answer)."""
    from moto.route53 import models

    original: Any = models.HealthCheck.health_check_config
    if getattr(original.fget, "_gameday_fixed", False):
        return

    def health_check_config(self: Any) -> dict[str, Any]:
        pending = _PENDING.pop(str(self.caller_reference), None)
        if pending is not None:
            _keep_alarm(self, pending)
        config: dict[str, Any] = original.fget(self)
        if getattr(self, "alarm_identification", None):
            config["AlarmIdentifier"] = self.alarm_identification
        if getattr(self, "insufficient_data_health_status", None):
            config["InsufficientDataHealthStatus"] = self.insufficient_data_health_status
        return config

    health_check_config._gameday_fixed = True  # type: ignore[attr-defined]
    models.HealthCheck.health_check_config = property(health_check_config)  # type: ignore[method-assign,assignment]


def fix_apex_soa() -> None:
    """Store the apex SOA's value as text, as every other record is.

    moto keeps it as ``{"Value": ...}``, so ListResourceRecordSets returned the dict's repr
    (``{'Value': 'ns-2048...'}``) as the SOA value.
    """
    from moto.route53 import models

    original = models.Route53Backend.create_hosted_zone
    if getattr(original, "_gameday_fixed", False):
        return

    def create_hosted_zone(self: Any, *args: Any, **kwargs: Any) -> Any:
        zone = original(self, *args, **kwargs)
        for rrset in zone.rrsets:
            if rrset.type == "SOA":
                rrset.records = [r["Value"] if isinstance(r, dict) else r for r in rrset.records]
        return zone

    create_hosted_zone._gameday_fixed = True  # type: ignore[attr-defined]
    models.Route53Backend.create_hosted_zone = create_hosted_zone  # type: ignore[method-assign]  # fixing moto in place


def fix_update_health_check() -> None:
    """Make moto's UpdateHealthCheck behave as AWS's does in two ways.

    - AWS increments HealthCheckVersion on every update (and returns the new one); moto leaves it
      at 1, which would defeat the optimistic concurrency faults rely on.
    - AWS keeps the checker Regions unless ResetElements lists them; moto resets them whenever the
      request does not name them, silently moving an inverted check to every checker Region.
    """
    from moto.route53 import models

    original = models.Route53Backend.update_health_check
    if getattr(original, "_gameday_fixed", False):
        return

    def update_health_check(self: Any, health_check_id: str, health_check_args: dict[str, Any]) -> Any:
        check = self.health_checks.get(health_check_id)
        regions = check.regions if check is not None else None
        updated = original(self, health_check_id, health_check_args)
        if not health_check_args.get("regions") and regions:
            updated.set_regions(regions)
        updated.health_check_version += 1
        return updated

    update_health_check._gameday_fixed = True  # type: ignore[attr-defined]
    models.Route53Backend.update_health_check = update_health_check  # type: ignore[method-assign]  # fixing moto in place
