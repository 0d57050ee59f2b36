"""``MotoRdsStore``: moto's RDS store lent to the RDS data plane (the ``RdsStore`` service).

The RDS part answers some RDS operations itself (stack.local.rds.api). moto stays the store of every
instance's configuration (identifier, class, engine, subnet group, tags...): the part calls moto's
own backend for the bookkeeping through this store, so moto-answered calls (ModifyDBInstance, tags,
snapshots) stay consistent. What only a data plane knows (status, AZs after a failover,
LatestRestorableTime, replication status) is laid over moto's model when the part serialises a
response, with moto's own serializer, so the XML is exactly what botocore expects.

The control plane is the emulator, so moto is read here and nowhere in a part; every moto error
becomes the AwsError AWS would return.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, MutableMapping
from functools import cache
from typing import Any, TypeVar

from moto.core.exceptions import ServiceException
from moto.core.parse import QueryParser, XFormedDict
from moto.core.serialize import QuerySerializer, XFormedAttributePicker
from moto.core.utils import get_service_model

from stack.local.awserror import AwsError
from stack.local.controlplane import backends
from stack.local.part import ApiResponse

T = TypeVar("T")


@cache
def _service_model() -> Any:
    # moto's own model classes: its parser and serializer need attributes botocore's lack.
    return get_service_model("rds")


class MotoRdsStore:
    """stack.local.services.RdsStore over moto's in-process RDS and EC2 backends."""

    def parse(self, operation: str, params: Mapping[str, Any]) -> MutableMapping[str, Any]:
        parser = QueryParser(_service_model().operation_model(operation), map_type=XFormedDict)
        # moto's request dict is typed with werkzeug's MultiDict and Headers; its query parser reads plain mappings.
        request: Any = {"values": dict(params), "method": "POST", "headers": {}, "body": b"", "url_path": "/",
                        "url_params": {}}
        parsed = parser.parse(request)
        return parsed if isinstance(parsed, XFormedDict) else XFormedDict(parsed)

    def respond(self, operation: str, result: Mapping[str, Any]) -> ApiResponse:
        serializer = QuerySerializer(_service_model().operation_model(operation), value_picker=XFormedAttributePicker())
        serialized = serializer.serialize(dict(result))
        body = serialized["body"]
        return ApiResponse(int(serialized["status_code"]), body if isinstance(body, bytes) else str(body).encode(),
                           {k: str(v) for k, v in serialized["headers"].items()} | {"Content-Type": "text/xml"})

    def shown(self, model: Any, overrides: Mapping[str, Any]) -> Any:
        return Shown(model, overrides)

    def create(self, region: str, params: Mapping[str, Any]) -> Any:
        return _moto(lambda: backends.rds(region).create_db_instance(params))

    def create_read_replica(self, region: str, params: Mapping[str, Any]) -> Any:
        return _moto(lambda: backends.rds(region).create_db_instance_read_replica(params))

    def describe(self, region: str, identifier: str | None = None,
                 filters: Mapping[str, list[str]] | None = None) -> list[Any]:
        return list(_moto(lambda: backends.rds(region).describe_db_instances(identifier, filters=filters)))

    def promote_read_replica(self, region: str, params: Mapping[str, Any]) -> Any:
        return _moto(lambda: backends.rds(region).promote_read_replica(params))

    def restore_to_point_in_time(self, region: str, source: str, target: str, params: Mapping[str, Any]) -> Any:
        return _moto(lambda: backends.rds(region).restore_db_instance_to_point_in_time(source, target, params))

    def model(self, region: str, identifier: str) -> Any | None:
        return backends.rds(region).databases.get(identifier)

    def update(self, region: str, identifier: str, **fields: Any) -> None:
        model = self.model(region, identifier)
        if model is None:
            return
        for name, value in fields.items():
            setattr(model, name, value)  # some (secondary_availability_zone) moto's model lacks until set

    def events(self, region: str) -> list[Any]:
        return list(backends.rds(region).events)

    def subnet_group_zones(self, region: str, name: str) -> dict[str, str]:
        groups = _moto(lambda: backends.rds(region).describe_db_subnet_groups(name))
        found: dict[str, str] = {}
        for subnet in groups[0]._subnets:
            found.setdefault(subnet.availability_zone, subnet.cidr_block)
        return found

    def taken_addresses(self, region: str, cidr: str) -> set[str] | None:
        subnet = self._subnet(region, lambda s: s.cidr_block == cidr)
        return set(subnet._subnet_ips) if subnet is not None else None

    def reserve_address(self, region: str, cidr: str, address: str) -> None:
        subnet = self._subnet(region, lambda s: s.cidr_block == cidr)
        if subnet is not None:
            try:
                subnet.request_ip(address, "rds")
            except Exception:  # noqa: BLE001 - taken meanwhile: the part's own book still holds it
                pass

    def release_address(self, region: str, address: str) -> None:
        subnet = self._subnet(region, lambda s: ipaddress.IPv4Address(address) in s.cidr)
        if subnet is not None:
            try:
                subnet.del_subnet_ip(address)
            except Exception:  # noqa: BLE001 - not reserved there (any more)
                pass

    @staticmethod
    def _subnet(region: str, match: Callable[[Any], bool]) -> Any | None:
        try:
            subnets = backends.ec2(region).get_all_subnets()
        except Exception:  # noqa: BLE001 - no EC2 backend for the Region: no subnet to consult
            return None
        return next((s for s in subnets if match(s)), None)


def _moto(call: Callable[[], T]) -> T:
    try:
        return call()
    except ServiceException as error:
        raise aws_error(error) from None


def aws_error(error: ServiceException) -> AwsError:
    """moto's exception as the control plane's AwsError (same code, message, and the model's HTTP status)."""
    code = str(getattr(error, "code", "InvalidParameterValue"))
    return AwsError(code, str(getattr(error, "message", error)), _http_status(code))


@cache
def _http_status(code: str) -> int:
    model = _service_model()
    for name in model.shape_names:
        error = model.shape_for(name).metadata.get("error")
        if error and error.get("code") == code:
            return int(error.get("httpStatusCode", 400))
    return 400


class Shown:
    """A moto DBInstance with the data plane's live fields laid over it, for serialisation only."""

    def __init__(self, model: Any, overrides: Mapping[str, Any]) -> None:
        self._model = model
        self._overrides = dict(overrides)

    def __getattr__(self, name: str) -> Any:
        overrides = self.__dict__["_overrides"]
        if name in overrides:
            return overrides[name]
        return getattr(self.__dict__["_model"], name)
