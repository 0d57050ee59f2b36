"""Route 53 rules AWS enforces and moto does not (AWS-SEMANTICS.md, "Route 53 health checks/routing")."""
from __future__ import annotations

from typing import Any, Callable

from stack.local.controlplane import backends
from stack.local.controlplane.awserror import AwsError
from stack.local.part import ApiRequest

HEALTH_CHECK_TYPES = ("HTTP", "HTTPS", "HTTP_STR_MATCH", "HTTPS_STR_MATCH", "TCP", "CALCULATED",
                      "CLOUDWATCH_METRIC", "RECOVERY_CONTROL")
CHECKER_REGIONS = ("us-east-1", "us-west-1", "us-west-2", "eu-west-1", "ap-southeast-1", "ap-southeast-2",
                   "ap-northeast-1", "sa-east-1")


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


def _check_ranges(config: dict[str, Any]) -> None:
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


def change_resource_record_sets(request: ApiRequest, plane: Any) -> None:
    batch = request.params.get("ChangeBatch") or {}
    changes = _as_list((batch.get("Changes") or {}).get("Change"))
    for index, change in enumerate(changes, start=1):
        record = change.get("ResourceRecordSet") or {}
        where = f"changeBatch.changes.{index}.resourceRecordSet"
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
            raise AwsError("InvalidChangeBatch", f"{record.get('Name')}: a record set can have only one routing policy, got {', '.join(policies)}")
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
    models.Route53Backend.update_health_check = update_health_check
