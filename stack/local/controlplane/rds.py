"""RDS rules AWS enforces and moto does not (AWS-SEMANTICS.md, "RDS")."""
from __future__ import annotations

from typing import Any, Callable

from stack.local.controlplane import backends
from stack.local.controlplane.awserror import AwsError
from stack.local.part import ApiRequest


def _instance(request: ApiRequest) -> Any:
    identifier = request.params.get("DBInstanceIdentifier")
    database = backends.rds(request.region).databases.get(identifier)
    if database is None:
        raise AwsError("DBInstanceNotFound", f"DBInstance {identifier} not found.", 404)
    return database


def db_status(plane: Any, request: ApiRequest, database: Any) -> str:
    """The instance's real status: the RDS data plane knows it once it exists, moto otherwise."""
    rds_part = plane.parts.get("rds") if plane is not None else None
    if rds_part is not None and hasattr(rds_part, "status_of"):
        status = rds_part.status_of(database.db_instance_identifier, request.region)
        if status:
            return str(status)
    return str(database.status)


def reboot_db_instance(request: ApiRequest, plane: Any) -> None:
    database = _instance(request)
    force = str(request.params.get("ForceFailover", "false")).lower() == "true"
    status = db_status(plane, request, database)
    if status != "available":
        raise AwsError("InvalidDBInstanceState",
                       f"DB instance {database.db_instance_identifier} is in state {status!r}; it must be 'available' to reboot")
    if force and not database.multi_az:
        raise AwsError("InvalidParameterCombination",
                       f"Cannot force a failover for DB instance {database.db_instance_identifier}: it is not a Multi-AZ instance")


def create_db_instance(request: ApiRequest, plane: Any) -> None:
    identifier = request.params.get("DBInstanceIdentifier", "")
    if identifier in backends.rds(request.region).databases:
        raise AwsError("DBInstanceAlreadyExists", f"DB instance already exists: {identifier}")
    retention = request.params.get("BackupRetentionPeriod")
    if retention is not None and not (str(retention).isdigit() and 0 <= int(retention) <= 35):
        raise AwsError("InvalidParameterValue", f"BackupRetentionPeriod must be between 0 and 35, got {retention}")


VALIDATE: dict[str, Callable[[ApiRequest, Any], None]] = {
    "RebootDBInstance": reboot_db_instance,
    "CreateDBInstance": create_db_instance,
}
AFTER: dict[str, Callable[[ApiRequest, Any], None]] = {}
